/* An NBD connection: the fixed newstyle handshake, then the transmission phase,
 * over one accepted socket.  What every option and request means is
 * src/protocol/nbd.c's; this file moves bytes and calls the served disk, through
 * devio_disk_begin/devio_disk_end like the IMDPROXY handler, so that devio's
 * shutdown and limits hold for both protocols alike.
 *
 * Requests are served concurrently: the connection's thread reads them (a
 * request and its data whole), queues them, and NBD_WORKERS worker threads serve
 * them, each writing its reply whole under the connection's write lock, so that
 * replies go out in the order they finish.  At most NBD_MAX_IN_FLIGHT requests
 * are read ahead; their buffers count against the server's max_buffer_memory. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/deadline.h"
#include "common/log.h"
#include "common/stream_io.h"
#include "common/trace.h"
#include "devio/devio.h"
#include "protocol/nbd.h"

#define NBD_WORKERS 4
#define NBD_MAX_IN_FLIGHT 32
/* Block status reads the disk to say truthfully where it reads as zeroes: in
 * chunks of this much, and at most NBD_STATUS_SCAN_MAX bytes for one request
 * (the client asks again for the rest). */
#define NBD_STATUS_CHUNK (64u * 1024)
#define NBD_STATUS_SCAN_MAX (8u << 20)
#define NBD_STATUS_MAX_EXTENTS (NBD_STATUS_SCAN_MAX / NBD_STATUS_CHUNK + 1)
/* Option data longer than NBD_MAX_OPTION_LENGTH but at most this is read and
 * refused; longer drops the connection. */
#define NBD_OPTION_SKIP_MAX (1u << 20)
/* Bytes read ahead from the socket: many small requests come in one read. */
#define NBD_READ_AHEAD (64u * 1024)

struct nbd_job {
	struct nbd_job *next;
	struct nbd_request req;
	uint8_t *data;   /* a WRITE's data, a READ's reply data, a status scan */
	size_t reserved; /* counted in the server's buffer_memory */
};

struct nbd_conn {
	struct devio_server *server;
	int fd;
	const char *peer;
	bool in_handshake;
	struct nbd_export exp;
	struct nbd_handshake hs;

	pthread_mutex_t lock;    /* the queue and the counts */
	pthread_cond_t changed;  /* a job was queued or finished, or closing */
	struct nbd_job *head, *tail;
	unsigned int in_flight;  /* queued or being served */
	bool closing;            /* the reader is done: workers drain and end */

	pthread_mutex_t write_lock; /* one whole reply at a time */
	bool write_failed;

	/* Bytes read but not yet taken: ahead[ahead_start, ahead_end). */
	size_t ahead_start, ahead_end;
	uint8_t ahead[NBD_READ_AHEAD];
};

/* Read exactly len bytes: 1, 0 at end of stream before any byte, -EPIPE at end
 * of stream after some, -ECANCELED when devio stops, -ETIMEDOUT when nothing came
 * for the idle timeout (where it holds) while no request was in flight, or
 * -errno.  Small reads come out of the read-ahead (many request headers in one
 * read); one of half its size or more goes straight into buf. */
static int conn_read(struct nbd_conn *c, void *buf, size_t len)
{
	struct devio_server *server = c->server;
	struct pollfd fds[2] = {
		{.fd = c->fd, .events = POLLIN},
		{.fd = server->stop_fd, .events = POLLIN},
	};
	bool limited = server->idle_timeout_ms &&
		       (c->in_handshake || server->nbd_idle_between_requests);
	uint8_t *dst = buf;
	struct timespec deadline;
	size_t got = c->ahead_end - c->ahead_start;

	if (got > len)
		got = len;
	memcpy(dst, c->ahead + c->ahead_start, got);
	c->ahead_start += got;
	if (limited)
		deadline = deadline_after_ms(server->idle_timeout_ms);
	while (got < len) {
		bool direct = len - got >= sizeof(c->ahead) / 2;
		ssize_t n;
		int r;

		/* Read at once what is there: the poll only when nothing is. */
		n = recv(c->fd, direct ? dst + got : c->ahead,
			 direct ? len - got : sizeof(c->ahead), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			r = deadline_poll(fds, 2, limited ? &deadline : NULL);
			if (r == -ETIMEDOUT) {
				bool busy;

				pthread_mutex_lock(&c->lock);
				busy = c->in_flight > 0;
				pthread_mutex_unlock(&c->lock);
				if (!busy)
					return -ETIMEDOUT;
				/* The client waits for replies: it is not idle. */
				deadline = deadline_after_ms(server->idle_timeout_ms);
				continue;
			}
			if (r < 0)
				return r;
			if (fds[1].revents)
				return -ECANCELED;
			continue;
		}
		if (atomic_load(&server->stopping))
			return -ECANCELED;
		if (n < 0)
			return errno == ECONNRESET && got == 0 ? 0 : -errno;
		if (n == 0)
			return got == 0 ? 0 : -EPIPE;
		if (direct) {
			got += (size_t)n;
		} else {
			size_t take = (size_t)n < len - got ? (size_t)n : len - got;

			memcpy(dst + got, c->ahead, take);
			got += take;
			c->ahead_start = take;
			c->ahead_end = (size_t)n;
		}
		if (limited)
			deadline = deadline_after_ms(server->idle_timeout_ms);
	}
	return 1;
}

/* A whole reply, under the write lock; after one failure nothing more is sent,
 * and the socket is shut down so that the reader sees the end too. */
static int conn_send(struct nbd_conn *c, struct iovec *iov, int count)
{
	int r = 0;

	pthread_mutex_lock(&c->write_lock);
	if (c->write_failed)
		r = -EPIPE;
	else if ((r = stream_write_all(c->fd, iov, count, NULL)) < 0) {
		/* Callers drop this result: the reader ends the connection instead. */
		trace_dropped(TRACE_DEVIO, "an NBD reply", r);
		c->write_failed = true;
		shutdown(c->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&c->write_lock);
	return r;
}

static int send_bytes(struct nbd_conn *c, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	return conn_send(c, &iov, 1);
}

/* ---- the handshake ---- */

static void conn_describe_export(struct nbd_conn *c)
{
	const struct devio_server *server = c->server;
	const struct vdisk *disk = server->disk;
	uint32_t max = NBD_MAX_PAYLOAD;

	memset(&c->exp, 0, sizeof(c->exp));
	c->exp.size = disk->size;
	c->exp.read_only = disk->flags & VDISK_READ_ONLY;
	/* A trim is advice: where the disk cannot free space it does nothing. */
	c->exp.can_trim = true;
	if (server->buffer_size < max)
		max = (uint32_t)(server->buffer_size & ~(size_t)511);
	c->exp.max_block = max;
	c->exp.preferred_block = max < 4096 ? max : 4096;
	/* The block size constraints must be powers of two. */
	c->exp.min_block = (server->alignment & (server->alignment - 1)) == 0
				   ? (uint32_t)server->alignment : 1;
}

/* Options until one starts the transmission phase: 1 then, 0 when the client
 * ended the handshake (ABORT, or a clean close), or negative. */
static int conn_handshake(struct nbd_conn *c)
{
	uint8_t buf[NBD_GREETING_SIZE > NBD_OPTION_HEADER_SIZE ? NBD_GREETING_SIZE
							       : NBD_OPTION_HEADER_SIZE];
	uint8_t *data, *out;
	int r;

	conn_describe_export(c);
	r = send_bytes(c, buf, nbd_encode_greeting(buf));
	if (r < 0)
		return r;
	r = conn_read(c, buf, NBD_CLIENT_FLAGS_SIZE);
	if (r <= 0)
		return r;
	if (nbd_decode_client_flags(buf, &c->hs) < 0) {
		log_warning("%s: not a fixed newstyle NBD client: disconnecting", c->peer);
		return -EPROTO;
	}
	data = malloc(NBD_MAX_OPTION_LENGTH);
	out = malloc(NBD_MAX_OPTION_REPLIES);
	if (!data || !out) {
		free(data);
		free(out);
		return -ENOMEM;
	}
	for (;;) {
		enum nbd_option_result result;
		uint32_t option, length;
		size_t out_len;

		r = conn_read(c, buf, NBD_OPTION_HEADER_SIZE);
		if (r <= 0)
			break;
		if (nbd_decode_option_header(buf, &option, &length) < 0) {
			log_warning("%s: bad NBD option magic: disconnecting", c->peer);
			r = -EPROTO;
			break;
		}
		if (length > NBD_OPTION_SKIP_MAX) {
			log_warning("%s: NBD option %s of %" PRIu32 " bytes: disconnecting", c->peer,
				    nbd_option_name(option), length);
			r = -EMSGSIZE;
			break;
		}
		/* Too long to take, short enough to skip: read off and refused. */
		for (uint32_t left = length; left > 0 && r > 0;) {
			uint32_t take = left < NBD_MAX_OPTION_LENGTH ? left : NBD_MAX_OPTION_LENGTH;

			r = conn_read(c, data, take);
			left -= take;
		}
		if (length > 0 && r <= 0) {
			r = r == 0 ? -EPIPE : r;
			break;
		}
		trace(TRACE_DEVIO, "%s: NBD option %s (%" PRIu32 " bytes)", c->peer,
		      nbd_option_name(option), length);
		result = nbd_handle_option(&c->exp, &c->hs, option, data, length, out, &out_len);
		r = out_len ? send_bytes(c, out, out_len) : 0;
		if (r < 0)
			break;
		if (result == NBD_OPTION_CLOSE) {
			r = 0;
			break;
		}
		if (result == NBD_OPTION_TRANSMISSION) {
			r = 1;
			break;
		}
	}
	free(data);
	free(out);
	return r;
}

/* ---- serving one request ---- */

static int send_simple(struct nbd_conn *c, const struct nbd_request *req, uint32_t error)
{
	uint8_t header[NBD_SIMPLE_REPLY_SIZE];

	return send_bytes(c, header, nbd_encode_simple_reply(header, error, req->cookie));
}

/* An error: a structured ERROR chunk where the command's replies are structured. */
static int send_error(struct nbd_conn *c, const struct nbd_request *req, uint32_t error,
		      const char *message)
{
	uint8_t chunk[NBD_MAX_ERROR_CHUNK];

	trace(TRACE_DEVIO, "%s: NBD %s offset %" PRIu64 " length %" PRIu32 ": error %" PRIu32
	      " (%s)", c->peer, nbd_command_name(req->type), req->offset, req->length, error,
	      message);
	if (c->hs.structured_replies &&
	    (req->type == NBD_CMD_READ || req->type == NBD_CMD_BLOCK_STATUS))
		return send_bytes(c, chunk, nbd_encode_error_chunk(chunk, NBD_REPLY_FLAG_DONE,
								   req->cookie, error, message));
	return send_simple(c, req, error);
}

static int send_read(struct nbd_conn *c, const struct nbd_request *req, const uint8_t *data)
{
	uint8_t header[NBD_CHUNK_HEADER_SIZE + 8];
	struct iovec iov[2] = {
		{.iov_base = header},
		{.iov_base = (void *)data, .iov_len = req->length},
	};

	if (c->hs.structured_replies)
		iov[0].iov_len = nbd_encode_offset_data(header, NBD_REPLY_FLAG_DONE, req->cookie,
							req->offset, req->length);
	else
		iov[0].iov_len = nbd_encode_simple_reply(header, 0, req->cookie);
	return conn_send(c, iov, 2);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* base:allocation by reading: a region that reads as zeroes is NBD_STATE_ZERO.
 * No region is called a hole: the disk interface cannot say what is allocated,
 * and a hole claimed wrongly would be a lie a client acts on. */
static int serve_block_status(struct nbd_conn *c, const struct nbd_request *req, uint8_t *scan)
{
	struct nbd_extent extents[NBD_STATUS_MAX_EXTENTS];
	uint8_t chunk[NBD_CHUNK_HEADER_SIZE + 4 + 8 * NBD_STATUS_MAX_EXTENTS];
	size_t count = 0;
	uint64_t offset = req->offset, end = req->offset + req->length;
	uint64_t scanned = 0;
	int r = devio_disk_begin(c->server);

	if (r < 0)
		return send_error(c, req, nbd_error_from_errno(-r), "devio is stopping");
	while (offset < end && scanned < NBD_STATUS_SCAN_MAX) {
		/* Chunks on absolute boundaries, so that answers line up. */
		uint64_t step = NBD_STATUS_CHUNK - offset % NBD_STATUS_CHUNK;
		uint32_t state;

		if (step > end - offset)
			step = end - offset;
		r = vdisk_read(c->server->disk, scan, (size_t)step, offset);
		if (r < 0)
			break;
		state = all_zero(scan, (size_t)step) ? NBD_STATE_ZERO : 0;
		if (count > 0 && extents[count - 1].flags == state) {
			extents[count - 1].length += (uint32_t)step;
		} else {
			if (count > 0 && (req->flags & NBD_CMD_FLAG_REQ_ONE))
				break;
			extents[count++] = (struct nbd_extent){.length = (uint32_t)step, .flags = state};
		}
		offset += step;
		scanned += step;
	}
	devio_disk_end(c->server);
	if (r < 0 && count == 0)
		return send_error(c, req, nbd_error_from_errno(-r), strerror(-r));
	return send_bytes(c, chunk, nbd_encode_block_status(chunk, NBD_REPLY_FLAG_DONE, req->cookie,
							    NBD_META_BASE_ALLOCATION_ID, extents,
							    count));
}

/* WRITE_ZEROES: NO_HOLE zeroes in place, else the range may become a hole.  With
 * FAST_ZERO it is refused unless the disk does it natively (not by writing). */
static int write_zeroes(struct nbd_conn *c, const struct nbd_request *req)
{
	struct vdisk *disk = c->server->disk;
	bool no_hole = req->flags & NBD_CMD_FLAG_NO_HOLE;

	if (req->flags & NBD_CMD_FLAG_FAST_ZERO) {
		bool fast = (disk->flags & VDISK_CAN_ZERO) ||
			    (!no_hole && (disk->flags & VDISK_CAN_TRIM) &&
			     (disk->flags & VDISK_TRIM_ZEROES));
		if (!fast)
			return -EOPNOTSUPP;
	}
	return no_hole ? vdisk_zero(disk, req->offset, req->length)
		       : vdisk_punch(disk, req->offset, req->length);
}

static void serve_job(struct nbd_conn *c, struct nbd_job *job)
{
	struct devio_server *server = c->server;
	const struct nbd_request *req = &job->req;
	uint32_t error = nbd_check_request(&c->exp, &c->hs, req);
	bool durable;
	int r;

	if (error) {
		send_error(c, req, error, "request refused");
		return;
	}
	log_debug("%s: NBD %s offset %" PRIu64 " length %" PRIu32 " flags 0x%x", c->peer,
		  nbd_command_name(req->type), req->offset, req->length, req->flags);
	if (req->type == NBD_CMD_BLOCK_STATUS) {
		serve_block_status(c, req, job->data);
		return;
	}
	r = devio_disk_begin(server);
	if (r < 0) {
		send_error(c, req, nbd_error_from_errno(-r), "devio is stopping");
		return;
	}
	/* FUA, or write-through: the change is durable before it is acknowledged. */
	durable = (req->flags & NBD_CMD_FLAG_FUA) || !server->writeback;
	switch (req->type) {
	case NBD_CMD_READ:
		r = vdisk_read(server->disk, job->data, req->length, req->offset);
		break;
	case NBD_CMD_WRITE:
		r = vdisk_write(server->disk, job->data, req->length, req->offset);
		break;
	case NBD_CMD_FLUSH:
		r = vdisk_flush(server->disk);
		durable = false;
		break;
	case NBD_CMD_TRIM:
		r = vdisk_trim(server->disk, req->offset, req->length);
		break;
	case NBD_CMD_WRITE_ZEROES:
		r = write_zeroes(c, req);
		break;
	default:
		/* CACHE: advice; every disk here is as fast to read now as later. */
		r = 0;
		durable = false;
		break;
	}
	if (r == 0 && durable && req->type != NBD_CMD_READ)
		r = vdisk_flush(server->disk);
	devio_disk_end(server);
	if (r < 0)
		send_error(c, req, nbd_error_from_errno(-r), strerror(-r));
	else if (req->type == NBD_CMD_READ)
		send_read(c, req, job->data);
	else
		send_simple(c, req, 0);
}

static void job_free(struct nbd_conn *c, struct nbd_job *job)
{
	free(job->data);
	atomic_fetch_sub(&c->server->buffer_memory, job->reserved);
	free(job);
}

static void *worker_thread(void *arg)
{
	struct nbd_conn *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct nbd_job *job = c->head;

		if (!job) {
			if (c->closing)
				break;
			pthread_cond_wait(&c->changed, &c->lock);
			continue;
		}
		c->head = job->next;
		if (!c->head)
			c->tail = NULL;
		pthread_mutex_unlock(&c->lock);
		serve_job(c, job);
		job_free(c, job);
		pthread_mutex_lock(&c->lock);
		c->in_flight--;
		pthread_cond_broadcast(&c->changed);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- the transmission phase ---- */

/* Count need bytes against the server's max_buffer_memory: while this
 * connection has requests in flight, wait for them to give theirs back.
 * 0, or -ENOMEM when the limit is reached with nothing of ours in flight. */
static int conn_reserve(struct nbd_conn *c, size_t need)
{
	struct devio_server *server = c->server;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		size_t held = atomic_fetch_add(&server->buffer_memory, need) + need;

		if (held <= server->max_buffer_memory)
			break;
		atomic_fetch_sub(&server->buffer_memory, need);
		if (c->in_flight == 0) {
			pthread_mutex_unlock(&c->lock);
			return -ENOMEM;
		}
		pthread_cond_wait(&c->changed, &c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* Read one request (and its data) and queue it: 1, 0 at a clean end (DISC,
 * end of stream), or negative. */
static int conn_read_request(struct nbd_conn *c)
{
	uint8_t header[NBD_REQUEST_SIZE];
	struct nbd_request req;
	struct nbd_job *job;
	uint32_t payload;
	size_t need;
	int r;

	pthread_mutex_lock(&c->lock);
	while (c->in_flight >= NBD_MAX_IN_FLIGHT)
		pthread_cond_wait(&c->changed, &c->lock);
	pthread_mutex_unlock(&c->lock);

	r = conn_read(c, header, sizeof(header));
	if (r <= 0)
		return r;
	if (nbd_decode_request(header, &req) < 0) {
		log_warning("%s: bad NBD request magic: disconnecting", c->peer);
		return -EPROTO;
	}
	if (req.type == NBD_CMD_DISC) {
		trace(TRACE_DEVIO, "%s: NBD DISC", c->peer);
		return 0;
	}
	payload = nbd_request_payload(&req);
	if (payload > c->exp.max_block) {
		/* Reading it all to stay in step could take forever: the protocol lets
		 * the server disconnect instead. */
		log_warning("%s: NBD %s of %" PRIu32 " bytes exceeds %" PRIu32 ": disconnecting",
			    c->peer, nbd_command_name(req.type), payload, c->exp.max_block);
		return -EMSGSIZE;
	}
	need = payload;
	if (req.type == NBD_CMD_READ && req.length <= c->exp.max_block)
		need = req.length;
	else if (req.type == NBD_CMD_BLOCK_STATUS)
		need = NBD_STATUS_CHUNK;
	r = conn_reserve(c, need);
	if (r < 0) {
		log_warning("%s: NBD %s of %zu bytes: request buffers are at their limit (%zu "
			    "bytes): disconnecting", c->peer, nbd_command_name(req.type), need,
			    c->server->max_buffer_memory);
		return r;
	}
	job = calloc(1, sizeof(*job));
	if (job)
		job->data = malloc(need ? need : 1);
	if (!job || !job->data) {
		free(job);
		atomic_fetch_sub(&c->server->buffer_memory, need);
		return -ENOMEM;
	}
	job->req = req;
	job->reserved = need;
	if (payload > 0) {
		r = conn_read(c, job->data, payload);
		if (r <= 0) {
			job_free(c, job);
			return r == 0 ? -EPIPE : r;
		}
	}
	pthread_mutex_lock(&c->lock);
	if (c->tail)
		c->tail->next = job;
	else
		c->head = job;
	c->tail = job;
	c->in_flight++;
	pthread_cond_signal(&c->changed);
	pthread_mutex_unlock(&c->lock);
	return 1;
}

static int conn_transmission(struct nbd_conn *c)
{
	pthread_t workers[NBD_WORKERS];
	unsigned int started = 0;
	int r = 0;

	for (; started < NBD_WORKERS; started++) {
		r = -pthread_create(&workers[started], NULL, worker_thread, c);
		if (r < 0)
			break;
	}
	if (started == 0)
		return r;
	do
		r = conn_read_request(c);
	while (r > 0);
	/* Requests read are still answered (a DISC waits for them, as it must). */
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(workers[i], NULL);
	return r;
}

int devio_serve_nbd(struct devio_server *server, int fd, const char *peer)
{
	struct nbd_conn *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->server = server;
	c->fd = fd;
	c->peer = peer;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->changed, NULL);
	pthread_mutex_init(&c->write_lock, NULL);
	trace(TRACE_DEVIO, "%s: NBD session open", peer);

	c->in_handshake = true;
	r = conn_handshake(c);
	c->in_handshake = false;
	if (r > 0) {
		trace(TRACE_DEVIO, "%s: NBD transmission (structured replies %s, base:allocation "
		      "%s)", peer, c->hs.structured_replies ? "on" : "off",
		      c->hs.base_allocation ? "on" : "off");
		r = conn_transmission(c);
	}
	/* Write-back: what the connection wrote is durable once it ends. */
	if (server->writeback) {
		int f = devio_server_flush(server);
		if (f < 0)
			log_warning("%s: flush at the end of the session: %s", peer, strerror(-f));
	}
	if (r == -ECANCELED)
		r = 0;
	trace(TRACE_DEVIO, "%s: NBD session over: %s", peer, r == 0 ? "ended" : strerror(-r));
	pthread_mutex_destroy(&c->write_lock);
	pthread_cond_destroy(&c->changed);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return r;
}
