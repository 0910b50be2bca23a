/* The byte-stream connection of a proxy disk (a socket or a tty), layer 1 of
 * the client (proxy_internal.h).
 *
 * Sockets block with SO_RCVTIMEO: one system call per receive, and a READ
 * reply's header and data come in one.  Sends on a socket are MSG_DONTWAIT with
 * a poll() when the buffers are full (common/stream_io.h), so a closed peer
 * gives -EPIPE and never SIGPIPE.  Other streams (a tty) are non-blocking with
 * a poll() per wait.  Every wait ends by a deadline of the request's timeout
 * (common/deadline.h, which rounds a wait up, never down). */
#include "backend/proxy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/deadline.h"
#include "common/fdio.h"
#include "common/trace.h"

/* A whole largest request (and its reply) fits in the socket buffers. */
#define PROXY_SOCKET_BUFFER (4 << 20)

static int socket_set_timeout(struct proxy_conn *conn, int timeout_ms)
{
	struct timeval tv;

	if (timeout_ms < 1)
		timeout_ms = 1; /* 0 would mean "wait for ever" */
	if (conn->recv_timeout_ms == timeout_ms)
		return 0;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	if (setsockopt(conn->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	conn->recv_timeout_ms = timeout_ms;
	return 0;
}

/* One receive into iov: the count, -ETIMEDOUT after timeout_ms of silence,
 * -EPIPE when the server closed the stream. */
static ssize_t recv_some(struct proxy_conn *conn, struct iovec *iov, int iovcnt, int timeout_ms)
{
	for (;;) {
		ssize_t n;

		if (conn->is_socket) {
			struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
			int r = socket_set_timeout(conn, timeout_ms);
			if (r < 0)
				return r;
			n = recvmsg(conn->fd, &msg, 0);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return -ETIMEDOUT;
		} else {
			n = readv(conn->fd, iov, iovcnt);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				/* Each wait gets the whole timeout: silence, not slowness, fails. */
				struct timespec deadline = deadline_after_ms((unsigned int)(timeout_ms > 0 ? timeout_ms : 0));
				struct pollfd pfd = { .fd = conn->fd, .events = POLLIN };
				int r = deadline_poll(&pfd, 1, &deadline);
				if (r < 0)
					return r;
				continue; /* ready, or POLLHUP/POLLERR: readv says which */
			}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		return n == 0 ? -EPIPE : n;
	}
}

static int stream_recv_data(struct proxy_conn *conn, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;

	while (len) {
		struct iovec iov = { .iov_base = p, .iov_len = len };
		ssize_t n = recv_some(conn, &iov, 1, timeout_ms);

		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* On a socket a whole small reply is one system call. */
static int stream_recv_reply(struct proxy_conn *conn, void *header_buf, size_t header_len, void *data,
			     size_t cap, size_t *data_got, int timeout_ms)
{
	uint8_t *header = header_buf;
	size_t got = 0;

	*data_got = 0;
	while (got < header_len) {
		struct iovec iov[2] = {
			{ .iov_base = header + got, .iov_len = header_len - got },
			{ .iov_base = data, .iov_len = cap },
		};
		ssize_t n = recv_some(conn, iov, cap ? 2 : 1, timeout_ms);

		if (n < 0)
			return (int)n;
		if ((size_t)n > header_len - got) {
			*data_got = (size_t)n - (header_len - got);
			got = header_len;
		} else {
			got += (size_t)n;
		}
	}
	return 0;
}

/* The whole send ends by one deadline of timeout_ms.  A request fits the socket
 * buffers, so it waits at all only on a server that stopped reading. */
static int stream_send(struct proxy_conn *conn, const void *header, size_t header_len, const void *data,
		       size_t data_len, int timeout_ms)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)header, .iov_len = header_len },
		{ .iov_base = (void *)data, .iov_len = data_len },
	};
	struct timespec deadline = deadline_after_ms((unsigned int)(timeout_ms > 0 ? timeout_ms : 0));

	return stream_write_all(conn->fd, iov, data_len ? 2 : 1, &deadline);
}

/* An idle stream whose server went away shows a hang-up (or bytes nobody asked for). */
static bool stream_looks_dead(const struct proxy_conn *conn)
{
	struct pollfd pfd = { .fd = conn->fd, .events = POLLIN | POLLRDHUP };

	return poll(&pfd, 1, 0) > 0;
}

static void stream_close(struct proxy_conn *conn)
{
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
}

/* Sockets blocking (waits bound by SO_RCVTIMEO, sends by MSG_DONTWAIT and
 * poll), other streams non-blocking; no Nagle delay on TCP. */
int proxy_stream_adopt(struct proxy_conn *conn, int fd)
{
	struct stat st;
	int flags = fcntl(fd, F_GETFL);
	int one = 1;

	if (flags < 0 || fstat(fd, &st) < 0)
		return -errno;
	conn->ops = &proxy_stream_ops;
	conn->max_transfer = SIZE_MAX;
	conn->is_socket = S_ISSOCK(st.st_mode);
	conn->recv_timeout_ms = 0;
	if (conn->is_socket)
		flags &= ~O_NONBLOCK;
	else
		flags |= O_NONBLOCK;
	if (fcntl(fd, F_SETFL, flags) < 0)
		return -errno;
	conn->fd = fd;
	if (conn->is_socket) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails on unix: fine */
		socket_enlarge_buffers(fd, PROXY_SOCKET_BUFFER);
	}
	return 0;
}

struct connect_job {
	struct proxy_link *link;
	int timeout_ms;
};

static int connect_job_run(void *arg)
{
	struct connect_job *job = arg;

	return job->link->connect(job->link->connect_opaque, job->timeout_ms);
}

/* The callback, with the creator's rights (in a thread of its own). */
static int stream_open(struct proxy_link *link, struct proxy_conn *conn, int timeout_ms)
{
	struct connect_job job = { .link = link, .timeout_ms = timeout_ms };
	int fd, r;

	conn->fd = -1;
	if (!link->connect)
		return -ENOTCONN; /* a descriptor handed over: nowhere to get another */
	fd = caller_identity_run(proxy_link_identity(link), connect_job_run, &job);
	if (fd < 0) {
		trace(TRACE_PROXY, "connect as uid %d within %d ms failed: %d (%s)",
		      link->has_identity ? (int)link->identity.uid : -1, timeout_ms, fd,
		      fd == -EADDRNOTAVAIL ? "another peer than the creator's" : strerror(-fd));
		return fd;
	}
	r = proxy_stream_adopt(conn, fd);
	if (r < 0) {
		close(fd);
		conn->fd = -1;
	}
	return r;
}

int proxy_stream_reader(struct proxy_conn *conn, struct stream_reader *reader, uint8_t *buf, size_t size,
			int tick_ms)
{
	if (conn->is_socket) {
		int r = socket_set_timeout(conn, tick_ms);
		if (r < 0)
			return r;
	}
	stream_reader_init(reader, conn->fd, buf, size);
	return 0;
}

const struct proxy_conn_ops proxy_stream_ops = {
	.name = "stream",
	.open = stream_open,
	.send = stream_send,
	.recv_reply = stream_recv_reply,
	.recv_data = stream_recv_data,
	.looks_dead = stream_looks_dead,
	.close = stream_close,
};
