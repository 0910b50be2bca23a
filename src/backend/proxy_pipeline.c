/* Pipelined reads: a proxy disk's READs sent one after another on connections
 * of their own ("pipes") without waiting for the replies, which a reader thread
 * per pipe takes in order and hands to the caller's completion.
 *
 * Why: a READ that waits for its reply holds its caller (a FUSE worker) for a
 * whole round trip, so a disk has only as many reads in flight as it has waiting
 * threads, and every read costs a sleep and a wake-up on both sides.  Here the
 * worker sends and goes back for the next request; under load one receive
 * brings several replies, and the server (which reads ahead on its stream)
 * takes several requests per wake-up.
 *
 * Only READs, which can be sent again.  Writes, trims and zeroes keep their
 * exchange on the pool (proxy.c), where a write is retried from the request it
 * still holds.  A pipe whose stream breaks hands its pending reads to that path
 * (proxy_read: reconnection and retry); a silent one fails them with EIO once
 * the oldest has waited the disk's timeout, as a waiting read would.
 *
 * Pipes need connections of their own: a server reached through the connect
 * callback that takes more than one client.  Otherwise (a passed descriptor
 * alone, shared memory, the reference devio with its single client)
 * read_async says no and every read waits on the pool as before.
 */
#include "backend/proxy_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define PROXY_PIPES 2u
#define PROXY_PIPE_DEPTH 32u
/* After a pipe could not be opened, reads wait on the pool this long. */
#define PROXY_PIPE_RETRY_MS 1000
/* How often a reader with nothing to read looks at the clock and at stop. */
#define PROXY_PIPE_TICK_MS 100
/* Read ahead beyond the largest reply. */
#define PROXY_PIPE_READ_AHEAD (64u << 10)

struct pipe_read {
	uint64_t offset;
	size_t len;
	vdisk_read_done_fn done;
	void *opaque;
	struct timespec deadline; /* a reply due by then */
};

struct proxy_pipe {
	struct proxy_disk *proxy;
	pthread_mutex_t lock;  /* everything below; held while sending, so the queue
				* is in the order of the stream */
	struct proxy_conn conn; /* fd -1: closed */
	pthread_t reader;
	bool reader_started;   /* a thread to join */
	bool reader_done;      /* it has finished its pending reads */
	bool stopping;
	struct pipe_read queue[PROXY_PIPE_DEPTH];
	unsigned int head, count;
	/* The reader's alone. */
	uint8_t *buf;
	size_t buf_size, start, end; /* received bytes are buf[start, end) */
};

enum pipe_end {
	PIPE_BROKEN = 1, /* the stream failed: the pending reads wait on the pool */
	PIPE_SILENT,     /* the oldest read timed out: they fail */
	PIPE_STOPPED,    /* the disk is closing */
};

/* A read that waits on the pool, answered like a pipelined one. */
static void read_waiting(struct proxy_disk *proxy, const struct pipe_read *rd, const uint8_t *got, size_t got_len)
{
	uint8_t *buf = malloc(rd->len);
	int r = -EIO;

	if (buf) {
		if (got_len)
			memcpy(buf, got, got_len);
		r = proxy_read(&proxy->disk, buf + got_len, rd->len - got_len, rd->offset + got_len);
	}
	rd->done(rd->opaque, r, r == 0 ? buf : NULL, r == 0 ? rd->len : 0);
	free(buf);
}

/* Makes at least `want` received bytes available at buf + start. */
static int pipe_fill(struct proxy_pipe *pipe, size_t want)
{
	if (pipe->end - pipe->start >= want)
		return 0;
	if (pipe->buf_size - pipe->start < want) {
		memmove(pipe->buf, pipe->buf + pipe->start, pipe->end - pipe->start);
		pipe->end -= pipe->start;
		pipe->start = 0;
	}
	while (pipe->end - pipe->start < want) {
		struct iovec iov = { .iov_base = pipe->buf + pipe->end, .iov_len = pipe->buf_size - pipe->end };
		ssize_t n = proxy_recv_some(&pipe->conn, &iov, 1, PROXY_PIPE_TICK_MS);

		if (n == -ETIMEDOUT) {
			int end = 0;

			pthread_mutex_lock(&pipe->lock);
			if (pipe->stopping)
				end = PIPE_STOPPED;
			else if (pipe->count && proxy_ms_until(&pipe->queue[pipe->head].deadline) == 0)
				end = PIPE_SILENT;
			pthread_mutex_unlock(&pipe->lock);
			if (end)
				return end;
			continue;
		}
		if (n < 0)
			return PIPE_BROKEN;
		pipe->end += (size_t)n;
	}
	return 0;
}

/* Takes one reply off the stream and answers its read: 0, or how the pipe ends. */
static int pipe_reply(struct proxy_pipe *pipe)
{
	struct proxy_disk *proxy = pipe->proxy;
	struct imdproxy_request sent = { .code = IMDPROXY_REQ_READ };
	struct imdproxy_reply reply;
	struct pipe_read rd;
	uint64_t payload;
	const uint8_t *data;
	int r = pipe_fill(pipe, IMDPROXY_READ_REPLY_SIZE);

	if (r)
		return r;
	pthread_mutex_lock(&pipe->lock);
	if (pipe->count == 0) {
		pthread_mutex_unlock(&pipe->lock);
		return PIPE_BROKEN; /* bytes nobody asked for: out of step */
	}
	rd = pipe->queue[pipe->head];
	pthread_mutex_unlock(&pipe->lock);
	sent.offset = rd.offset;
	sent.length = rd.len;
	if (imdproxy_decode_reply(IMDPROXY_REQ_READ, pipe->buf + pipe->start, IMDPROXY_READ_REPLY_SIZE, &sent, &reply,
				  &payload) < 0)
		return PIPE_BROKEN; /* the waiting path meets the server again and judges */
	pipe->start += IMDPROXY_READ_REPLY_SIZE;
	r = pipe_fill(pipe, (size_t)payload);
	if (r) {
		pipe->start -= IMDPROXY_READ_REPLY_SIZE; /* still pending: not answered */
		return r;
	}
	data = pipe->buf + pipe->start;
	pipe->start += (size_t)payload;

	pthread_mutex_lock(&pipe->lock);
	pipe->head = (pipe->head + 1) % PROXY_PIPE_DEPTH;
	pipe->count--;
	pthread_mutex_unlock(&pipe->lock);

	if (reply.errorno || payload == 0)
		rd.done(rd.opaque, -EIO, NULL, 0);
	else if (payload == rd.len)
		rd.done(rd.opaque, 0, data, rd.len);
	else
		read_waiting(proxy, &rd, data, (size_t)payload); /* short: ask again for the rest */
	return 0;
}

static void *pipe_reader(void *arg)
{
	struct proxy_pipe *pipe = arg;
	struct proxy_disk *proxy = pipe->proxy;
	struct pipe_read pending[PROXY_PIPE_DEPTH];
	unsigned int count;
	int end;

	do
		end = pipe_reply(pipe);
	while (end == 0);

	pthread_mutex_lock(&pipe->lock);
	count = pipe->count;
	for (unsigned int i = 0; i < count; i++)
		pending[i] = pipe->queue[(pipe->head + i) % PROXY_PIPE_DEPTH];
	pipe->count = 0;
	proxy_conn_shut(proxy, &pipe->conn, end == PIPE_STOPPED);
	pipe->start = pipe->end = 0;
	pthread_mutex_unlock(&pipe->lock);

	/* Opens the pool's reconnect window (the pending reads wait on it) and keeps
	 * new pipes away until a request on the pool succeeds again. */
	if (end != PIPE_STOPPED)
		proxy_mark_lost(proxy);
	for (unsigned int i = 0; i < count; i++) {
		if (end == PIPE_BROKEN)
			read_waiting(proxy, &pending[i], NULL, 0);
		else
			pending[i].done(pending[i].opaque, -EIO, NULL, 0);
	}
	pthread_mutex_lock(&pipe->lock);
	pipe->reader_done = true;
	pthread_mutex_unlock(&pipe->lock);
	return NULL;
}

/* With pipe->lock held: a connection and a reader for a closed pipe. */
static int pipe_open(struct proxy_pipe *pipe)
{
	struct proxy_disk *proxy = pipe->proxy;
	int timeout = proxy->timeout_ms < (int)PROXY_PROBE_TIMEOUT_MS ? proxy->timeout_ms : (int)PROXY_PROBE_TIMEOUT_MS;
	bool allowed;
	int r;

	if (pipe->reader_started) {
		if (!pipe->reader_done)
			return -EAGAIN; /* the last reader still answers its reads */
		pthread_join(pipe->reader, NULL);
		pipe->reader_started = false;
	}
	pthread_mutex_lock(&proxy->lock);
	allowed = proxy->can_grow && !proxy->lost;
	pthread_mutex_unlock(&proxy->lock);
	pthread_mutex_lock(&proxy->pipes_lock);
	if (proxy_ms_until(&proxy->pipes_retry) > 0)
		allowed = false;
	pthread_mutex_unlock(&proxy->pipes_lock);
	if (!allowed)
		return -EAGAIN;

	r = proxy_conn_open(proxy, &pipe->conn, timeout);
	if (r == 0) {
		pipe->start = pipe->end = 0;
		pipe->reader_done = false;
		r = -pthread_create(&pipe->reader, NULL, pipe_reader, pipe);
		if (r == 0)
			pipe->reader_started = true;
		else
			proxy_conn_shut(proxy, &pipe->conn, false);
	}
	if (r < 0) {
		pthread_mutex_lock(&proxy->pipes_lock);
		/* A server that takes one client leaves a second one unanswered. */
		if (r == -ETIMEDOUT)
			proxy->pipes_refused = true;
		proxy->pipes_retry = proxy_deadline_after(PROXY_PIPE_RETRY_MS);
		pthread_mutex_unlock(&proxy->pipes_lock);
	}
	return r;
}

/* The pipes, made on the first pipelined read. */
static struct proxy_pipe *pipe_pick(struct proxy_disk *proxy)
{
	struct proxy_pipe *pipe = NULL;

	pthread_mutex_lock(&proxy->pipes_lock);
	if (!proxy->pipes && !proxy->pipes_refused) {
		size_t buf_size = proxy->max_transfer + IMDPROXY_READ_REPLY_SIZE + PROXY_PIPE_READ_AHEAD;
		struct proxy_pipe *pipes = calloc(PROXY_PIPES, sizeof(*pipes));
		unsigned int made = 0;

		for (; pipes && made < PROXY_PIPES; made++) {
			pipes[made].proxy = proxy;
			pipes[made].conn.fd = -1;
			pipes[made].buf_size = buf_size;
			pipes[made].buf = malloc(buf_size);
			if (!pipes[made].buf || pthread_mutex_init(&pipes[made].lock, NULL) != 0) {
				free(pipes[made].buf);
				break;
			}
		}
		if (pipes && made == PROXY_PIPES) {
			proxy->pipes = pipes;
			proxy->pipe_count = PROXY_PIPES;
		} else if (pipes) {
			while (made--) {
				pthread_mutex_destroy(&pipes[made].lock);
				free(pipes[made].buf);
			}
			free(pipes);
		}
	}
	if (proxy->pipes && !proxy->pipes_refused)
		pipe = &proxy->pipes[proxy->next_pipe++ % proxy->pipe_count];
	pthread_mutex_unlock(&proxy->pipes_lock);
	return pipe;
}

int proxy_pipeline_read(struct vdisk *disk, size_t len, uint64_t offset, vdisk_read_done_fn done, void *opaque)
{
	struct proxy_disk *proxy = (struct proxy_disk *)disk;
	uint8_t request[IMDPROXY_READ_REQUEST_SIZE];
	struct iovec iov = { .iov_base = request, .iov_len = sizeof(request) };
	struct proxy_pipe *pipe;
	int r = 0;

	if (proxy->shm || !proxy->connect || len > proxy->max_transfer)
		return -EOPNOTSUPP;
	pipe = pipe_pick(proxy);
	if (!pipe)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&pipe->lock);
	if (pipe->stopping)
		r = -ECANCELED;
	else if (pipe->conn.fd < 0)
		r = pipe_open(pipe);
	if (r == 0 && pipe->count == PROXY_PIPE_DEPTH)
		r = -EAGAIN;
	if (r == 0) {
		imdproxy_encode_read_request(request, offset, len);
		if (proxy_send_all(&pipe->conn, &iov, 1, proxy->timeout_ms) < 0) {
			/* The reader meets the broken stream and hands the queue over;
			 * this read waits on the pool. */
			shutdown(pipe->conn.fd, SHUT_RDWR);
			r = -EAGAIN;
		}
	}
	if (r == 0) {
		struct pipe_read *rd = &pipe->queue[(pipe->head + pipe->count) % PROXY_PIPE_DEPTH];

		rd->offset = offset;
		rd->len = len;
		rd->done = done;
		rd->opaque = opaque;
		rd->deadline = proxy_deadline_after(proxy->timeout_ms);
		pipe->count++;
	}
	pthread_mutex_unlock(&pipe->lock);
	return r;
}

void proxy_pipeline_stop(struct proxy_disk *proxy)
{
	for (unsigned int i = 0; i < proxy->pipe_count; i++) {
		struct proxy_pipe *pipe = &proxy->pipes[i];

		/* The reader sees it within a tick, sends CLOSE and ends. */
		pthread_mutex_lock(&pipe->lock);
		pipe->stopping = true;
		pthread_mutex_unlock(&pipe->lock);
		if (pipe->reader_started)
			pthread_join(pipe->reader, NULL);
		pthread_mutex_destroy(&pipe->lock);
		free(pipe->buf);
	}
	free(proxy->pipes);
	proxy->pipes = NULL;
	proxy->pipe_count = 0;
}
