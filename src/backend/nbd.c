/* NBD client: a disk whose bytes live in an NBD server (nbdkit, qemu-nbd, devio
 * --nbd), through libnbd's asynchronous API.
 *
 * One libnbd handle on the stream the caller connected; a thread of its own
 * drives it (poll, then nbd_aio_notify_read / _write), so any number of
 * requests are in flight at once: each caller submits its command and waits for
 * the completion callback (or, for read_async, is called back from that thread).
 *
 * Every request carries a deadline (timeout_ms).  The driving thread looks at
 * the deadlines between polls; a request not answered in time means a silent
 * server: the socket is shut down, libnbd then fails every command in flight,
 * and the disk shows as disconnected.  A server that went away does the same at
 * once (the socket reads end-of-file).  After that every request fails with
 * -EIO without waiting: no reconnection (yet).
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

#include "common/deadline.h"
#include "common/trace.h"

#define NBD_DEFAULT_TIMEOUT_MS 30000u
/* How often the driving thread looks at the deadlines while nothing happens. */
#define NBD_TICK_MS 100
/* The largest READ or WRITE sent as one command (libnbd refuses more than 64 MiB). */
#define NBD_MAX_TRANSFER (32u << 20)
/* The largest TRIM or WRITE_ZEROES (the protocol's length is 32 bits). */
#define NBD_MAX_RANGE (1u << 30)

enum nbd_req_kind { REQ_READ, REQ_WRITE, REQ_FLUSH, REQ_TRIM, REQ_ZERO };

struct nbd_req {
	struct nbd_disk *nbd;
	struct nbd_req *prev, *next; /* in nbd->in_flight until libnbd frees it */
	pthread_cond_t cond;
	int refs;          /* the submitter and libnbd */
	bool completed;    /* the completion callback ran */
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

struct nbd_disk {
	struct vdisk disk;
	struct nbd_handle *handle;
	int sock;      /* the stream libnbd drives (libnbd's: closed by nbd_close) */
	/* The caller's descriptor of the same socket, kept: polled and shut down
	 * through it, since libnbd closes its own when the connection dies and
	 * the number may then be another file's. */
	int own_fd;
	int wake_fd;   /* eventfd: a command was submitted, or closing */
	pthread_t driver;
	bool driver_started;
	int timeout_ms;
	uint32_t max_transfer;
	pthread_mutex_t lock;
	struct nbd_req *in_flight; /* every request libnbd still holds */
	bool connected;            /* false once the server went away or fell silent */
	bool stopping;
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

static struct nbd_req *req_new(struct nbd_disk *nbd, size_t len)
{
	struct nbd_req *req = calloc(1, sizeof(*req) + len);

	if (!req)
		return NULL;
	req->nbd = nbd;
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

static void wake_driver(struct nbd_disk *nbd)
{
	uint64_t one = 1;

	if (write(nbd->wake_fd, &one, sizeof(one)) < 0)
		trace_dropped(TRACE_PROXY, "nbd: waking the driver", -errno);
}

/* Hands req to libnbd: 0, or -EIO when it would not take it (then its free
 * callback has already run). */
static int req_submit(struct nbd_disk *nbd, struct nbd_req *req, enum nbd_req_kind kind, uint64_t offset,
		      uint64_t len)
{
	nbd_completion_callback cb = { .callback = on_complete, .user_data = req, .free = on_free };
	int64_t cookie;

	switch (kind) {
	case REQ_READ:
		cookie = nbd_aio_pread(nbd->handle, req->data, req->len, offset, cb, 0);
		break;
	case REQ_WRITE:
		cookie = nbd_aio_pwrite(nbd->handle, req->data, req->len, offset, cb, 0);
		break;
	case REQ_FLUSH:
		cookie = nbd_aio_flush(nbd->handle, cb, 0);
		break;
	case REQ_TRIM:
		cookie = nbd_aio_trim(nbd->handle, len, offset, cb, 0);
		break;
	default:
		cookie = nbd_aio_zero(nbd->handle, len, offset, cb, 0);
		break;
	}
	if (cookie < 0) {
		trace(TRACE_PROXY, "nbd: command not sent: %s", nbd_get_error());
		return -EIO;
	}
	wake_driver(nbd); /* it may have to wait for room to send the rest */
	return 0;
}

/* One command, waited for: 0 or -EIO. */
static int run_one(struct nbd_disk *nbd, enum nbd_req_kind kind, void *buf, size_t len, uint64_t offset,
		   uint64_t range_len)
{
	size_t data_len = kind == REQ_READ || kind == REQ_WRITE ? len : 0;
	struct nbd_req *req;
	struct timespec give_up;
	int r;

	if (!__atomic_load_n(&nbd->connected, __ATOMIC_ACQUIRE))
		return -EIO; /* gone: no waiting */
	req = req_new(nbd, data_len);
	if (!req)
		return -ENOMEM;
	if (kind == REQ_WRITE)
		memcpy(req->data, buf, len);
	r = req_submit(nbd, req, kind, offset, range_len);
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
		if (r == 0 && kind == REQ_READ)
			memcpy(buf, req->data, len);
	}
	req_unref_locked(req);
	pthread_mutex_unlock(&nbd->lock);
	return r;
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
	struct nbd_req *req;
	int r;

	if (len > nbd->max_transfer)
		return -EOPNOTSUPP; /* the caller reads (split) instead */
	if (!__atomic_load_n(&nbd->connected, __ATOMIC_ACQUIRE))
		return -EIO;
	req = req_new(nbd, len);
	if (!req)
		return -ENOMEM;
	req->done = done;
	req->opaque = opaque;
	r = req_submit(nbd, req, REQ_READ, offset, len);
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
static void mark_disconnected(struct nbd_disk *nbd, const char *why)
{
	if (!__atomic_exchange_n(&nbd->connected, false, __ATOMIC_ACQ_REL))
		return;
	trace(TRACE_PROXY, "nbd: disconnected: %s", why);
	if (shutdown(nbd->own_fd, SHUT_RDWR) < 0)
		trace_dropped(TRACE_PROXY, "nbd: shutting the connection down", -errno);
}

/* A request past its deadline: the server is silent. */
static void check_deadlines(struct nbd_disk *nbd)
{
	struct timespec now;
	bool expired = false;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&nbd->lock);
	for (struct nbd_req *req = nbd->in_flight; req && !expired; req = req->next)
		expired = !req->completed && (now.tv_sec > req->deadline.tv_sec ||
					      (now.tv_sec == req->deadline.tv_sec &&
					       now.tv_nsec >= req->deadline.tv_nsec));
	pthread_mutex_unlock(&nbd->lock);
	if (expired)
		mark_disconnected(nbd, "a request was not answered in time");
}

static void *driver_main(void *arg)
{
	struct nbd_disk *nbd = arg;

	for (;;) {
		struct pollfd fds[2] = { { .fd = nbd->wake_fd, .events = POLLIN } };
		unsigned dir = 0;
		nfds_t count = 1;
		int r;

		pthread_mutex_lock(&nbd->lock);
		bool stopping = nbd->stopping;
		pthread_mutex_unlock(&nbd->lock);
		if (stopping)
			break;
		if (!nbd_aio_is_dead(nbd->handle) && !nbd_aio_is_closed(nbd->handle)) {
			dir = nbd_aio_get_direction(nbd->handle);
			fds[1].fd = nbd->own_fd;
			fds[1].events = (short)(((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
						((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0));
			count = 2;
		} else {
			mark_disconnected(nbd, "the connection is dead");
		}
		r = poll(fds, count, NBD_TICK_MS);
		if (r < 0 && errno != EINTR) {
			trace_dropped(TRACE_PROXY, "nbd: poll", -errno);
			usleep(10000);
		}
		if (r > 0 && (fds[0].revents & POLLIN)) {
			uint64_t n;

			if (read(nbd->wake_fd, &n, sizeof(n)) < 0)
				trace_dropped(TRACE_PROXY, "nbd: reading the wake counter", -errno);
		}
		if (r > 0 && count == 2) {
			short ev = fds[1].revents;
			int n = 0;

			if ((dir & LIBNBD_AIO_DIRECTION_READ) && (ev & (POLLIN | POLLHUP | POLLERR)))
				n = nbd_aio_notify_read(nbd->handle);
			else if ((dir & LIBNBD_AIO_DIRECTION_WRITE) && (ev & (POLLOUT | POLLHUP | POLLERR)))
				n = nbd_aio_notify_write(nbd->handle);
			if (n < 0)
				mark_disconnected(nbd, nbd_get_error());
		}
		check_deadlines(nbd);
	}
	return NULL;
}

/* The handshake on the caller's stream, within timeout_ms. */
static int handshake(struct nbd_disk *nbd, int sock, const char *export_name)
{
	struct timespec deadline = deadline_after_ms((unsigned)nbd->timeout_ms);

	if (nbd_set_export_name(nbd->handle, export_name ? export_name : "") < 0)
		return -EINVAL;
	if (nbd_aio_connect_socket(nbd->handle, sock) < 0) {
		trace(TRACE_PROXY, "nbd: connect: %s", nbd_get_error());
		return -EIO;
	}
	while (nbd_aio_is_connecting(nbd->handle)) {
		unsigned dir = nbd_aio_get_direction(nbd->handle);
		struct pollfd pfd = {
			.fd = sock,
			.events = (short)(((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
					  ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0)),
		};
		int r = deadline_poll(&pfd, 1, &deadline);

		if (r == 0 || r == -ETIMEDOUT)
			return -ETIMEDOUT;
		if (r < 0)
			return r;
		if ((dir & LIBNBD_AIO_DIRECTION_READ) && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			r = nbd_aio_notify_read(nbd->handle);
		else if ((dir & LIBNBD_AIO_DIRECTION_WRITE) && (pfd.revents & (POLLOUT | POLLHUP | POLLERR)))
			r = nbd_aio_notify_write(nbd->handle);
		else
			r = 0;
		if (r < 0)
			break;
	}
	if (!nbd_aio_is_ready(nbd->handle)) {
		int e = nbd_get_errno();

		trace(TRACE_PROXY, "nbd: handshake: %s", nbd_get_error());
		return e == ENOENT ? -ENOENT : -ECONNREFUSED;
	}
	return 0;
}

static void nbd_disk_free(struct nbd_disk *nbd)
{
	if (nbd->driver_started) {
		pthread_mutex_lock(&nbd->lock);
		nbd->stopping = true;
		pthread_mutex_unlock(&nbd->lock);
		wake_driver(nbd);
		pthread_join(nbd->driver, NULL);
	}
	/* Frees what is still in flight (their free callbacks answer them). */
	if (nbd->handle)
		nbd_close(nbd->handle);
	if (nbd->wake_fd >= 0)
		close(nbd->wake_fd);
	if (nbd->own_fd >= 0)
		close(nbd->own_fd);
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

int backend_nbd_open(const struct backend_nbd_options *options, struct vdisk **out)
{
	struct nbd_disk *nbd;
	int64_t size, max_block;
	int sock, r;

	if (!options || options->fd < 0 || !out)
		return -EINVAL;
	nbd = calloc(1, sizeof(*nbd));
	if (!nbd)
		return -ENOMEM;
	pthread_mutex_init(&nbd->lock, NULL);
	nbd->own_fd = -1;
	nbd->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	nbd->timeout_ms = (int)(options->timeout_ms ? options->timeout_ms : NBD_DEFAULT_TIMEOUT_MS);
	if (nbd->timeout_ms <= 0)
		nbd->timeout_ms = INT32_MAX;
	nbd->handle = nbd_create();
	if (nbd->wake_fd < 0 || !nbd->handle) {
		nbd_disk_free(nbd);
		return -ENOMEM;
	}
	/* libnbd owns the stream it is given: a duplicate, so that on failure
	 * the caller's descriptor is still the caller's. */
	sock = fcntl(options->fd, F_DUPFD_CLOEXEC, 0);
	if (sock < 0) {
		r = -errno;
		nbd_disk_free(nbd);
		return r;
	}
	nbd->sock = sock;
	r = handshake(nbd, sock, options->export_name);
	if (r < 0) {
		if (nbd_aio_is_created(nbd->handle))
			close(sock); /* libnbd never took it */
		nbd_disk_free(nbd);
		return r;
	}
	size = nbd_get_size(nbd->handle);
	if (size <= 0) {
		nbd_disk_free(nbd);
		return size == 0 ? -EINVAL : -EIO;
	}
	max_block = nbd_get_block_size(nbd->handle, LIBNBD_SIZE_MAXIMUM);
	nbd->max_transfer = max_block > 0 && max_block < NBD_MAX_TRANSFER ? (uint32_t)max_block : NBD_MAX_TRANSFER;
	nbd->connected = true;
	nbd->disk.ops = &nbd_ops;
	nbd->disk.size = (uint64_t)size;
	nbd->disk.flags = disk_flags(nbd->handle, options->read_only);
	r = pthread_create(&nbd->driver, NULL, driver_main, nbd);
	if (r != 0) {
		nbd_disk_free(nbd);
		return -r;
	}
	nbd->driver_started = true;
	nbd->own_fd = options->fd; /* the disk's now */
	trace(TRACE_PROXY, "nbd: export '%s', %" PRId64 " bytes, flags %#x, transfer %" PRIu32,
	      options->export_name ? options->export_name : "", size, nbd->disk.flags, nbd->max_transfer);
	*out = &nbd->disk;
	return 0;
}

bool backend_nbd_connected(struct vdisk *disk)
{
	if (!disk || disk->ops != &nbd_ops)
		return false;
	return __atomic_load_n(&to_nbd(disk)->connected, __ATOMIC_ACQUIRE);
}
