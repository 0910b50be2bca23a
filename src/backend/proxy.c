/* IMDPROXY client: a disk whose bytes live in a server (devio) at the other end of
 * a stream or of a shared-memory section.
 *
 * Requests go out over a pool of connections: with a connect callback and a server
 * that takes more than one client, up to max_connections requests run at once;
 * otherwise one connection serves them in turn.  Every wait is bounded by
 * timeout_ms, so a silent server costs at most that much per request instead of
 * hanging the disk: sockets block with SO_RCVTIMEO (one system call per receive,
 * and a READ reply's header and data come in one), other streams (a tty) are
 * non-blocking with a poll() per wait.
 *
 * Three outcomes of an exchange: done (maybe with a server-side error, the stream
 * still in step), broken (the stream failed: closed, reset, silent) and corrupt
 * (the server broke the protocol).  Broken requests are retried on a fresh
 * connection while the reconnect window lasts (timeout_ms from the first failure,
 * reset by the next success); corrupt ones fail at once, as they do in ImDisk
 * ("a fatal device error").
 *
 * Two transports under one request layer: a byte stream (send, receive), and
 * shared memory (request header at 0, data at 4096, a semaphore each way; see
 * docs/imdproxy-shm.md), where "receive" is a copy out of the section.
 */
#include "backend/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/endian.h"
#include "common/fdio.h"
#include "common/trace.h"
#include "backend/proxy_internal.h"
#include "protocol/imdproxy.h"

#define PROXY_DEFAULT_CONNECTIONS 4u
#define PROXY_DEFAULT_TIMEOUT_MS 30000u
#define PROXY_DEFAULT_TRANSFER (1u << 20)
/* A whole largest request (and its reply) fits in the socket buffers. */
#define PROXY_SOCKET_BUFFER (4 << 20)
/* ImDisk refuses smaller proxy disks. */
#define PROXY_MIN_SIZE 65536u
/* After a failed attempt to add a connection, the pool stays as it is this long. */
#define PROXY_GROW_RETRY_MS 1000
#define PROXY_BACKOFF_MIN_MS 20u
#define PROXY_BACKOFF_MAX_MS 500u

static const struct vdisk_ops proxy_ops;

static struct proxy_disk *to_proxy(struct vdisk *disk)
{
	return (struct proxy_disk *)disk;
}

struct timespec proxy_deadline_after(int ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Milliseconds left until t (0 when past). */
int proxy_ms_until(const struct timespec *t)
{
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return 0;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

/* Waits until fd is ready for events; -ETIMEDOUT after timeout_ms of silence. */
static int wait_ready(int fd, short events, int timeout_ms)
{
	struct timespec deadline = proxy_deadline_after(timeout_ms);
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int n = poll(&pfd, 1, proxy_ms_until(&deadline));
		if (n > 0)
			return 0; /* ready, or POLLHUP/POLLERR: the next call says which */
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Sends all of iov; each wait for room is bounded by timeout_ms. */
int proxy_send_all(const struct proxy_conn *conn, struct iovec *iov, int iovcnt, int timeout_ms)
{
	while (iovcnt > 0) {
		ssize_t n;

		if (conn->is_socket) {
			struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
			n = sendmsg(conn->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else {
			n = writev(conn->fd, iov, iovcnt);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_ready(conn->fd, POLLOUT, timeout_ms);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

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
ssize_t proxy_recv_some(struct proxy_conn *conn, struct iovec *iov, int iovcnt, int timeout_ms)
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
				int r = wait_ready(conn->fd, POLLIN, timeout_ms);
				if (r < 0)
					return r;
				continue;
			}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		return n == 0 ? -EPIPE : n;
	}
}

/* Receives exactly len bytes. */
static int recv_all(struct proxy_conn *conn, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;

	while (len) {
		struct iovec iov = { .iov_base = p, .iov_len = len };
		ssize_t n = proxy_recv_some(conn, &iov, 1, timeout_ms);

		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Receives a reply header, and into data (at most data_cap bytes) whatever of
 * its data came with it: *data_got bytes.  On a socket a whole small reply is
 * one system call. */
static int recv_header_and_data(struct proxy_conn *conn, uint8_t *header, size_t header_len, uint8_t *data,
				size_t data_cap, size_t *data_got, int timeout_ms)
{
	size_t got = 0;

	*data_got = 0;
	while (got < header_len) {
		struct iovec iov[2] = {
			{ .iov_base = header + got, .iov_len = header_len - got },
			{ .iov_base = data, .iov_len = data_cap },
		};
		ssize_t n = proxy_recv_some(conn, iov, data_cap ? 2 : 1, timeout_ms);

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

/* Gets a stream ready for the pool: sockets blocking (waits bound by
 * SO_RCVTIMEO, sends by MSG_DONTWAIT and poll), other streams non-blocking;
 * no Nagle delay on TCP. */
static int stream_setup(struct proxy_conn *conn, int fd)
{
	struct stat st;
	int flags = fcntl(fd, F_GETFL);
	int one = 1;

	if (flags < 0 || fstat(fd, &st) < 0)
		return -errno;
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

/* The transport: a request header and its data out, a reply header and its data in. */

static int conn_send(const struct proxy_disk *proxy, struct proxy_conn *conn, const void *header,
		     size_t header_len, const void *data, size_t data_len, int timeout_ms)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)header, .iov_len = header_len },
		{ .iov_base = (void *)data, .iov_len = data_len },
	};

	if (proxy->shm)
		return proxy_shm_send(conn, header, header_len, data, data_len, timeout_ms);
	return proxy_send_all(conn, iov, data_len ? 2 : 1, timeout_ms);
}

static int conn_recv_header(const struct proxy_disk *proxy, struct proxy_conn *conn, void *buf,
			    size_t len, int timeout_ms)
{
	if (!proxy->shm)
		return recv_all(conn, buf, len, timeout_ms);
	return proxy_shm_recv_header(conn, buf, len, timeout_ms);
}

/* Reply data: len was checked against the request, which fit the section. */
static int conn_recv_data(const struct proxy_disk *proxy, struct proxy_conn *conn, void *buf,
			  size_t len, int timeout_ms)
{
	if (!proxy->shm)
		return recv_all(conn, buf, len, timeout_ms);
	return proxy_shm_recv_data(conn, buf, len);
}

/* A READ reply: its header, and the first *data_got bytes of its data already in
 * buf (a stream's data comes with the header when it can). */
static int conn_recv_read_reply(const struct proxy_disk *proxy, struct proxy_conn *conn, uint8_t *header,
				size_t header_len, uint8_t *buf, size_t cap, size_t *data_got, int timeout_ms)
{
	*data_got = 0;
	if (proxy->shm)
		return conn_recv_header(proxy, conn, header, header_len, timeout_ms);
	return recv_header_and_data(conn, header, header_len, buf, cap, data_got, timeout_ms);
}

/* The largest READ or WRITE one request may carry on this connection. */
static size_t conn_max_transfer(const struct proxy_disk *proxy, const struct proxy_conn *conn)
{
	if (proxy->shm && conn->data_size < proxy->max_transfer)
		return conn->data_size;
	return proxy->max_transfer;
}

/* Ends a connection: CLOSE first when asked to (a session that ends well; over a
 * stream it is not waited for, as it has no reply). */
void proxy_conn_shut(const struct proxy_disk *proxy, struct proxy_conn *conn, bool polite)
{
	if (polite) {
		uint8_t request[IMDPROXY_CLOSE_REQUEST_SIZE];

		imdproxy_encode_close_request(request);
		conn_send(proxy, conn, request, sizeof(request), NULL, 0, 0);
	}
	if (proxy->shm) {
		proxy_shm_detach(conn);
		return;
	}
	close(conn->fd);
	conn->fd = -1;
}

static int exchange_info(const struct proxy_disk *proxy, struct proxy_conn *conn,
			 struct imdproxy_info *info, int timeout_ms)
{
	uint8_t request[IMDPROXY_INFO_REQUEST_SIZE];
	uint8_t reply_buf[IMDPROXY_INFO_REPLY_SIZE];
	struct imdproxy_reply reply;
	uint64_t payload;
	int r;

	imdproxy_encode_info_request(request);
	r = conn_send(proxy, conn, request, sizeof(request), NULL, 0, timeout_ms);
	if (r == 0)
		r = conn_recv_header(proxy, conn, reply_buf, sizeof(reply_buf), timeout_ms);
	if (r < 0)
		return r;
	r = imdproxy_decode_reply(IMDPROXY_REQ_INFO, reply_buf, sizeof(reply_buf), NULL, &reply, &payload);
	if (r < 0)
		return r;
	*info = reply.info;
	return 0;
}

/* What ImDisk accepts of an INFO reply. */
static int info_check(const struct imdproxy_info *info)
{
	int r = imdproxy_info_check(info);

	if (r < 0)
		return r;
	if (info->file_size <= PROXY_MIN_SIZE || info->file_size > INT64_MAX)
		return -EINVAL;
	return 0;
}

#define INFO_FLAGS_THAT_MATTER \
	(IMDPROXY_FLAG_RO | IMDPROXY_FLAG_SUPPORTS_UNMAP | IMDPROXY_FLAG_SUPPORTS_ZERO)

const struct caller_identity *proxy_identity(const struct proxy_disk *proxy)
{
	return proxy->has_identity ? &proxy->identity : NULL;
}

struct connect_job {
	struct proxy_disk *proxy;
	int timeout_ms;
};

static int connect_job_run(void *arg)
{
	struct connect_job *job = arg;

	return job->proxy->connect(job->proxy->connect_opaque, job->timeout_ms);
}

/* The callback, with the creator's rights (in a thread of its own). */
static int connect_as_creator(struct proxy_disk *proxy, int timeout_ms)
{
	struct connect_job job = { .proxy = proxy, .timeout_ms = timeout_ms };
	int fd = caller_identity_run(proxy_identity(proxy), connect_job_run, &job);

	if (fd < 0)
		trace(TRACE_PROXY, "connect as uid %d within %d ms failed: %d (%s)",
		      proxy->has_identity ? (int)proxy->identity.uid : -1, timeout_ms, fd,
		      fd == -EADDRNOTAVAIL ? "another peer than the creator's" : strerror(-fd));
	return fd;
}

/* A new connection (through the callback, or attaching the section again),
 * checked to reach the same disk. */
int proxy_conn_open(struct proxy_disk *proxy, struct proxy_conn *conn, int timeout_ms)
{
	struct imdproxy_info info;
	int r;

	if (proxy->shm) {
		r = proxy_shm_attach(proxy, conn);
	} else {
		int fd = connect_as_creator(proxy, timeout_ms);
		if (fd < 0)
			return fd;
		r = stream_setup(conn, fd);
		if (r < 0)
			close(fd);
	}
	if (r < 0)
		return r;
	r = exchange_info(proxy, conn, &info, timeout_ms);
	if (r == 0 && (info.file_size != proxy->info.file_size ||
		       (info.flags & INFO_FLAGS_THAT_MATTER) != (proxy->info.flags & INFO_FLAGS_THAT_MATTER)))
		r = -ESTALE; /* the server now serves something else */
	if (r < 0)
		proxy_conn_shut(proxy, conn, false);
	return r;
}

static void conn_close(struct proxy_disk *proxy, struct proxy_conn *conn)
{
	proxy_conn_shut(proxy, conn, false);
	proxy->open_conns--;
}

/* With proxy->lock held: the reconnect window closed and the server is still away. */
static bool given_up_locked(struct proxy_disk *proxy)
{
	return proxy->lost && proxy_ms_until(&proxy->reconnect_deadline) == 0;
}

/* Takes a connection for one request: an idle one, a new one, or the next to be
 * released.  -EIO when there is none and no way to get one.
 *
 * A server given up on costs one attempt at a time (a probe, bounded by
 * PROXY_PROBE_TIMEOUT_MS), and after one that timed out none for a quarter of
 * the disk's timeout (at most a second), not one per request: requests that
 * come meanwhile fail at once.  Without that, the requests queued on a disk
 * would each wait a connect timeout in turn, holding the threads that serve
 * every other disk too. */
static int conn_acquire(struct proxy_disk *proxy, struct proxy_conn **out)
{
	unsigned int backoff_ms = PROXY_BACKOFF_MIN_MS;

	pthread_mutex_lock(&proxy->lock);
	for (;;) {
		struct proxy_conn *free_slot = NULL;

		for (unsigned int i = 0; i < proxy->max_conns; i++) {
			struct proxy_conn *conn = &proxy->conns[i];
			if (conn->fd >= 0 && !conn->busy) {
				conn->busy = true;
				pthread_mutex_unlock(&proxy->lock);
				*out = conn;
				return 0;
			}
			if (conn->fd < 0 && !conn->busy && !free_slot)
				free_slot = conn;
		}
		if (given_up_locked(proxy) && (proxy->connecting || proxy_ms_until(&proxy->given_up_retry) > 0)) {
			pthread_mutex_unlock(&proxy->lock);
			return -EIO;
		}
		if (proxy->can_reconnect && !proxy->connecting && free_slot &&
		    (proxy->open_conns == 0 || (proxy->can_grow && proxy_ms_until(&proxy->grow_retry) == 0))) {
			bool reconnect = proxy->open_conns == 0;
			/* A probe (a server given up on, or one more connection) is
			 * answered at once by a server that is there. */
			bool probe = !reconnect || given_up_locked(proxy);
			int timeout = !probe ? proxy->timeout_ms :
				(proxy->timeout_ms < (int)PROXY_PROBE_TIMEOUT_MS ? proxy->timeout_ms :
				 (int)PROXY_PROBE_TIMEOUT_MS);
			int r;

			free_slot->busy = true;
			proxy->connecting = true;
			proxy->open_conns++;
			pthread_mutex_unlock(&proxy->lock);
			r = proxy_conn_open(proxy, free_slot, timeout);
			pthread_mutex_lock(&proxy->lock);
			proxy->connecting = false;
			pthread_cond_broadcast(&proxy->changed);
			if (r == 0) {
				pthread_mutex_unlock(&proxy->lock);
				*out = free_slot;
				return 0;
			}
			free_slot->busy = false;
			proxy->open_conns--;
			if (!reconnect) {
				/* Accepted but never answered: one client at a time, so live
				 * with the connections we have.  Any other failure (a server
				 * restarting, out of connections) is tried again later. */
				if (r == -ETIMEDOUT)
					proxy->can_grow = false;
				else
					proxy->grow_retry = proxy_deadline_after(PROXY_GROW_RETRY_MS);
				continue;
			}
			if (!proxy->lost || proxy_ms_until(&proxy->reconnect_deadline) == 0) {
				/* Only a slow failure is worth spacing out: a refused
				 * connection costs nothing to try again. */
				if (reconnect && probe && r == -ETIMEDOUT)
					proxy->given_up_retry = proxy_deadline_after(
						proxy->timeout_ms / 4 < 1000 ? proxy->timeout_ms / 4 : 1000);
				pthread_mutex_unlock(&proxy->lock);
				return -EIO;
			}
			pthread_mutex_unlock(&proxy->lock);
			sleep_ms(backoff_ms);
			backoff_ms = backoff_ms * 2 < PROXY_BACKOFF_MAX_MS ? backoff_ms * 2 : PROXY_BACKOFF_MAX_MS;
			pthread_mutex_lock(&proxy->lock);
			continue;
		}
		if (proxy->open_conns == 0 && !proxy->connecting) {
			pthread_mutex_unlock(&proxy->lock);
			return -EIO; /* gone, and no way to call it back */
		}
		/* Every connection is busy: whoever holds one gives it back within
		 * its own timeout. */
		pthread_cond_wait(&proxy->changed, &proxy->lock);
	}
}

/* With proxy->lock held. */
static void mark_lost_locked(struct proxy_disk *proxy)
{
	/* The idle ones went to the same server and are most likely dead too:
	 * trying each would cost a timeout apiece. */
	for (unsigned int i = 0; i < proxy->max_conns; i++) {
		struct proxy_conn *other = &proxy->conns[i];
		if (other->fd >= 0 && !other->busy)
			conn_close(proxy, other);
	}
	if (!proxy->lost) {
		proxy->lost = true;
		proxy->reconnect_deadline = proxy_deadline_after(proxy->timeout_ms);
	}
	atomic_store(&proxy->connected, false);
}

void proxy_mark_lost(struct proxy_disk *proxy)
{
	pthread_mutex_lock(&proxy->lock);
	mark_lost_locked(proxy);
	pthread_mutex_unlock(&proxy->lock);
}

static void conn_release(struct proxy_disk *proxy, struct proxy_conn *conn, enum exchange_state state)
{
	pthread_mutex_lock(&proxy->lock);
	if (state != EXCHANGE_OK) {
		conn_close(proxy, conn);
		if (state == EXCHANGE_BROKEN)
			mark_lost_locked(proxy);
		atomic_store(&proxy->connected, false);
	}
	conn->busy = false;
	pthread_cond_broadcast(&proxy->changed);
	pthread_mutex_unlock(&proxy->lock);
}

/* A failed send or receive: the stream broke (retry on another), or (-EBADMSG)
 * the server broke its shared-memory section (shrank it): that fails now. */
static enum exchange_state transport_failed(int r, int *result)
{
	*result = -EIO;
	if (r == -EBADMSG) {
		trace(TRACE_PROXY, "the server broke its section: the request fails");
		return EXCHANGE_CORRUPT;
	}
	return EXCHANGE_BROKEN;
}

/* READ: the server may answer with less than asked (ask again for the rest); a
 * reply of length 0 ends the read, and a longer one breaks the protocol. */
static enum exchange_state exchange_read(struct proxy_disk *proxy, struct proxy_conn *conn,
					 struct proxy_request *req, int *result)
{
	size_t max_transfer = conn_max_transfer(proxy, conn);

	while (req->len) {
		size_t chunk = req->len < max_transfer ? req->len : max_transfer;
		struct imdproxy_request sent = { .code = IMDPROXY_REQ_READ, .offset = req->offset, .length = chunk };
		uint8_t request[IMDPROXY_READ_REQUEST_SIZE];
		uint8_t reply_buf[IMDPROXY_READ_REPLY_SIZE];
		struct imdproxy_reply reply;
		uint64_t payload;
		size_t early;
		int r;

		imdproxy_encode_read_request(request, req->offset, chunk);
		r = conn_send(proxy, conn, request, sizeof(request), NULL, 0, proxy->timeout_ms);
		if (r == 0)
			r = conn_recv_read_reply(proxy, conn, reply_buf, sizeof(reply_buf), req->read_buf, chunk,
						 &early, proxy->timeout_ms);
		if (r < 0)
			return transport_failed(r, result);
		r = imdproxy_decode_reply(IMDPROXY_REQ_READ, reply_buf, sizeof(reply_buf), &sent, &reply, &payload);
		if (r < 0 || early > payload) {
			*result = -EIO;
			return EXCHANGE_CORRUPT; /* more than the reply said: out of step */
		}
		/* Data that comes with an error is read too, to stay in step. */
		if (payload > early) {
			r = conn_recv_data(proxy, conn, req->read_buf + early, (size_t)(payload - early),
					   proxy->timeout_ms);
			if (r < 0)
				return transport_failed(r, result);
		}
		if (reply.errorno || payload == 0) {
			*result = -EIO;
			return EXCHANGE_OK;
		}
		req->read_buf += payload;
		req->offset += payload;
		req->len -= (size_t)payload;
	}
	*result = 0;
	return EXCHANGE_OK;
}

/* WRITE: the server must acknowledge exactly the length sent. */
static enum exchange_state exchange_write(struct proxy_disk *proxy, struct proxy_conn *conn,
					  struct proxy_request *req, int *result)
{
	size_t max_transfer = conn_max_transfer(proxy, conn);

	while (req->len) {
		size_t chunk = req->len < max_transfer ? req->len : max_transfer;
		uint8_t request[IMDPROXY_WRITE_REQUEST_SIZE];
		uint8_t reply_buf[IMDPROXY_WRITE_REPLY_SIZE];
		struct imdproxy_reply reply;
		uint64_t payload;
		int r;

		imdproxy_encode_write_request(request, req->offset, chunk);
		r = conn_send(proxy, conn, request, sizeof(request), req->write_buf, chunk, proxy->timeout_ms);
		if (r == 0)
			r = conn_recv_header(proxy, conn, reply_buf, sizeof(reply_buf), proxy->timeout_ms);
		if (r < 0)
			return transport_failed(r, result);
		r = imdproxy_decode_reply(IMDPROXY_REQ_WRITE, reply_buf, sizeof(reply_buf), NULL, &reply, &payload);
		if (r < 0) {
			*result = -EIO;
			return EXCHANGE_CORRUPT;
		}
		if (reply.errorno || reply.length != chunk) {
			*result = -EIO;
			return EXCHANGE_OK;
		}
		req->write_buf += chunk;
		req->offset += chunk;
		req->len -= chunk;
	}
	*result = 0;
	return EXCHANGE_OK;
}

/* UNMAP and ZERO: one range each. */
static enum exchange_state exchange_range(struct proxy_disk *proxy, struct proxy_conn *conn,
					  struct proxy_request *req, int *result)
{
	uint8_t request[IMDPROXY_RANGE_REQUEST_SIZE];
	uint8_t range[IMDPROXY_RANGE_ENTRY_SIZE];
	uint8_t reply_buf[IMDPROXY_RANGE_REPLY_SIZE];
	struct imdproxy_reply reply;
	uint64_t payload;
	int r;

	/* The range is the request's data (at 4096 in a shared-memory section). */
	imdproxy_encode_range_request(request, req->code, sizeof(range));
	imdproxy_encode_range(range, req->offset, req->range_len);
	r = conn_send(proxy, conn, request, sizeof(request), range, sizeof(range), proxy->timeout_ms);
	if (r == 0)
		r = conn_recv_header(proxy, conn, reply_buf, sizeof(reply_buf), proxy->timeout_ms);
	if (r < 0)
		return transport_failed(r, result);
	if (imdproxy_decode_reply(req->code, reply_buf, sizeof(reply_buf), NULL, &reply, &payload) < 0) {
		*result = -EIO;
		return EXCHANGE_CORRUPT;
	}
	*result = reply.errorno ? -EIO : 0;
	return EXCHANGE_OK;
}

/* Runs a request to its end: on a broken stream, again on a new connection (what
 * was acknowledged is not sent twice: the request keeps its progress) until the
 * reconnect window closes. */
static int proxy_submit(struct proxy_disk *proxy, struct proxy_request *req)
{
	for (;;) {
		struct proxy_conn *conn;
		enum exchange_state state;
		int result;
		int r = conn_acquire(proxy, &conn);

		if (r < 0)
			return r;
		switch (req->code) {
		case IMDPROXY_REQ_READ:
			state = exchange_read(proxy, conn, req, &result);
			break;
		case IMDPROXY_REQ_WRITE:
			state = exchange_write(proxy, conn, req, &result);
			break;
		default:
			state = exchange_range(proxy, conn, req, &result);
			break;
		}
		conn_release(proxy, conn, state);
		if (state == EXCHANGE_OK) {
			pthread_mutex_lock(&proxy->lock);
			proxy->lost = false;
			pthread_mutex_unlock(&proxy->lock);
			atomic_store(&proxy->connected, true);
			return result;
		}
		if (state == EXCHANGE_CORRUPT || !proxy->can_reconnect)
			return result;
		pthread_mutex_lock(&proxy->lock);
		r = proxy->lost && proxy_ms_until(&proxy->reconnect_deadline) == 0;
		pthread_mutex_unlock(&proxy->lock);
		if (r)
			return -EIO;
	}
}

int proxy_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	struct proxy_request req = { .code = IMDPROXY_REQ_READ, .read_buf = buf, .len = len, .offset = offset };

	return proxy_submit(to_proxy(disk), &req);
}

static int proxy_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	struct proxy_request req = { .code = IMDPROXY_REQ_WRITE, .write_buf = buf, .len = len, .offset = offset };

	return proxy_submit(to_proxy(disk), &req);
}

static int proxy_trim(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	struct proxy_disk *proxy = to_proxy(disk);
	struct proxy_request req = { .code = IMDPROXY_REQ_UNMAP, .offset = offset, .range_len = len };

	if (!(proxy->info.flags & IMDPROXY_FLAG_SUPPORTS_UNMAP))
		return -EOPNOTSUPP; /* ImDisk sends UNMAP only to servers that said they take it */
	return proxy_submit(proxy, &req);
}

static int proxy_zero(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	struct proxy_disk *proxy = to_proxy(disk);
	struct proxy_request req = { .code = IMDPROXY_REQ_ZERO, .offset = offset, .range_len = len };

	if (!(proxy->info.flags & IMDPROXY_FLAG_SUPPORTS_ZERO))
		return -EOPNOTSUPP; /* vdisk_zero writes zeroes instead */
	return proxy_submit(proxy, &req);
}

static void proxy_close(struct vdisk *disk)
{
	struct proxy_disk *proxy = to_proxy(disk);

	proxy_pipeline_stop(proxy);
	for (unsigned int i = 0; i < proxy->max_conns; i++) {
		struct proxy_conn *conn = &proxy->conns[i];
		if (conn->fd >= 0)
			proxy_conn_shut(proxy, conn, true);
	}
	pthread_cond_destroy(&proxy->changed);
	pthread_mutex_destroy(&proxy->lock);
	pthread_mutex_destroy(&proxy->pipes_lock);
	caller_identity_release(&proxy->identity);
	free(proxy->conns);
	free(proxy);
}

/* No flush: IMDPROXY has no such request (the reference server writes O_SYNC). */
static const struct vdisk_ops proxy_ops = {
	.name = "proxy",
	.read = proxy_read,
	.read_async = proxy_pipeline_read,
	.write = proxy_write,
	.trim = proxy_trim,
	.zero = proxy_zero,
	.close = proxy_close,
};

static void proxy_free(struct proxy_disk *proxy)
{
	pthread_cond_destroy(&proxy->changed);
	pthread_mutex_destroy(&proxy->lock);
	pthread_mutex_destroy(&proxy->pipes_lock);
	caller_identity_release(&proxy->identity);
	free(proxy->conns);
	free(proxy);
}

static int proxy_new(const struct backend_proxy_options *options, struct proxy_disk **out)
{
	struct proxy_disk *proxy = calloc(1, sizeof(*proxy));
	int r;

	if (!proxy)
		return -ENOMEM;
	if (options->shm_name) {
		r = proxy_shm_names(proxy, options->shm_name);
		if (r < 0) {
			free(proxy);
			return r;
		}
		proxy->shm = true;
	}
	if (options->identity) {
		r = caller_identity_copy(&proxy->identity, options->identity);
		if (r < 0) {
			free(proxy);
			return r;
		}
		proxy->has_identity = true;
	}
	proxy->connect = options->connect;
	proxy->connect_opaque = options->connect_opaque;
	proxy->can_reconnect = proxy->shm || proxy->connect;
	proxy->timeout_ms = (int)(options->timeout_ms ? options->timeout_ms : PROXY_DEFAULT_TIMEOUT_MS);
	if (proxy->timeout_ms <= 0)
		proxy->timeout_ms = INT32_MAX;
	proxy->max_transfer = options->max_transfer ? options->max_transfer : PROXY_DEFAULT_TRANSFER;
	proxy->max_conns = options->max_connections ? options->max_connections : PROXY_DEFAULT_CONNECTIONS;
	/* Nowhere to get a second connection from; a section has one client. */
	if (!proxy->connect || proxy->shm)
		proxy->max_conns = 1;
	proxy->can_grow = proxy->max_conns > 1;
	proxy->conns = calloc(proxy->max_conns, sizeof(*proxy->conns));
	if (!proxy->conns) {
		caller_identity_release(&proxy->identity);
		free(proxy);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < proxy->max_conns; i++)
		proxy->conns[i].fd = -1;
	r = -pthread_mutex_init(&proxy->lock, NULL);
	if (r == 0) {
		r = -pthread_cond_init(&proxy->changed, NULL);
		if (r < 0)
			pthread_mutex_destroy(&proxy->lock);
	}
	if (r == 0) {
		r = -pthread_mutex_init(&proxy->pipes_lock, NULL);
		if (r < 0) {
			pthread_cond_destroy(&proxy->changed);
			pthread_mutex_destroy(&proxy->lock);
		}
	}
	if (r < 0) {
		caller_identity_release(&proxy->identity);
		free(proxy->conns);
		free(proxy);
		return r;
	}
	*out = proxy;
	return 0;
}

int backend_proxy_open(const struct backend_proxy_options *options, struct vdisk **out)
{
	struct proxy_disk *proxy;
	struct proxy_conn *first;
	int fd = -1, fd_flags = -1;
	int r;

	if (!options || (!options->shm_name && options->fd < 0 && !options->connect))
		return -EINVAL;
	r = proxy_new(options, &proxy);
	if (r < 0)
		return r;
	first = &proxy->conns[0];
	if (proxy->shm) {
		r = proxy_shm_attach(proxy, first);
	} else if (options->fd >= 0) {
		fd = options->fd;
		fd_flags = fcntl(fd, F_GETFL);
		r = stream_setup(first, fd);
	} else {
		fd = connect_as_creator(proxy, proxy->timeout_ms);
		r = fd < 0 ? fd : stream_setup(first, fd);
	}
	if (r == 0)
		r = exchange_info(proxy, first, &proxy->info, proxy->timeout_ms);
	if (r == 0)
		r = info_check(&proxy->info);
	if (r < 0) {
		/* The caller's descriptor goes back as it came; ours is closed. */
		if (proxy->shm)
			proxy_shm_detach(first);
		else if (options->fd >= 0 && fd_flags >= 0)
			fcntl(fd, F_SETFL, fd_flags);
		else if (options->fd < 0 && fd >= 0)
			close(fd);
		proxy_free(proxy);
		return r == -ETIMEDOUT || r == -EPIPE || r == -ECONNRESET ? -EIO : r;
	}
	proxy->open_conns = 1;
	atomic_init(&proxy->connected, true);
	proxy->disk.ops = &proxy_ops;
	proxy->disk.size = proxy->info.file_size;
	proxy->disk.flags = VDISK_PARALLEL | VDISK_ASYNC_READ;
	if (options->read_only || (proxy->info.flags & IMDPROXY_FLAG_RO))
		proxy->disk.flags |= VDISK_READ_ONLY;
	/* ImDisk's meaning of UNMAP is a punched hole (devio's, and the Windows
	 * driver's TRIM): trusted to leave zeroes, as ImDisk does. */
	if (proxy->info.flags & IMDPROXY_FLAG_SUPPORTS_UNMAP)
		proxy->disk.flags |= VDISK_CAN_TRIM | VDISK_TRIM_ZEROES;
	if (proxy->info.flags & IMDPROXY_FLAG_SUPPORTS_ZERO)
		proxy->disk.flags |= VDISK_CAN_ZERO;
	*out = &proxy->disk;
	return 0;
}

/* An idle connection whose server went away: a stream shows a hang-up (or bytes
 * nobody asked for), a section a released server lock. */
static bool conn_looks_dead(const struct proxy_disk *proxy, const struct proxy_conn *conn)
{
	struct pollfd pfd = { .fd = conn->fd, .events = POLLIN | POLLRDHUP };

	if (proxy->shm)
		return !proxy_shm_server_alive(conn);
	return poll(&pfd, 1, 0) > 0;
}

bool backend_proxy_connected(struct vdisk *disk)
{
	struct proxy_disk *proxy;
	unsigned int idle = 0, dead = 0;

	if (!disk || disk->ops != &proxy_ops)
		return false;
	proxy = to_proxy(disk);
	if (!atomic_load(&proxy->connected))
		return false;
	/* Say so now rather than at the next request. */
	pthread_mutex_lock(&proxy->lock);
	for (unsigned int i = 0; i < proxy->max_conns; i++) {
		struct proxy_conn *conn = &proxy->conns[i];

		if (conn->fd < 0 || conn->busy)
			continue;
		idle++;
		if (conn_looks_dead(proxy, conn))
			dead++;
	}
	pthread_mutex_unlock(&proxy->lock);
	return idle == 0 || dead < idle;
}
