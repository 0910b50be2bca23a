/* NBD client: a disk whose bytes live in an NBD server (nbdkit, qemu-nbd, devio
 * --nbd), through libnbd's asynchronous API.
 *
 * One libnbd handle on the stream the caller connected, and when the server
 * offers multi-conn (its connections see each other's writes and one FLUSH
 * covers them all) and a connect callback is given, more handles on streams of
 * their own, requests spread over them in turn.  A thread for each handle
 * drives it (poll, then nbd_aio_notify_read / _write), so any number of
 * requests are in flight at once: each caller submits its command and waits for
 * the completion callback (or, for read_async, is called back from that thread).
 *
 * Every request carries a deadline (timeout_ms).  The driving thread looks at
 * the deadlines between polls; a request not answered in time means a silent
 * server: that connection's socket is shut down, libnbd then fails every
 * command in flight on it, and it takes no more.  A server that went away does
 * the same at once (the socket reads end-of-file).  With no connection left the
 * disk shows as disconnected.  With a connect callback, a waited-for request
 * whose connection died (ENOTCONN) is sent again on a new connection, made
 * under backend/reconnect_policy.h's policy (window: timeout_ms), which
 * replaces the dead ones; a read_async that met a dead connection fails with
 * -EIO (its callback cannot wait for a reconnection: it runs under libnbd's
 * lock).  Without one, or once given up, requests fail with -EIO.
 *
 * Buffers: a command's data lives in the request itself (copied in for a write,
 * copied out for a read), never in the caller's buffer.  A caller that gave up
 * waiting has returned and its buffer is gone, while libnbd may still hold the
 * command: the request is freed only by libnbd's free callback (and the waiter),
 * whichever comes last.
 *
 * Locking: libnbd calls our callbacks with its handle lock held, and they take
 * nbd->lock; so nbd->lock is never held while calling libnbd. */
#include "backend/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libnbd.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend/reconnect_policy.h"
#include "common/caller_identity.h"
#include "common/deadline.h"
#include "common/trace.h"

#define NBD_DEFAULT_TIMEOUT_MS 30000u
/* How often the driving thread looks at the deadlines while nothing happens. */
#define NBD_TICK_MS 100
/* The largest READ or WRITE sent as one command (libnbd refuses more than 64 MiB). */
#define NBD_MAX_TRANSFER (32u << 20)
/* The largest TRIM or WRITE_ZEROES (the protocol's length is 32 bits). */
#define NBD_MAX_RANGE (1u << 30)
/* Connections to a multi-conn server (0: this many). */
#define NBD_DEFAULT_CONNECTIONS 4u
#define NBD_MAX_CONNECTIONS 16u

enum nbd_req_kind { REQ_READ, REQ_WRITE, REQ_FLUSH, REQ_TRIM, REQ_ZERO };

struct nbd_req {
	struct nbd_disk *nbd;
	struct nbd_conn *conn;       /* where it was sent */
	struct nbd_req *prev, *next; /* in nbd->in_flight until libnbd frees it */
	pthread_cond_t cond;
	int refs;          /* the submitter and libnbd */
	bool completed;    /* the completion callback ran */
	bool conn_lost;    /* failed because the connection died (ENOTCONN): retry */
	bool issued;       /* libnbd took the command */
	bool libnbd_done;  /* libnbd's free callback ran */
	int result;
	struct timespec deadline;
	/* read_async: the callback, called exactly once. */
	vdisk_read_done_fn done;
	void *opaque;
	bool answered;
	size_t len;
	uint8_t data[]; /* READ, WRITE: len bytes */
};

/* One connection: a libnbd handle and the thread that drives it. */
struct nbd_conn {
	struct nbd_disk *nbd;
	struct nbd_handle *handle;
	int sock;      /* the stream libnbd drives (libnbd's: closed by nbd_close) */
	/* Our own descriptor of the same socket, kept: polled and shut down
	 * through it, since libnbd closes its own when the connection dies and
	 * the number may then be another file's. */
	int own_fd;
	int wake_fd;   /* eventfd: a command was submitted, or closing */
	pthread_t driver;
	bool driver_started;
	bool stop;      /* the driver ends (atomic) */
	bool connected; /* false once the server went away or fell silent */
	/* Read-held while a command is handed to the handle, write-held while a
	 * reconnection replaces the handle. */
	pthread_rwlock_t use;
};

struct nbd_disk {
	struct vdisk disk;
	struct nbd_conn conns[NBD_MAX_CONNECTIONS];
	unsigned int conn_count; /* grows (atomic) only while the disk opens */
	unsigned int next_conn; /* the round's turn (atomic) */
	int timeout_ms;
	uint32_t max_transfer;
	pthread_mutex_t lock;
	struct nbd_req *in_flight; /* every request libnbd still holds */
	bool stopping;
	/* Reconnection (connect non-NULL): new connections replace dead ones
	 * under the policy (under lock); one attempt at a time (reconnecting). */
	backend_proxy_connect_fn connect;
	void *connect_opaque;
	bool has_identity;
	struct caller_identity identity;
	char *export_name;
	bool read_only_asked;
	struct reconnect_policy policy;
	pthread_mutex_t reconnecting;
};

static const struct vdisk_ops nbd_ops;

static struct nbd_disk *to_nbd(struct vdisk *disk)
{
	return (struct nbd_disk *)disk;
}

static void req_unref_locked(struct nbd_req *req)
{
	if (--req->refs == 0) {
		pthread_cond_destroy(&req->cond);
		free(req);
	}
}

/* Called by whichever of (completion, free, submitter) sees a read_async
 * request end first; only the first answers. */
static void answer_async(struct nbd_req *req, int result)
{
	req->done(req->opaque, result, result == 0 ? req->data : NULL, result == 0 ? req->len : 0);
}

static int on_complete(void *user_data, int *error)
{
	struct nbd_req *req = user_data;
	struct nbd_disk *nbd = req->nbd;
	int result = *error ? -EIO : 0;
	bool answer = false;

	if (*error)
		trace(TRACE_PROXY, "nbd: command failed: %s", strerror(*error));
	pthread_mutex_lock(&nbd->lock);
	req->completed = true;
	req->result = result;
	req->conn_lost = *error == ENOTCONN;
	if (req->done && !req->answered)
		req->answered = answer = true;
	else
		pthread_cond_signal(&req->cond);
	pthread_mutex_unlock(&nbd->lock);
	if (answer)
		answer_async(req, result);
	return 1; /* retire the command */
}

static void on_free(void *user_data)
{
	struct nbd_req *req = user_data;
	struct nbd_disk *nbd = req->nbd;
	bool answer = false;

	pthread_mutex_lock(&nbd->lock);
	req->libnbd_done = true;
	if (req->prev)
		req->prev->next = req->next;
	else if (nbd->in_flight == req)
		nbd->in_flight = req->next;
	if (req->next)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
	/* Freed without an answer (the handle closed with it in flight): a read
	 * libnbd took is answered now; one it refused is the submitter's. */
	if (req->done && req->issued && !req->answered)
		req->answered = answer = true;
	if (!req->completed)
		pthread_cond_signal(&req->cond);
	pthread_mutex_unlock(&nbd->lock);
	if (answer)
		answer_async(req, -EIO);
	pthread_mutex_lock(&nbd->lock);
	req_unref_locked(req);
	pthread_mutex_unlock(&nbd->lock);
}

static struct nbd_req *req_new(struct nbd_disk *nbd, struct nbd_conn *conn, size_t len)
{
	struct nbd_req *req = calloc(1, sizeof(*req) + len);

	if (!req)
		return NULL;
	req->nbd = nbd;
	req->conn = conn;
	req->refs = 2;
	req->len = len;
	req->deadline = deadline_after_ms((unsigned)nbd->timeout_ms);
	/* Deadlines are CLOCK_MONOTONIC (common/deadline.h). */
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&req->cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_lock(&nbd->lock);
	req->next = nbd->in_flight;
	if (req->next)
		req->next->prev = req;
	nbd->in_flight = req;
	pthread_mutex_unlock(&nbd->lock);
	return req;
}

static void wake_driver(struct nbd_conn *conn)
{
	uint64_t one = 1;

	if (write(conn->wake_fd, &one, sizeof(one)) < 0)
		trace_dropped(TRACE_PROXY, "nbd: waking the driver", -errno);
}

/* Hands req to libnbd: 0, or -EIO when it would not take it (then its free
 * callback has already run). */
static int req_submit(struct nbd_conn *conn, struct nbd_req *req, enum nbd_req_kind kind, uint64_t offset,
		      uint64_t len)
{
	struct nbd_handle *handle = conn->handle;
	nbd_completion_callback cb = { .callback = on_complete, .user_data = req, .free = on_free };
	int64_t cookie;

	switch (kind) {
	case REQ_READ:
		cookie = nbd_aio_pread(handle, req->data, req->len, offset, cb, 0);
		break;
	case REQ_WRITE:
		cookie = nbd_aio_pwrite(handle, req->data, req->len, offset, cb, 0);
		break;
	case REQ_FLUSH:
		cookie = nbd_aio_flush(handle, cb, 0);
		break;
	case REQ_TRIM:
		cookie = nbd_aio_trim(handle, len, offset, cb, 0);
		break;
	default:
		cookie = nbd_aio_zero(handle, len, offset, cb, 0);
		break;
	}
	if (cookie < 0) {
		trace(TRACE_PROXY, "nbd: command not sent: %s", nbd_get_error());
		return -EIO;
	}
	wake_driver(conn); /* it may have to wait for room to send the rest */
	return 0;
}

/* The next connection still up, in turn, read-held (conn_release); NULL when
 * none is. */
static struct nbd_conn *pick_conn(struct nbd_disk *nbd)
{
	unsigned int start = __atomic_fetch_add(&nbd->next_conn, 1, __ATOMIC_RELAXED);

	for (unsigned int i = 0; i < nbd->conn_count; i++) {
		struct nbd_conn *conn = &nbd->conns[(start + i) % nbd->conn_count];

		if (!__atomic_load_n(&conn->connected, __ATOMIC_ACQUIRE))
			continue;
		pthread_rwlock_rdlock(&conn->use);
		if (__atomic_load_n(&conn->connected, __ATOMIC_ACQUIRE))
			return conn;
		pthread_rwlock_unlock(&conn->use);
	}
	return NULL;
}

static void conn_release(struct nbd_conn *conn)
{
	pthread_rwlock_unlock(&conn->use);
}

static int reconnect(struct nbd_disk *nbd);

/* One command, waited for: 0 or -EIO. */
static int run_once(struct nbd_disk *nbd, struct nbd_conn *conn, enum nbd_req_kind kind, void *buf, size_t len,
		    uint64_t offset, uint64_t range_len, bool *conn_lost)
{
	size_t data_len = kind == REQ_READ || kind == REQ_WRITE ? len : 0;
	struct nbd_req *req;
	struct timespec give_up;
	int r;

	req = req_new(nbd, conn, data_len);
	if (!req) {
		conn_release(conn);
		return -ENOMEM;
	}
	if (kind == REQ_WRITE)
		memcpy(req->data, buf, len);
	r = req_submit(conn, req, kind, offset, range_len);
	conn_release(conn);
	/* Not taken: the handle died under us (a reconnect may help). */
	*conn_lost = r < 0;
	pthread_mutex_lock(&nbd->lock);
	if (r == 0) {
		req->issued = true;
		/* The driver fails it at its deadline; this is only the guard
		 * against a driver that could not. */
		give_up = req->deadline;
		give_up.tv_sec += 2;
		while (!req->completed && !req->libnbd_done)
			if (pthread_cond_timedwait(&req->cond, &nbd->lock, &give_up) == ETIMEDOUT)
				break;
		r = req->completed ? req->result : -EIO;
		*conn_lost = req->completed ? req->conn_lost : true;
	}
	pthread_mutex_unlock(&nbd->lock);
	/* Outside the lock (the other connections' callbacks take it): libnbd
	 * is done with a completed read's bytes, and our reference keeps them. */
	if (r == 0 && kind == REQ_READ)
		memcpy(buf, req->data, len);
	pthread_mutex_lock(&nbd->lock);
	req_unref_locked(req);
	pthread_mutex_unlock(&nbd->lock);
	return r;
}

/* One command to its end: retried on a new connection while the reconnect
 * window lasts when the connection it went over died (reads, writes, trims and
 * zeroes at fixed offsets and flushes may be repeated), so no write the server
 * did not acknowledge is taken for done.  0 or -EIO (-ENOMEM). */
static int run_one(struct nbd_disk *nbd, enum nbd_req_kind kind, void *buf, size_t len, uint64_t offset,
		   uint64_t range_len)
{
	for (;;) {
		struct nbd_conn *conn = pick_conn(nbd);
		bool conn_lost = false;
		int r;

		if (!conn) {
			if (reconnect(nbd) < 0)
				return -EIO;
			continue;
		}
		r = run_once(nbd, conn, kind, buf, len, offset, range_len, &conn_lost);
		if (r < 0 && !conn_lost)
			trace(TRACE_PROXY, "nbd: a command failed on a live connection: %s", strerror(-r));
		if (r == 0 || !conn_lost || !nbd->connect)
			return r;
		trace(TRACE_PROXY, "nbd: a command met a dead connection: retrying");
		pthread_mutex_lock(&nbd->lock);
		reconnect_policy_lost(&nbd->policy);
		bool given_up = reconnect_policy_given_up(&nbd->policy);
		pthread_mutex_unlock(&nbd->lock);
		if (given_up)
			return -EIO;
	}
}

/* A transfer or range split into commands the server and libnbd take. */
static int run_split(struct nbd_disk *nbd, enum nbd_req_kind kind, uint8_t *buf, uint64_t len, uint64_t offset)
{
	uint64_t chunk_max = kind == REQ_READ || kind == REQ_WRITE ? nbd->max_transfer : NBD_MAX_RANGE;

	while (len > 0) {
		uint64_t n = len < chunk_max ? len : chunk_max;
		int r = run_one(nbd, kind, buf, (size_t)n, offset, n);

		if (r < 0)
			return r;
		if (buf)
			buf += n;
		len -= n;
		offset += n;
	}
	return 0;
}

static int nbd_disk_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	return run_split(to_nbd(disk), REQ_READ, buf, len, offset);
}

static int nbd_disk_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	return run_split(to_nbd(disk), REQ_WRITE, (uint8_t *)buf, len, offset);
}

static int nbd_disk_flush(struct vdisk *disk)
{
	return run_one(to_nbd(disk), REQ_FLUSH, NULL, 0, 0, 0);
}

static int nbd_disk_trim(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	if (!(disk->flags & VDISK_CAN_TRIM))
		return -EOPNOTSUPP;
	return run_split(to_nbd(disk), REQ_TRIM, NULL, len, offset);
}

static int nbd_disk_zero(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	if (!(disk->flags & VDISK_CAN_ZERO))
		return -EOPNOTSUPP; /* vdisk_zero writes zeroes instead */
	return run_split(to_nbd(disk), REQ_ZERO, NULL, len, offset);
}

/* Starts a read; done is called from the driving thread. */
static int nbd_disk_read_async(struct vdisk *disk, size_t len, uint64_t offset, vdisk_read_done_fn done,
			       void *opaque)
{
	struct nbd_disk *nbd = to_nbd(disk);
	struct nbd_conn *conn;
	struct nbd_req *req;
	int r;

	if (len > nbd->max_transfer)
		return -EOPNOTSUPP; /* the caller reads (split) instead */
	conn = pick_conn(nbd);
	if (!conn)
		return -EIO;
	req = req_new(nbd, conn, len);
	if (!req) {
		conn_release(conn);
		return -ENOMEM;
	}
	req->done = done;
	req->opaque = opaque;
	r = req_submit(conn, req, REQ_READ, offset, len);
	conn_release(conn);
	pthread_mutex_lock(&nbd->lock);
	bool answer = false;

	if (r == 0) {
		req->issued = true;
		/* Freed by libnbd, unanswered, before it was known to be issued. */
		if (req->libnbd_done && !req->answered)
			req->answered = answer = true;
	} else {
		req->answered = true; /* not started: the caller reads, done is never called */
	}
	req_unref_locked(req);
	pthread_mutex_unlock(&nbd->lock);
	if (answer)
		done(opaque, -EIO, NULL, 0);
	return r;
}

/* The server is gone or silent: shutting the socket down makes libnbd fail
 * every command in flight (its end-of-file), and the server sees us go. */
static void mark_disconnected(struct nbd_conn *conn, const char *why)
{
	if (!__atomic_exchange_n(&conn->connected, false, __ATOMIC_ACQ_REL))
		return;
	trace(TRACE_PROXY, "nbd: connection %u disconnected: %s", (unsigned)(conn - conn->nbd->conns), why);
	if (shutdown(conn->own_fd, SHUT_RDWR) < 0)
		trace_dropped(TRACE_PROXY, "nbd: shutting the connection down", -errno);
}

/* A request past its deadline: the server is silent. */
static void check_deadlines(struct nbd_conn *conn)
{
	struct nbd_disk *nbd = conn->nbd;
	struct timespec now;
	bool expired = false;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&nbd->lock);
	for (struct nbd_req *req = nbd->in_flight; req && !expired; req = req->next)
		expired = req->conn == conn && !req->completed && (now.tv_sec > req->deadline.tv_sec ||
					      (now.tv_sec == req->deadline.tv_sec &&
					       now.tv_nsec >= req->deadline.tv_nsec));
	pthread_mutex_unlock(&nbd->lock);
	/* The server fell silent, not this connection alone (what it answers on
	 * one it answers on all): every connection goes, as a proxy disk's pool
	 * closes its idle ones when the server is lost. */
	if (expired)
		for (unsigned int i = 0; i < __atomic_load_n(&nbd->conn_count, __ATOMIC_ACQUIRE); i++)
			mark_disconnected(&nbd->conns[i], "a request was not answered in time");
}

static void *driver_main(void *arg)
{
	struct nbd_conn *conn = arg;
	struct nbd_disk *nbd = conn->nbd;
	struct nbd_handle *handle = conn->handle;

	for (;;) {
		struct pollfd fds[2] = { { .fd = conn->wake_fd, .events = POLLIN } };
		unsigned dir = 0;
		nfds_t count = 1;
		int r;

		pthread_mutex_lock(&nbd->lock);
		bool stopping = nbd->stopping;
		pthread_mutex_unlock(&nbd->lock);
		if (stopping || __atomic_load_n(&conn->stop, __ATOMIC_ACQUIRE))
			break;
		if (!nbd_aio_is_dead(handle) && !nbd_aio_is_closed(handle)) {
			dir = nbd_aio_get_direction(handle);
			fds[1].fd = conn->own_fd;
			fds[1].events = (short)(((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
						((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0));
			count = 2;
		} else {
			mark_disconnected(conn, "the connection is dead");
		}
		r = poll(fds, count, NBD_TICK_MS);
		if (r < 0 && errno != EINTR) {
			trace_dropped(TRACE_PROXY, "nbd: poll", -errno);
			usleep(10000);
		}
		if (r > 0 && (fds[0].revents & POLLIN)) {
			uint64_t n;

			if (read(conn->wake_fd, &n, sizeof(n)) < 0)
				trace_dropped(TRACE_PROXY, "nbd: reading the wake counter", -errno);
		}
		if (r > 0 && count == 2) {
			short ev = fds[1].revents;
			int n = 0;

			if ((dir & LIBNBD_AIO_DIRECTION_READ) && (ev & (POLLIN | POLLHUP | POLLERR)))
				n = nbd_aio_notify_read(handle);
			else if ((dir & LIBNBD_AIO_DIRECTION_WRITE) && (ev & (POLLOUT | POLLHUP | POLLERR)))
				n = nbd_aio_notify_write(handle);
			if (n < 0)
				mark_disconnected(conn, nbd_get_error());
		}
		check_deadlines(conn);
	}
	return NULL;
}

/* The handshake on conn's stream, within timeout_ms. */
static int handshake(struct nbd_conn *conn, int timeout_ms, const char *export_name)
{
	struct timespec deadline = deadline_after_ms((unsigned)timeout_ms);
	struct nbd_handle *handle = conn->handle;

	if (nbd_set_export_name(handle, export_name ? export_name : "") < 0)
		return -EINVAL;
	/* It starts the handshake at once, and may end it (a server that answered
	 * at once, perhaps with garbage): the state below says how. */
	if (nbd_aio_connect_socket(handle, conn->sock) < 0)
		trace(TRACE_PROXY, "nbd: connect: %s", nbd_get_error());
	while (nbd_aio_is_connecting(handle)) {
		unsigned dir = nbd_aio_get_direction(handle);
		struct pollfd pfd = {
			.fd = conn->own_fd,
			.events = (short)(((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
					  ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0)),
		};
		int r = deadline_poll(&pfd, 1, &deadline);

		if (r == 0 || r == -ETIMEDOUT)
			return -ETIMEDOUT;
		if (r < 0)
			return r;
		if ((dir & LIBNBD_AIO_DIRECTION_READ) && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			r = nbd_aio_notify_read(handle);
		else if ((dir & LIBNBD_AIO_DIRECTION_WRITE) && (pfd.revents & (POLLOUT | POLLHUP | POLLERR)))
			r = nbd_aio_notify_write(handle);
		else
			r = 0;
		if (r < 0)
			break;
	}
	if (!nbd_aio_is_ready(handle)) {
		int e = nbd_get_errno();

		trace(TRACE_PROXY, "nbd: handshake: %s", nbd_get_error());
		return e == ENOENT ? -ENOENT : -EBADMSG;
	}
	return 0;
}

static void conn_stop(struct nbd_conn *conn)
{
	if (conn->driver_started) {
		__atomic_store_n(&conn->stop, true, __ATOMIC_RELEASE);
		wake_driver(conn);
		pthread_join(conn->driver, NULL);
		conn->driver_started = false;
	}
}

/* After conn_stop. */
static void conn_free(struct nbd_conn *conn)
{
	/* Frees what is still in flight (their free callbacks answer them). */
	if (conn->handle)
		nbd_close(conn->handle);
	if (conn->wake_fd >= 0)
		close(conn->wake_fd);
	if (conn->own_fd >= 0)
		close(conn->own_fd);
	conn->handle = NULL;
	conn->wake_fd = conn->own_fd = -1;
}

/* A connection on the stream fd (the caller's: only a duplicate is kept, and
 * only on success), through its handshake; its driver not started yet. */
static int conn_open(struct nbd_disk *nbd, struct nbd_conn *conn, int fd, const char *export_name, int timeout_ms)
{
	int r;

	conn->nbd = nbd;
	conn->own_fd = conn->wake_fd = conn->sock = -1;
	conn->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	conn->handle = nbd_create();
	if (conn->wake_fd < 0 || !conn->handle) {
		conn_free(conn);
		return -ENOMEM;
	}
	/* libnbd owns the stream it is given; we keep another descriptor. */
	conn->sock = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	conn->own_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (conn->sock < 0 || conn->own_fd < 0) {
		r = -errno;
		if (conn->sock >= 0)
			close(conn->sock);
		conn_free(conn);
		return r;
	}
	r = handshake(conn, timeout_ms, export_name);
	if (r < 0) {
		if (nbd_aio_is_created(conn->handle))
			close(conn->sock); /* libnbd never took it */
		conn_free(conn);
		return r;
	}
	return 0;
}

static int conn_start(struct nbd_conn *conn)
{
	int r;

	__atomic_store_n(&conn->stop, false, __ATOMIC_RELEASE);
	r = pthread_create(&conn->driver, NULL, driver_main, conn);

	if (r != 0)
		return -r;
	conn->driver_started = true;
	__atomic_store_n(&conn->connected, true, __ATOMIC_RELEASE);
	return 0;
}

static void nbd_disk_free(struct nbd_disk *nbd)
{
	pthread_mutex_lock(&nbd->lock);
	nbd->stopping = true;
	pthread_mutex_unlock(&nbd->lock);
	for (unsigned int i = 0; i < nbd->conn_count; i++)
		conn_stop(&nbd->conns[i]);
	for (unsigned int i = 0; i < nbd->conn_count; i++)
		conn_free(&nbd->conns[i]);
	for (unsigned int i = 0; i < NBD_MAX_CONNECTIONS; i++)
		pthread_rwlock_destroy(&nbd->conns[i].use);
	if (nbd->has_identity)
		caller_identity_release(&nbd->identity);
	free(nbd->export_name);
	pthread_mutex_destroy(&nbd->reconnecting);
	pthread_mutex_destroy(&nbd->lock);
	free(nbd);
}

static void nbd_disk_close(struct vdisk *disk)
{
	nbd_disk_free(to_nbd(disk));
}

static const struct vdisk_ops nbd_ops = {
	.name = "nbd",
	.read = nbd_disk_read,
	.read_async = nbd_disk_read_async,
	.write = nbd_disk_write,
	.flush = nbd_disk_flush,
	.trim = nbd_disk_trim,
	.zero = nbd_disk_zero,
	.close = nbd_disk_close,
};

static uint32_t disk_flags(struct nbd_handle *h, bool read_only)
{
	uint32_t flags = VDISK_ASYNC_READ;

	if (read_only || nbd_is_read_only(h) == 1)
		flags |= VDISK_READ_ONLY;
	if (nbd_can_trim(h) == 1)
		flags |= VDISK_CAN_TRIM;
	if (nbd_can_zero(h) == 1)
		flags |= VDISK_CAN_ZERO;
	if (nbd_can_flush(h) == 1)
		flags |= VDISK_CAN_FLUSH;
	return flags;
}

struct connect_job {
	backend_proxy_connect_fn connect;
	void *opaque;
	int timeout_ms;
};

static int connect_job_run(void *arg)
{
	struct connect_job *job = arg;

	return job->connect(job->opaque, job->timeout_ms);
}

/* A new stream to the server, with the creator's rights. */
static int connect_stream(struct nbd_disk *nbd, int timeout_ms)
{
	struct connect_job job = { .connect = nbd->connect, .opaque = nbd->connect_opaque, .timeout_ms = timeout_ms };

	return caller_identity_run(nbd->has_identity ? &nbd->identity : NULL, connect_job_run, &job);
}

/* A connection on fd in place of the dead conn: the same export, of the same
 * size and kind (-ESTALE when the server now serves another). */
static int conn_replace(struct nbd_disk *nbd, struct nbd_conn *conn, int fd, int timeout_ms)
{
	struct nbd_conn fresh = { 0 };
	int r = conn_open(nbd, &fresh, fd, nbd->export_name, timeout_ms);

	if (r == 0 && ((uint64_t)nbd_get_size(fresh.handle) != nbd->disk.size ||
		       disk_flags(fresh.handle, nbd->read_only_asked) != nbd->disk.flags))
		r = -ESTALE;
	if (r < 0) {
		conn_free(&fresh);
		return r;
	}
	pthread_rwlock_wrlock(&conn->use);
	conn_stop(conn);
	conn_free(conn); /* what was still in flight on it fails now */
	conn->handle = fresh.handle;
	conn->sock = fresh.sock;
	conn->own_fd = fresh.own_fd;
	conn->wake_fd = fresh.wake_fd;
	r = conn_start(conn);
	pthread_rwlock_unlock(&conn->use);
	return r;
}

/* No connection is up: replace the dead ones while the policy lets us try.
 * 0 when one is up again (here or by another caller), -EIO when not. */
static int reconnect(struct nbd_disk *nbd)
{
	struct reconnect_backoff backoff;
	struct reconnect_attempt attempt;
	int r = -EIO;

	if (!nbd->connect)
		return -EIO;
	pthread_mutex_lock(&nbd->lock);
	reconnect_policy_lost(&nbd->policy);
	pthread_mutex_unlock(&nbd->lock);
	/* A caller that finds an attempt running waits for it (at most its
	 * bound) rather than failing at once, so that the requests of one burst
	 * all find the server that just came back; the policy then decides
	 * whether it makes one of its own. */
	pthread_mutex_lock(&nbd->reconnecting);
	reconnect_backoff_init(&backoff);
	for (;;) {
		struct nbd_conn *up = pick_conn(nbd);
		bool again;

		if (up) { /* another caller reconnected meanwhile */
			conn_release(up);
			r = 0;
			break;
		}
		pthread_mutex_lock(&nbd->lock);
		reconnect_policy_lost(&nbd->policy);
		if (reconnect_policy_fails_at_once(&nbd->policy, false)) {
			pthread_mutex_unlock(&nbd->lock);
			break;
		}
		attempt = reconnect_policy_attempt(&nbd->policy, false);
		pthread_mutex_unlock(&nbd->lock);
		int fd = connect_stream(nbd, attempt.timeout_ms);

		r = fd;
		if (fd >= 0) {
			r = conn_replace(nbd, &nbd->conns[0], fd, attempt.timeout_ms);
			close(fd);
		}
		pthread_mutex_lock(&nbd->lock);
		if (r == 0)
			reconnect_policy_recovered(&nbd->policy);
		again = r < 0 && reconnect_policy_attempt_failed(&nbd->policy, &attempt, r);
		pthread_mutex_unlock(&nbd->lock);
		trace(TRACE_PROXY, "nbd: reconnecting: %s", r == 0 ? "connected again" : strerror(-r));
		if (r == 0) {
			/* The others too, as far as they come (one is enough to go on). */
			for (unsigned int i = 1; i < nbd->conn_count; i++) {
				int extra;

				if (__atomic_load_n(&nbd->conns[i].connected, __ATOMIC_ACQUIRE))
					continue;
				extra = connect_stream(nbd, attempt.timeout_ms);
				if (extra < 0 || conn_replace(nbd, &nbd->conns[i], extra, attempt.timeout_ms) < 0) {
					if (extra >= 0)
						close(extra);
					trace_dropped(TRACE_PROXY, "nbd: reconnecting an extra connection", extra);
					break;
				}
				close(extra);
			}
			break;
		}
		if (!again)
			break;
		usleep(reconnect_backoff_next_ms(&backoff) * 1000u);
	}
	pthread_mutex_unlock(&nbd->reconnecting);
	return r < 0 ? -EIO : 0;
}

/* More connections to a multi-conn server, each checked to reach an export
 * of the same size and kind; the disk works with however many opened. */
static void add_connections(struct nbd_disk *nbd, const struct backend_nbd_options *options, int64_t size)
{
	unsigned int want = options->max_connections ? options->max_connections : NBD_DEFAULT_CONNECTIONS;
	if (want > NBD_MAX_CONNECTIONS)
		want = NBD_MAX_CONNECTIONS;
	while (nbd->conn_count < want) {
		struct nbd_conn *conn = &nbd->conns[nbd->conn_count];
		int fd = connect_stream(nbd, nbd->timeout_ms);
		int r;

		if (fd < 0) {
			trace_dropped(TRACE_PROXY, "nbd: an extra connection", fd);
			return;
		}
		r = conn_open(nbd, conn, fd, options->export_name, nbd->timeout_ms);
		close(fd);
		if (r == 0 && (nbd_get_size(conn->handle) != size ||
			       disk_flags(conn->handle, options->read_only) != nbd->disk.flags))
			r = -ESTALE;
		if (r == 0)
			r = conn_start(conn);
		if (r < 0) {
			conn_stop(conn);
			conn_free(conn);
			trace_dropped(TRACE_PROXY, "nbd: an extra connection", r);
			return;
		}
		/* Published once it runs: the first connection's driver reads it. */
		__atomic_store_n(&nbd->conn_count, nbd->conn_count + 1, __ATOMIC_RELEASE);
	}
}

int backend_nbd_open(const struct backend_nbd_options *options, struct vdisk **out)
{
	struct nbd_disk *nbd;
	struct nbd_conn *first;
	int64_t size, max_block;
	int r;

	if (!options || options->fd < 0 || !out)
		return -EINVAL;
	nbd = calloc(1, sizeof(*nbd));
	if (!nbd)
		return -ENOMEM;
	pthread_mutex_init(&nbd->lock, NULL);
	pthread_mutex_init(&nbd->reconnecting, NULL);
	for (unsigned int i = 0; i < NBD_MAX_CONNECTIONS; i++)
		pthread_rwlock_init(&nbd->conns[i].use, NULL);
	nbd->timeout_ms = (int)(options->timeout_ms ? options->timeout_ms : NBD_DEFAULT_TIMEOUT_MS);
	if (nbd->timeout_ms <= 0)
		nbd->timeout_ms = INT32_MAX;
	/* As for a proxy disk: reconnecting may take as long again as the
	 * timeout; once given up, an attempt is bounded by a short probe. */
	reconnect_policy_init(&nbd->policy, nbd->timeout_ms, nbd->timeout_ms < 2000 ? nbd->timeout_ms : 2000);
	nbd->connect = options->connect;
	nbd->connect_opaque = options->connect_opaque;
	nbd->read_only_asked = options->read_only;
	nbd->export_name = strdup(options->export_name ? options->export_name : "");
	if (!nbd->export_name || (options->identity && caller_identity_copy(&nbd->identity, options->identity) < 0)) {
		nbd_disk_free(nbd);
		return -ENOMEM;
	}
	nbd->has_identity = options->identity != NULL;
	first = &nbd->conns[0];
	r = conn_open(nbd, first, options->fd, options->export_name, nbd->timeout_ms);
	if (r < 0) {
		nbd_disk_free(nbd);
		return r;
	}
	nbd->conn_count = 1;
	size = nbd_get_size(first->handle);
	if (size <= 0) {
		nbd_disk_free(nbd);
		return size == 0 ? -EINVAL : -EIO;
	}
	max_block = nbd_get_block_size(first->handle, LIBNBD_SIZE_MAXIMUM);
	nbd->max_transfer = max_block > 0 && max_block < NBD_MAX_TRANSFER ? (uint32_t)max_block : NBD_MAX_TRANSFER;
	nbd->disk.ops = &nbd_ops;
	nbd->disk.size = (uint64_t)size;
	nbd->disk.flags = disk_flags(first->handle, options->read_only);
	r = conn_start(first);
	if (r < 0) {
		nbd_disk_free(nbd);
		return r;
	}
	if (options->connect && nbd_can_multi_conn(first->handle) == 1)
		add_connections(nbd, options, size);
	trace(TRACE_PROXY, "nbd: export '%s', %" PRId64 " bytes, flags %#x, transfer %" PRIu32 ", %u connection%s",
	      options->export_name ? options->export_name : "", size, nbd->disk.flags, nbd->max_transfer,
	      nbd->conn_count, nbd->conn_count == 1 ? "" : "s");
	close(options->fd); /* the disk's: only duplicates are kept */
	*out = &nbd->disk;
	return 0;
}

bool backend_nbd_connected(struct vdisk *disk)
{
	struct nbd_disk *nbd;

	if (!disk || disk->ops != &nbd_ops)
		return false;
	nbd = to_nbd(disk);
	for (unsigned int i = 0; i < nbd->conn_count; i++)
		if (__atomic_load_n(&nbd->conns[i].connected, __ATOMIC_ACQUIRE))
			return true;
	return false;
}

unsigned int backend_nbd_connections(struct vdisk *disk)
{
	return disk && disk->ops == &nbd_ops ? to_nbd(disk)->conn_count : 0;
}
