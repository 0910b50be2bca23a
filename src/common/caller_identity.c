#include "common/caller_identity.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The 32-bit id variants where the plain numbers are the old 16-bit calls. */
#ifdef SYS_setresuid32
#define SYS_SETRESUID SYS_setresuid32
#define SYS_SETRESGID SYS_setresgid32
#define SYS_SETGROUPS SYS_setgroups32
#else
#define SYS_SETRESUID SYS_setresuid
#define SYS_SETRESGID SYS_setresgid
#define SYS_SETGROUPS SYS_setgroups
#endif

/* A first guess at the number of groups; SO_PEERGROUPS says how many if more. */
#define GROUPS_GUESS 32

int caller_identity_from_socket(int sock, struct caller_identity *out)
{
	struct ucred cred;
	socklen_t size = sizeof(cred);
	gid_t *groups = NULL;
	size_t count = GROUPS_GUESS;

	memset(out, 0, sizeof(*out));
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &size) < 0)
		return -errno;
	for (;;) {
		gid_t *bigger = realloc(groups, count * sizeof(*groups));

		if (!bigger) {
			free(groups);
			return -ENOMEM;
		}
		groups = bigger;
		size = (socklen_t)(count * sizeof(*groups));
		if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, groups, &size) == 0) {
			count = size / sizeof(*groups);
			break;
		}
		if (errno != ERANGE) {
			int r = -errno;
			free(groups);
			return r;
		}
		/* size now says what is needed. */
		count = size / sizeof(*groups) + 1;
	}
	out->pid = cred.pid;
	out->uid = cred.uid;
	out->gid = cred.gid;
	out->group_count = count;
	out->groups = groups;
	if (count == 0) {
		free(groups);
		out->groups = NULL;
	}
	return 0;
}

int caller_identity_copy(struct caller_identity *out, const struct caller_identity *from)
{
	*out = *from;
	out->groups = NULL;
	if (from->group_count) {
		out->groups = malloc(from->group_count * sizeof(*out->groups));
		if (!out->groups)
			return -ENOMEM;
		memcpy(out->groups, from->groups, from->group_count * sizeof(*out->groups));
	}
	return 0;
}

void caller_identity_release(struct caller_identity *identity)
{
	free(identity->groups);
	identity->groups = NULL;
	identity->group_count = 0;
}

struct run_job {
	const struct caller_identity *identity;
	int (*fn)(void *arg);
	void *arg;
	int result;
};

/* Raw system calls: they change this thread's credentials only (see the header). */
static int drop_to(const struct caller_identity *id)
{
	if (geteuid() != 0)
		return id->uid == geteuid() ? 0 : -EPERM; /* nothing to drop, nothing to gain */
	if (syscall(SYS_SETGROUPS, id->group_count, id->groups) < 0 ||
	    syscall(SYS_SETRESGID, id->gid, id->gid, id->gid) < 0 ||
	    syscall(SYS_SETRESUID, id->uid, id->uid, id->uid) < 0)
		return -errno;
	return 0;
}

static void *run_thread(void *arg)
{
	struct run_job *job = arg;

	job->result = drop_to(job->identity);
	if (job->result == 0)
		job->result = job->fn(job->arg);
	return NULL; /* the thread, and its credentials, end here */
}

int caller_identity_run(const struct caller_identity *identity, int (*fn)(void *arg), void *arg)
{
	struct run_job job = { .identity = identity, .fn = fn, .arg = arg };
	pthread_t thread;
	int r;

	if (!identity)
		return fn(arg);
	r = pthread_create(&thread, NULL, run_thread, &job);
	if (r != 0)
		return -r;
	pthread_join(thread, NULL);
	return job.result;
}
