/* Unit tests for src/common/caller_identity.c: the peer's identity with its
 * groups, and running a function with exactly that identity in a thread of its
 * own, which leaves every other thread's rights as they were. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/caller_identity.h"

static void test_from_socket(void **state)
{
	struct caller_identity id, copy;
	gid_t groups[256];
	int fds[2], n = getgroups(256, groups);

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	assert_int_equal(caller_identity_from_socket(fds[0], &id), 0);
	assert_int_equal(id.uid, geteuid());
	assert_int_equal(id.gid, getegid());
	assert_int_equal(id.pid, getpid());
	assert_int_equal(id.group_count, (size_t)n);
	assert_int_equal(caller_identity_copy(&copy, &id), 0);
	assert_int_equal(copy.group_count, id.group_count);
	if (n)
		assert_memory_equal(copy.groups, id.groups, (size_t)n * sizeof(gid_t));
	caller_identity_release(&copy);
	caller_identity_release(&id);
	close(fds[0]);
	close(fds[1]);
}

struct seen {
	pthread_t thread;
	uid_t ruid, euid, suid;
	gid_t egid;
	int groups;
	gid_t group;
};

static int look(void *arg)
{
	struct seen *seen = arg;
	gid_t g[8];

	seen->thread = pthread_self();
	getresuid(&seen->ruid, &seen->euid, &seen->suid);
	seen->egid = getegid();
	seen->groups = getgroups(8, g);
	seen->group = seen->groups > 0 ? g[0] : (gid_t)-1;
	return 42;
}

static void test_run_without_identity(void **state)
{
	struct seen seen;

	(void)state;
	assert_int_equal(caller_identity_run(NULL, look, &seen), 42);
	assert_true(pthread_equal(seen.thread, pthread_self()));
}

static void test_run_as_other_user(void **state)
{
	gid_t nobody_group = 65534;
	struct caller_identity nobody = { .uid = 65534, .gid = 65534, .group_count = 1, .groups = &nobody_group };
	struct seen seen;

	(void)state;
	if (geteuid() != 0) {
		assert_int_equal(caller_identity_run(&nobody, look, &seen), -EPERM);
		skip();
	}
	assert_int_equal(caller_identity_run(&nobody, look, &seen), 42);
	assert_false(pthread_equal(seen.thread, pthread_self()));
	assert_int_equal(seen.ruid, 65534);
	assert_int_equal(seen.euid, 65534);
	assert_int_equal(seen.suid, 65534);
	assert_int_equal(seen.egid, 65534);
	assert_int_equal(seen.groups, 1);
	assert_int_equal(seen.group, 65534);
	/* This thread (and so the process) kept its rights. */
	assert_int_equal(geteuid(), 0);
	assert_int_equal(getegid(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_socket),
		cmocka_unit_test(test_run_without_identity),
		cmocka_unit_test(test_run_as_other_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
