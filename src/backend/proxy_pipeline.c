/* Pipelined reads and writes: a proxy disk's READs and WRITEs sent one after
 * another on connections of their own ("pipes") without waiting for the
 * replies, which a reader thread per pipe takes in order and hands to the
 * caller's completion.
 *
 * Why: a READ that waits for its reply holds its caller (a FUSE worker) for a
 * whole round trip, so a disk has only as many reads in flight as it has waiting
 * threads, and every read costs a sleep and a wake-up on both sides.  Here the
 * worker sends and goes back for the next request; under load one receive
 * brings several replies, and the server (which reads ahead on its stream)
 * takes several requests per wake-up.
 *
 * READs and WRITEs, which can be sent again: a pipelined write's caller keeps
 * its bytes until the write is answered (vdisk.h's write_async).  Trims and
 * zeroes keep their exchange on the pool (proxy_request.c).  A pipe whose
 * stream breaks hands its pending reads and writes to that path
 * (proxy_request_read, proxy_request_run: reconnection and retry); a silent
 * one fails them with EIO once the oldest has waited the disk's timeout, as a
 * waiting request would.  A write the server answers with an error or a
 * length other than the one sent fails with EIO, as on the pool.
 *
 * Layer 4 of the client (proxy_internal.h): it asks the pool (whether another
 * connection may be opened; that the server is lost) through the pool's
 * functions, opens its connections through layer 1 and reads replies with a
 * common/stream_io.h reader.
 *
 * Pipes need connections of their own: a server reached through the connect
 * callback that takes more than one client.  Otherwise (a passed descriptor
 * alone, shared memory, the reference devio with its single client)
 * read_async and write_async say no and every request waits on the pool as
 * before.
 */
#include "backend/proxy_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/deadline.h"
#include "common/trace.h"

#define PROXY_PIPES 2u
#define PROXY_PIPE_DEPTH 32u
/* After a pipe could not be opened, reads wait on the pool this long. */
#define PROXY_PIPE_RETRY_MS 1000u
/* How often a reader with nothing to read looks at the clock and at stop. */
#define PROXY_PIPE_TICK_MS 100
/* Read ahead beyond the largest reply. */
#define PROXY_PIPE_READ_AHEAD (64u << 10)

/* Both replies are a 16-byte header (errorno, length): the reader takes one
 * before it knows which request it answers. */
_Static_assert(IMDPROXY_READ_REPLY_SIZE == IMDPROXY_WRITE_REPLY_SIZE, "one reply header size");
#define PIPE_REPLY_SIZE IMDPROXY_READ_REPLY_SIZE

/* One request sent and not yet answered. */
struct pipe_op {
	uint64_t code; /* IMDPROXY_REQ_READ or IMDPROXY_REQ_WRITE */
	uint64_t offset;
	size_t len;
	const void *write_buf; /* the caller's until done: sent again on a retry */
	vdisk_read_done_fn read_done;
	vdisk_write_done_fn write_done;
	void *opaque;
	struct timespec deadline; /* a reply due by then */
};

struct proxy_pipe {
	struct proxy_pipeline *pipeline;
	/* Held while a request is queued and sent, so that the queue is in the
	 * order of the stream, and while the connection is opened or shut.  Not
	 * `lock`: a sender that waits for room on the stream (a large WRITE) must
	 * not keep the reader, which makes the room, from the queue. */
	pthread_mutex_t send_lock;
	pthread_mutex_t lock;  /* the queue, and everything below but conn's use */
	struct proxy_conn conn; /* fd -1: closed; opened and shut under both locks */
	pthread_t reader;
	bool reader_started;   /* a thread to join */
	bool reader_done;      /* it has finished its pending requests */
	bool stopping;
	struct pipe_op queue[PROXY_PIPE_DEPTH];
	unsigned int head, count;
	/* The reader's alone. */
	uint8_t *buf;
	size_t buf_size;
	struct stream_reader in;
};

struct proxy_pipeline {
	struct proxy_link *link;
	struct proxy_pool *pool; /* asked, never looked into */
	pthread_mutex_t lock;    /* picking and opening pipes */
	struct proxy_pipe *pipes;
	unsigned int pipe_count;
	bool refused;              /* the server takes no extra connection: for good */
	struct timespec retry;     /* no new pipe before this (after a failure) */
	unsigned int next_pipe;
};

enum pipe_end {
	PIPE_BROKEN = 1, /* the stream failed: the pending requests wait on the pool */
	PIPE_SILENT,     /* the oldest request timed out: they fail */
	PIPE_STOPPED,    /* the disk is closing */
};

/* A read that waits on the pool, answered like a pipelined one. */
static void read_waiting(struct proxy_pipeline *pipeline, const struct pipe_op *rd, const uint8_t *got,
			 size_t got_len)
{
	uint8_t *buf = malloc(rd->len);
	int r = -EIO;

	if (buf) {
		if (got_len)
			memcpy(buf, got, got_len);
		r = proxy_request_read(pipeline->pool, pipeline->link, buf + got_len, rd->len - got_len,
				       rd->offset + got_len);
	}
	rd->read_done(rd->opaque, r, r == 0 ? buf : NULL, r == 0 ? rd->len : 0);
	free(buf);
}

/* A write that waits on the pool: all of it sent again (the server may have
 * written some or all of it already: the same bytes again at the same place
 * do no harm, and nothing else was written there before this one's answer). */
static void write_waiting(struct proxy_pipeline *pipeline, const struct pipe_op *wr)
{
	struct proxy_request req = { .code = IMDPROXY_REQ_WRITE, .write_buf = wr->write_buf, .len = wr->len,
				     .offset = wr->offset };

	wr->write_done(wr->opaque, proxy_request_run(pipeline->pool, pipeline->link, &req));
}

static void op_waiting(struct proxy_pipeline *pipeline, const struct pipe_op *op)
{
	if (op->code == IMDPROXY_REQ_WRITE)
		write_waiting(pipeline, op);
	else
		read_waiting(pipeline, op, NULL, 0);
}

static void op_fail(const struct pipe_op *op, int error)
{
	if (op->code == IMDPROXY_REQ_WRITE)
		op->write_done(op->opaque, error);
	else
		op->read_done(op->opaque, error, NULL, 0);
}

/* Makes at least `want` received bytes available at the reader's start: 0, or
 * how the pipe ends. */
static int pipe_fill(struct proxy_pipe *pipe, size_t want)
{
	for (;;) {
		struct timespec tick = deadline_after_ms(PROXY_PIPE_TICK_MS);
		int r = stream_reader_fill(&pipe->in, want, &tick);
		int end = 0;

		if (r == 1)
			return 0;
		if (r != -ETIMEDOUT)
			return PIPE_BROKEN; /* closed, reset, or out of step */
		pthread_mutex_lock(&pipe->lock);
		if (pipe->stopping)
			end = PIPE_STOPPED;
		else if (pipe->count && deadline_passed(&pipe->queue[pipe->head].deadline))
			end = PIPE_SILENT;
		pthread_mutex_unlock(&pipe->lock);
		if (end)
			return end;
	}
}

/* With the queue's oldest request answered: the next one is the oldest. */
static void pipe_pop(struct proxy_pipe *pipe)
{
	pthread_mutex_lock(&pipe->lock);
	pipe->head = (pipe->head + 1) % PROXY_PIPE_DEPTH;
	pipe->count--;
	pthread_mutex_unlock(&pipe->lock);
}

/* Takes one reply off the stream and answers its request: 0, or how the pipe
 * ends. */
static int pipe_reply(struct proxy_pipe *pipe)
{
	struct imdproxy_request sent = { 0 };
	struct imdproxy_reply reply;
	struct pipe_op rd;
	uint64_t payload;
	const uint8_t *data;
	int r = pipe_fill(pipe, PIPE_REPLY_SIZE);

	if (r)
		return r;
	pthread_mutex_lock(&pipe->lock);
	if (pipe->count == 0) {
		pthread_mutex_unlock(&pipe->lock);
		trace(TRACE_PROXY, "pipe: a reply nobody asked for: out of step");
		return PIPE_BROKEN;
	}
	rd = pipe->queue[pipe->head];
	pthread_mutex_unlock(&pipe->lock);
	sent.code = rd.code;
	sent.offset = rd.offset;
	sent.length = rd.len;
	if (imdproxy_decode_reply(rd.code, pipe->in.buf + pipe->in.start, PIPE_REPLY_SIZE, &sent, &reply, &payload) <
	    0)
		return PIPE_BROKEN; /* the waiting path meets the server again and judges */
	if (rd.code == IMDPROXY_REQ_WRITE) {
		pipe->in.start += PIPE_REPLY_SIZE;
		pipe_pop(pipe);
		/* All of it, or an error: the pool's exchange_write judges alike. */
		if (reply.errorno || reply.length != rd.len) {
			trace(TRACE_PROXY, "pipe: WRITE at %llu of %zu: errorno %llu, length %llu: EIO",
			      (unsigned long long)rd.offset, rd.len, (unsigned long long)reply.errorno,
			      (unsigned long long)reply.length);
			rd.write_done(rd.opaque, -EIO);
		} else {
			rd.write_done(rd.opaque, 0);
		}
		return 0;
	}
	/* Header and data together: a reply not all there stays pending. */
	r = pipe_fill(pipe, PIPE_REPLY_SIZE + (size_t)payload);
	if (r)
		return r;
	data = pipe->in.buf + pipe->in.start + PIPE_REPLY_SIZE;
	pipe->in.start += PIPE_REPLY_SIZE + (size_t)payload;
	pipe_pop(pipe);

	if (reply.errorno || payload == 0)
		rd.read_done(rd.opaque, -EIO, NULL, 0);
	else if (payload == rd.len)
		rd.read_done(rd.opaque, 0, data, rd.len);
	else
		read_waiting(pipe->pipeline, &rd, data, (size_t)payload); /* short: ask again for the rest */
	return 0;
}

static void *pipe_reader(void *arg)
{
	struct proxy_pipe *pipe = arg;
	struct proxy_pipeline *pipeline = pipe->pipeline;
	struct pipe_op pending[PROXY_PIPE_DEPTH];
	unsigned int count;
	int end;

	do
		end = pipe_reply(pipe);
	while (end == 0);

	pthread_mutex_lock(&pipe->send_lock); /* no send goes on while it is shut */
	pthread_mutex_lock(&pipe->lock);
	count = pipe->count;
	for (unsigned int i = 0; i < count; i++)
		pending[i] = pipe->queue[(pipe->head + i) % PROXY_PIPE_DEPTH];
	pipe->count = 0;
	proxy_conn_shut(&pipe->conn, end == PIPE_STOPPED);
	pthread_mutex_unlock(&pipe->lock);
	pthread_mutex_unlock(&pipe->send_lock);
	trace(TRACE_PROXY, "pipe: ends %s with %u requests pending",
	      end == PIPE_BROKEN ? "broken" : end == PIPE_SILENT ? "silent" : "stopped", count);

	/* Opens the pool's reconnect window (the pending requests wait on it) and keeps
	 * new pipes away until a request on the pool succeeds again. */
	if (end != PIPE_STOPPED)
		proxy_pool_mark_lost(pipeline->pool);
	for (unsigned int i = 0; i < count; i++) {
		if (end == PIPE_BROKEN)
			op_waiting(pipeline, &pending[i]);
		else
			op_fail(&pending[i], -EIO);
	}
	pthread_mutex_lock(&pipe->lock);
	pipe->reader_done = true;
	pthread_mutex_unlock(&pipe->lock);
	return NULL;
}

/* With both of the pipe's locks held: a connection and a reader for a closed
 * pipe. */
static int pipe_open(struct proxy_pipe *pipe)
{
	struct proxy_pipeline *pipeline = pipe->pipeline;
	int timeout = pipeline->link->timeout_ms < (int)PROXY_PROBE_TIMEOUT_MS ? pipeline->link->timeout_ms
									  : (int)PROXY_PROBE_TIMEOUT_MS;
	bool allowed;
	int r;

	if (pipe->reader_started) {
		if (!pipe->reader_done)
			return -EAGAIN; /* the last reader still answers its requests */
		pthread_join(pipe->reader, NULL);
		pipe->reader_started = false;
	}
	allowed = proxy_pool_may_add_connection(pipeline->pool);
	pthread_mutex_lock(&pipeline->lock);
	if (!deadline_passed(&pipeline->retry))
		allowed = false;
	pthread_mutex_unlock(&pipeline->lock);
	if (!allowed)
		return -EAGAIN;

	r = proxy_conn_open(pipeline->link, &pipe->conn, timeout);
	if (r == 0) {
		r = proxy_stream_reader(&pipe->conn, &pipe->in, pipe->buf, pipe->buf_size, PROXY_PIPE_TICK_MS);
		if (r == 0) {
			pipe->reader_done = false;
			r = -pthread_create(&pipe->reader, NULL, pipe_reader, pipe);
		}
		if (r == 0)
			pipe->reader_started = true;
		else
			proxy_conn_shut(&pipe->conn, false);
	}
	if (r < 0) {
		trace(TRACE_PROXY, "pipe: not opened: %d%s", r,
		      r == -ETIMEDOUT ? " (the server takes one client): requests wait on the pool" : "");
		pthread_mutex_lock(&pipeline->lock);
		/* A server that takes one client leaves a second one unanswered. */
		if (r == -ETIMEDOUT)
			pipeline->refused = true;
		pipeline->retry = deadline_after_ms(PROXY_PIPE_RETRY_MS);
		pthread_mutex_unlock(&pipeline->lock);
	}
	return r;
}

/* The pipes, made on the first pipelined request. */
static struct proxy_pipe *pipe_pick(struct proxy_pipeline *pipeline)
{
	struct proxy_pipe *pipe = NULL;

	pthread_mutex_lock(&pipeline->lock);
	if (!pipeline->pipes && !pipeline->refused) {
		size_t buf_size = pipeline->link->max_transfer + IMDPROXY_READ_REPLY_SIZE + PROXY_PIPE_READ_AHEAD;
		struct proxy_pipe *pipes = calloc(PROXY_PIPES, sizeof(*pipes));
		unsigned int made = 0;

		for (; pipes && made < PROXY_PIPES; made++) {
			pipes[made].pipeline = pipeline;
			pipes[made].conn.fd = -1;
			pipes[made].buf_size = buf_size;
			pipes[made].buf = malloc(buf_size);
			if (!pipes[made].buf || pthread_mutex_init(&pipes[made].lock, NULL) != 0) {
				free(pipes[made].buf);
				break;
			}
			if (pthread_mutex_init(&pipes[made].send_lock, NULL) != 0) {
				pthread_mutex_destroy(&pipes[made].lock);
				free(pipes[made].buf);
				break;
			}
		}
		if (pipes && made == PROXY_PIPES) {
			pipeline->pipes = pipes;
			pipeline->pipe_count = PROXY_PIPES;
		} else if (pipes) {
			while (made--) {
				pthread_mutex_destroy(&pipes[made].send_lock);
				pthread_mutex_destroy(&pipes[made].lock);
				free(pipes[made].buf);
			}
			free(pipes);
		}
	}
	if (pipeline->pipes && !pipeline->refused)
		pipe = &pipeline->pipes[pipeline->next_pipe++ % pipeline->pipe_count];
	pthread_mutex_unlock(&pipeline->lock);
	return pipe;
}

int proxy_pipeline_new(struct proxy_link *link, struct proxy_pool *pool, struct proxy_pipeline **out)
{
	struct proxy_pipeline *pipeline = calloc(1, sizeof(*pipeline));
	int r;

	if (!pipeline)
		return -ENOMEM;
	r = -pthread_mutex_init(&pipeline->lock, NULL);
	if (r < 0) {
		free(pipeline);
		return r;
	}
	pipeline->link = link;
	pipeline->pool = pool;
	*out = pipeline;
	return 0;
}

/* Queues op for its reply and sends its request (header, then data) on a
 * pipe: 0 (done will be called), or why the caller must wait on the pool
 * instead. */
static int pipe_send(struct proxy_pipeline *pipeline, struct pipe_op *op, const void *header, size_t header_len)
{
	struct proxy_pipe *pipe;
	int r = 0;

	if (op->len > pipeline->link->max_transfer)
		return -EOPNOTSUPP;
	pipe = pipe_pick(pipeline);
	if (!pipe)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&pipe->send_lock);
	pthread_mutex_lock(&pipe->lock);
	if (pipe->stopping)
		r = -ECANCELED;
	else if (pipe->conn.fd < 0)
		r = pipe_open(pipe);
	if (r == 0 && pipe->count == PROXY_PIPE_DEPTH)
		r = -EAGAIN;
	if (r == 0) {
		/* Queued first: the reply may come before send returns. */
		op->deadline = deadline_after_ms((unsigned int)pipeline->link->timeout_ms);
		pipe->queue[(pipe->head + pipe->count) % PROXY_PIPE_DEPTH] = *op;
		pipe->count++;
	}
	pthread_mutex_unlock(&pipe->lock);
	if (r == 0 && pipe->conn.ops->send(&pipe->conn, header, header_len, op->write_buf,
					   op->code == IMDPROXY_REQ_WRITE ? op->len : 0,
					   pipeline->link->timeout_ms) < 0) {
		/* The reader meets the broken stream and hands the queue, this
		 * request with it, to the pool. */
		trace(TRACE_PROXY, "pipe: sending failed: the reader hands the queue to the pool");
		shutdown(pipe->conn.fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&pipe->send_lock);
	return r;
}

int proxy_pipeline_read(struct proxy_pipeline *pipeline, size_t len, uint64_t offset, vdisk_read_done_fn done,
			void *opaque)
{
	uint8_t request[IMDPROXY_READ_REQUEST_SIZE];
	struct pipe_op op = { .code = IMDPROXY_REQ_READ, .offset = offset, .len = len, .read_done = done,
			      .opaque = opaque };

	imdproxy_encode_read_request(request, offset, len);
	return pipe_send(pipeline, &op, request, sizeof(request));
}

int proxy_pipeline_write(struct proxy_pipeline *pipeline, const void *buf, size_t len, uint64_t offset,
			 vdisk_write_done_fn done, void *opaque)
{
	uint8_t request[IMDPROXY_WRITE_REQUEST_SIZE];
	struct pipe_op op = { .code = IMDPROXY_REQ_WRITE, .offset = offset, .len = len, .write_buf = buf,
			      .write_done = done, .opaque = opaque };

	imdproxy_encode_write_request(request, offset, len);
	return pipe_send(pipeline, &op, request, sizeof(request));
}

void proxy_pipeline_free(struct proxy_pipeline *pipeline)
{
	if (!pipeline)
		return;
	for (unsigned int i = 0; i < pipeline->pipe_count; i++) {
		struct proxy_pipe *pipe = &pipeline->pipes[i];

		/* The reader sees it within a tick, sends CLOSE and ends (failing
		 * what is still pending with EIO). */
		pthread_mutex_lock(&pipe->lock);
		pipe->stopping = true;
		pthread_mutex_unlock(&pipe->lock);
		if (pipe->reader_started)
			pthread_join(pipe->reader, NULL);
		pthread_mutex_destroy(&pipe->send_lock);
		pthread_mutex_destroy(&pipe->lock);
		free(pipe->buf);
	}
	free(pipeline->pipes);
	pthread_mutex_destroy(&pipeline->lock);
	free(pipeline);
}
