/* Bounded connects and name resolution: see stream_connect.h. */
#include "common/stream_connect.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/deadline.h"
#include "imdisk.h"

int stream_peer_of(int fd, struct stream_peer *peer)
{
	peer->len = sizeof(peer->address);
	memset(&peer->address, 0, sizeof(peer->address));
	if (getpeername(fd, (struct sockaddr *)&peer->address, &peer->len) < 0) {
		peer->len = 0;
		return -errno;
	}
	return 0;
}

/* The same endpoint: family, address and port (unix: the path). */
static bool same_peer(const struct stream_peer *a, const struct stream_peer *b)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->address;
	const struct sockaddr *sb = (const struct sockaddr *)&b->address;

	if (sa->sa_family != sb->sa_family)
		return false;
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *x = (const void *)sa, *y = (const void *)sb;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *x = (const void *)sa, *y = (const void *)sb;
		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	default:
		return a->len == b->len && memcmp(&a->address, &b->address, a->len) == 0;
	}
}

static int set_blocking(int fd, bool blocking)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return -errno;
	flags = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK;
	return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

/* A unix listener whose backlog is full makes a non-blocking connect fail with
 * EAGAIN at once (there is nothing to poll for): wait for room in a blocking
 * connect bounded by SO_SNDTIMEO, which the kernel applies to exactly that wait. */
static int connect_unix_wait_for_room(int fd, const struct sockaddr *addr, socklen_t len,
				      const struct timespec *deadline)
{
	struct timeval none = { 0 };
	int r = set_blocking(fd, true);

	while (r == 0) {
		int ms = deadline_remaining_ms(deadline);
		struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

		if (ms == 0) {
			r = -ETIMEDOUT;
			break;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
			r = -errno;
			break;
		}
		if (connect(fd, addr, len) == 0)
			break;
		if (errno == EINTR)
			continue;
		r = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
	return r;
}

/* One connect to addr until the deadline; the socket comes back blocking, and
 * is refused (-EADDRNOTAVAIL) when pinned to another peer. */
static int connect_one(int family, int protocol, const struct sockaddr *addr, socklen_t len,
		       const struct timespec *deadline, const struct stream_peer *pinned)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, addr, len) < 0) {
		if (errno == EINPROGRESS) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int err = 0;
			socklen_t err_len = sizeof(err);

			r = deadline_poll(&pfd, 1, deadline);
			if (r > 0)
				r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0 ? -errno : -err;
		} else if (errno == EAGAIN && family == AF_UNIX) {
			r = connect_unix_wait_for_room(fd, addr, len, deadline);
		} else {
			r = -errno;
		}
	}
	if (r == 0)
		r = set_blocking(fd, true);
	if (r == 0 && pinned && pinned->len) {
		struct stream_peer peer;

		r = stream_peer_of(fd, &peer);
		if (r == 0 && !same_peer(&peer, pinned))
			r = -EADDRNOTAVAIL;
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int stream_connect_unix_within(const char *path, int timeout_ms, const struct stream_peer *pinned)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	struct timespec deadline = deadline_after_ms(timeout_ms > 0 ? (unsigned)timeout_ms : 1);

	if (strlen(path) >= sizeof(address.sun_path))
		return -ENAMETOOLONG;
	strcpy(address.sun_path, path);
	return connect_one(AF_UNIX, 0, (struct sockaddr *)&address, sizeof(address), &deadline, pinned);
}

int stream_connect_unix(const char *path)
{
	return stream_connect_unix_within(path, STREAM_CONNECT_DEFAULT_TIMEOUT_MS, NULL);
}

/* Name resolution with a deadline.  getaddrinfo cannot be interrupted, so it
 * runs in a detached thread of its own; the caller waits for it until the
 * deadline and, when time runs out, leaves it to finish and free the job
 * alone (the last of the two references frees it). */
struct resolve_job {
	pthread_mutex_t lock;
	pthread_cond_t finished;
	int refs;
	bool done;
	int status; /* getaddrinfo's */
	struct addrinfo *found;
	char host[256];
	char port[64];
};

static void job_put(struct resolve_job *job)
{
	int left;

	pthread_mutex_lock(&job->lock);
	left = --job->refs;
	pthread_mutex_unlock(&job->lock);
	if (left)
		return;
	if (job->found)
		freeaddrinfo(job->found);
	pthread_cond_destroy(&job->finished);
	pthread_mutex_destroy(&job->lock);
	free(job);
}

static void *resolve_thread(void *arg)
{
	struct resolve_job *job = arg;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
	struct addrinfo *found = NULL;
	int status = getaddrinfo(job->host, job->port, &hints, &found);

	pthread_mutex_lock(&job->lock);
	job->status = status;
	job->found = status == 0 ? found : NULL;
	job->done = true;
	pthread_cond_signal(&job->finished);
	pthread_mutex_unlock(&job->lock);
	job_put(job);
	return NULL;
}

static int resolve(const char *host, const char *port, const struct timespec *deadline, struct addrinfo **out)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	};
	struct resolve_job *job;
	pthread_condattr_t attr;
	pthread_attr_t thread_attr;
	pthread_t thread;
	int status, r;

	/* A numeric address needs no resolver (and no thread). */
	status = getaddrinfo(host, port, &hints, out);
	if (status == 0)
		return 0;
	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	snprintf(job->host, sizeof(job->host), "%s", host);
	snprintf(job->port, sizeof(job->port), "%s", port);
	job->refs = 2;
	pthread_mutex_init(&job->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&job->finished, &attr);
	pthread_condattr_destroy(&attr);
	pthread_attr_init(&thread_attr);
	pthread_attr_setdetachstate(&thread_attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&thread, &thread_attr, resolve_thread, job);
	pthread_attr_destroy(&thread_attr);
	if (r < 0) {
		job->refs = 1;
		job_put(job);
		return r;
	}
	pthread_mutex_lock(&job->lock);
	while (!job->done && r == 0)
		r = -pthread_cond_timedwait(&job->finished, &job->lock, deadline);
	if (job->done) {
		r = job->status == 0 ? 0 : -EHOSTUNREACH;
		*out = job->found;
		job->found = NULL;
	} else {
		r = -ETIMEDOUT; /* the thread finishes alone */
	}
	pthread_mutex_unlock(&job->lock);
	job_put(job);
	return r;
}

/* "host", "host:port", "[v6]:port", "v6" (more than one colon, no brackets). */
static int split_host_port(const char *target, char *host, size_t size, const char **port)
{
	const char *colon;

	*port = STREAM_DEFAULT_TCP_PORT;
	if (target[0] == '[') {
		const char *close_bracket = strchr(target, ']');

		if (!close_bracket || (close_bracket[1] && close_bracket[1] != ':') ||
		    (size_t)(close_bracket - target) > size)
			return -EINVAL;
		snprintf(host, size, "%.*s", (int)(close_bracket - target - 1), target + 1);
		if (close_bracket[1] == ':')
			*port = close_bracket + 2;
		return 0;
	}
	colon = strchr(target, ':');
	if (colon && !strchr(colon + 1, ':')) {
		if ((size_t)(colon - target) >= size)
			return -EINVAL;
		snprintf(host, size, "%.*s", (int)(colon - target), target);
		*port = colon + 1;
		return 0;
	}
	if (strlen(target) >= size)
		return -EINVAL;
	snprintf(host, size, "%s", target);
	return 0;
}

int stream_connect_tcp_within(const char *target, int timeout_ms, const struct stream_peer *pinned)
{
	struct timespec deadline = deadline_after_ms(timeout_ms > 0 ? (unsigned)timeout_ms : 1);
	struct addrinfo *found, *ai;
	char host[256];
	const char *port;
	int fd = -1, r, one = 1;

	if (split_host_port(target, host, sizeof(host), &port) < 0 || !*host || !*port)
		return -EINVAL;
	r = resolve(host, port, &deadline, &found);
	if (r < 0)
		return r;
	r = -EHOSTUNREACH;
	for (ai = found; ai; ai = ai->ai_next) {
		fd = connect_one(ai->ai_family, ai->ai_protocol, ai->ai_addr, ai->ai_addrlen, &deadline, pinned);
		if (fd >= 0)
			break;
		/* A peer reached but not the pinned one is the news to keep. */
		if (r != -EADDRNOTAVAIL)
			r = fd;
		if (deadline_passed(&deadline))
			break;
	}
	freeaddrinfo(found);
	if (fd < 0)
		return r;
	/* IMDPROXY is request/reply: small headers must not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int stream_connect_tcp(const char *target)
{
	return stream_connect_tcp_within(target, STREAM_CONNECT_DEFAULT_TIMEOUT_MS, NULL);
}
