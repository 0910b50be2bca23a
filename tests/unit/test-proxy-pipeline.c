/* The proxy client's pipeline (src/backend/proxy_pipeline.c) against fake
 * connections: each connection the link opens is a socketpair whose far end a
 * scripted server thread answers (a delay before each reply, a close after so
 * many replies, or silence).  The pool beside it is the real one.  Writes land
 * in one image all the servers share, so a write retried elsewhere shows. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/proxy_internal.h"
#include "common/endian.h"
#include "common/fdio.h"

#define IMAGE_SIZE (1u << 20)
#define CHUNK 4096u
#define MAX_OPENS 8

struct script {
	int delay_ms;     /* before every reply */
	int replies;      /* READ and WRITE replies before the server closes; -1: no end */
	bool silent;      /* reads and writes are never answered */
	uint64_t write_errorno; /* every WRITE fails with it */
	bool write_short;       /* every WRITE reply says one byte less */
	bool gone_after_info;   /* closes once INFO is answered */
};

struct fake_server {
	int fd;
	struct script script;
	pthread_t thread;
};

static struct script scripts[MAX_OPENS];
static struct fake_server servers[MAX_OPENS];
static int opens;
static struct proxy_conn_ops fake_ops;
static pthread_mutex_t image_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t written[IMAGE_SIZE]; /* what WRITEs brought */

static uint8_t image_byte(uint64_t offset)
{
	return (uint8_t)(offset ^ (offset >> 8) ^ 0x5a);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) < 0)
		;
}

static void *serve(void *arg)
{
	struct fake_server *s = arg;
	uint8_t header[IMDPROXY_MAX_REQUEST_HEADER];
	uint8_t reply[IMDPROXY_MAX_REPLY_HEADER];
	static const struct imdproxy_info info = { .file_size = IMAGE_SIZE, .req_alignment = 1 };
	int answered = 0;

	for (;;) {
		struct imdproxy_request req;
		uint64_t payload;
		size_t size;

		if (read_full(s->fd, header, IMDPROXY_CODE_SIZE) < 0)
			break;
		size = imdproxy_request_header_size(get_le64(header));
		if (size > IMDPROXY_CODE_SIZE && read_full(s->fd, header + IMDPROXY_CODE_SIZE, size - IMDPROXY_CODE_SIZE) < 0)
			break;
		if (imdproxy_decode_request(header, size, &req, &payload) != (int)size)
			abort();
		if (req.code == IMDPROXY_REQ_CLOSE)
			break;
		if (req.code == IMDPROXY_REQ_INFO) {
			size = imdproxy_encode_info_reply(reply, &info);
			if (write_full(s->fd, reply, size) < 0 || s->script.gone_after_info)
				break;
			continue;
		}
		if (req.code == IMDPROXY_REQ_WRITE) {
			uint8_t *data = malloc(req.length);

			if (read_full(s->fd, data, req.length) < 0) {
				free(data);
				break;
			}
			if (s->script.silent) {
				free(data);
				continue;
			}
			if (s->script.delay_ms)
				sleep_ms((unsigned int)s->script.delay_ms);
			if (!s->script.write_errorno) {
				pthread_mutex_lock(&image_lock);
				memcpy(written + req.offset, data, req.length);
				pthread_mutex_unlock(&image_lock);
			}
			free(data);
			size = imdproxy_encode_write_reply(reply, s->script.write_errorno,
							   s->script.write_errorno ? 0 : req.length - s->script.write_short);
			if (write_full(s->fd, reply, size) < 0)
				break;
			if (s->script.replies >= 0 && ++answered == s->script.replies)
				break;
			continue;
		}
		if (req.code != IMDPROXY_REQ_READ)
			abort();
		if (s->script.silent)
			continue;
		if (s->script.delay_ms)
			sleep_ms((unsigned int)s->script.delay_ms);
		size = imdproxy_encode_read_reply(reply, 0, req.length);
		{
			uint8_t *data = malloc(req.length);
			int r;

			for (uint64_t i = 0; i < req.length; i++)
				data[i] = image_byte(req.offset + i);
			r = write_full(s->fd, reply, size);
			if (r == 0)
				r = write_full(s->fd, data, req.length);
			free(data);
			if (r < 0)
				break;
		}
		if (s->script.replies >= 0 && ++answered == s->script.replies)
			break;
	}
	shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

/* The link's open: a socketpair, its far end served as scripts[n] says. */
static int fake_open(struct proxy_link *link, struct proxy_conn *conn, int timeout_ms)
{
	int sv[2];
	int n = opens++;

	(void)link;
	(void)timeout_ms;
	assert_true(n < MAX_OPENS);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	servers[n].fd = sv[1];
	servers[n].script = scripts[n];
	assert_int_equal(pthread_create(&servers[n].thread, NULL, serve, &servers[n]), 0);
	assert_int_equal(proxy_stream_adopt(conn, sv[0]), 0);
	return 0;
}

struct completion {
	int r;
	bool data_ok;
	int order;
};

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static struct completion done_reads[16];
static int done_count;
static uint64_t read_offset[16];

static void read_done(void *opaque, int r, const void *data, size_t len)
{
	int i = (int)(intptr_t)opaque;
	bool ok = r == 0 && len == CHUNK;

	for (size_t j = 0; ok && j < len; j++)
		ok = ((const uint8_t *)data)[j] == image_byte(read_offset[i] + j);
	pthread_mutex_lock(&done_lock);
	done_reads[i] = (struct completion){ .r = r, .data_ok = ok, .order = done_count++ };
	pthread_cond_broadcast(&done_cond);
	pthread_mutex_unlock(&done_lock);
}

static void write_done(void *opaque, int r)
{
	int i = (int)(intptr_t)opaque;

	pthread_mutex_lock(&done_lock);
	done_reads[i] = (struct completion){ .r = r, .data_ok = r == 0, .order = done_count++ };
	pthread_cond_broadcast(&done_cond);
	pthread_mutex_unlock(&done_lock);
}

static void wait_done(int count)
{
	pthread_mutex_lock(&done_lock);
	while (done_count < count)
		pthread_cond_wait(&done_cond, &done_lock);
	pthread_mutex_unlock(&done_lock);
}

struct fixture {
	struct proxy_link link;
	struct proxy_pool *pool;
	struct proxy_pipeline *pipeline;
};

/* A pool of two connections (the first open) and a pipeline beside it. */
static void fixture_open(struct fixture *f, int timeout_ms)
{
	struct proxy_conn first = { .fd = -1 };
	struct imdproxy_info info;

	memset(f, 0, sizeof(*f));
	memset(done_reads, 0, sizeof(done_reads));
	memset(written, 0, sizeof(written));
	done_count = 0;
	opens = 0;
	fake_ops = proxy_stream_ops;
	fake_ops.open = fake_open;
	f->link.ops = &fake_ops;
	f->link.timeout_ms = timeout_ms;
	f->link.max_transfer = 65536;
	f->link.info = (struct imdproxy_info){ .file_size = IMAGE_SIZE, .req_alignment = 1 };
	assert_int_equal(proxy_pool_new(&f->link, 2, true, &f->pool), 0);
	assert_int_equal(proxy_pipeline_new(&f->link, f->pool, &f->pipeline), 0);
	assert_int_equal(proxy_conn_open(&f->link, &first, timeout_ms), 0);
	assert_int_equal(proxy_conn_info(&first, &info, timeout_ms), 0);
	proxy_pool_add_first(f->pool, &first);
}

static void fixture_close(struct fixture *f)
{
	proxy_pipeline_free(f->pipeline);
	proxy_pool_free(f->pool);
	for (int i = 0; i < opens; i++) {
		pthread_join(servers[i].thread, NULL);
		close(servers[i].fd);
	}
	memset(scripts, 0, sizeof(scripts));
}

static void send_read(struct fixture *f, int i, uint64_t offset)
{
	read_offset[i] = offset;
	assert_int_equal(proxy_pipeline_read(f->pipeline, CHUNK, offset, read_done, (void *)(intptr_t)i), 0);
}

static uint8_t write_byte(int i, size_t j)
{
	return (uint8_t)(i * 37 + j * 7 + 1);
}

static uint8_t write_bufs[16][CHUNK];

/* Write i: CHUNK bytes of its own pattern, kept until it is answered. */
static void send_write(struct fixture *f, int i, uint64_t offset)
{
	read_offset[i] = offset;
	for (size_t j = 0; j < CHUNK; j++)
		write_bufs[i][j] = write_byte(i, j);
	assert_int_equal(proxy_pipeline_write(f->pipeline, write_bufs[i], CHUNK, offset, write_done,
					      (void *)(intptr_t)i),
			 0);
}

/* The server's image holds write i's bytes at its offset. */
static bool write_landed(int i)
{
	bool ok = true;

	pthread_mutex_lock(&image_lock);
	for (size_t j = 0; ok && j < CHUNK; j++)
		ok = written[read_offset[i] + j] == write_byte(i, j);
	pthread_mutex_unlock(&image_lock);
	return ok;
}

/* Reads go round the two pipes; the first pipe's server is slow, so the reads
 * sent later on the second are answered first, each with its own bytes. */
static void test_out_of_order(void **state)
{
	struct fixture f;

	(void)state;
	scripts[0] = (struct script){ .replies = -1 };                 /* the pool's */
	scripts[1] = (struct script){ .replies = -1, .delay_ms = 150 }; /* pipe 0 */
	scripts[2] = (struct script){ .replies = -1 };                 /* pipe 1 */
	fixture_open(&f, 2000);
	for (int i = 0; i < 4; i++)
		send_read(&f, i, (uint64_t)i * 3 * CHUNK + 17);
	wait_done(4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(done_reads[i].r, 0);
		assert_true(done_reads[i].data_ok);
	}
	/* Pipe 1 (reads 1, 3) first and in its stream's order; then pipe 0's. */
	assert_int_equal(done_reads[1].order, 0);
	assert_int_equal(done_reads[3].order, 1);
	assert_int_equal(done_reads[0].order, 2);
	assert_int_equal(done_reads[2].order, 3);
	assert_int_equal(opens, 3);
	assert_true(proxy_pool_connected(f.pool));
	fixture_close(&f);
}

/* A pipe whose server goes away after one reply: its other reads are read
 * again on the pool, which has closed its idle connection (same server) and
 * reconnects; every read ends with its bytes, and the disk is connected again. */
static void test_lost_mid_pipeline(void **state)
{
	struct fixture f;

	(void)state;
	scripts[0] = (struct script){ .replies = -1 };
	scripts[1] = (struct script){ .replies = 1, .delay_ms = 100 }; /* pipe 0: one reply, then gone */
	scripts[2] = (struct script){ .replies = -1 };
	scripts[3] = (struct script){ .replies = -1 }; /* the pool's reconnection */
	fixture_open(&f, 2000);
	for (int i = 0; i < 6; i++)
		send_read(&f, i, (uint64_t)i * CHUNK);
	wait_done(6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(done_reads[i].r, 0);
		assert_true(done_reads[i].data_ok);
	}
	/* Reads 2 and 4 (pipe 0, after its one reply) came through the pool. */
	assert_true(done_reads[2].order > done_reads[0].order);
	assert_true(done_reads[4].order > done_reads[0].order);
	assert_int_equal(opens, 4);
	assert_true(proxy_pool_connected(f.pool));
	/* Recovered: the pool takes another connection again. */
	assert_true(proxy_pool_may_add_connection(f.pool));
	fixture_close(&f);
}

/* A pipe whose server never answers fails its read with EIO once the read has
 * waited the timeout, and the disk shows as disconnected. */
static void test_silent_pipe(void **state)
{
	struct fixture f;
	struct timespec start, end;
	long ms;

	(void)state;
	scripts[0] = (struct script){ .replies = -1 };
	scripts[1] = (struct script){ .replies = -1, .silent = true };
	fixture_open(&f, 300);
	clock_gettime(CLOCK_MONOTONIC, &start);
	send_read(&f, 0, 0);
	wait_done(1);
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
	assert_int_equal(done_reads[0].r, -EIO);
	assert_true(ms >= 300);
	assert_false(proxy_pool_connected(f.pool));
	assert_false(proxy_pool_may_add_connection(f.pool));
	fixture_close(&f);
}

/* Writes go round the pipes like reads; the slow pipe's are answered last,
 * each once its bytes are in the image. */
static void test_write_out_of_order(void **state)
{
	struct fixture f;

	(void)state;
	scripts[0] = (struct script){ .replies = -1 };
	scripts[1] = (struct script){ .replies = -1, .delay_ms = 150 };
	scripts[2] = (struct script){ .replies = -1 };
	fixture_open(&f, 2000);
	for (int i = 0; i < 4; i++)
		send_write(&f, i, (uint64_t)i * 3 * CHUNK + 17);
	wait_done(4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(done_reads[i].r, 0);
		assert_true(write_landed(i));
	}
	assert_int_equal(done_reads[1].order, 0);
	assert_int_equal(done_reads[3].order, 1);
	assert_int_equal(done_reads[0].order, 2);
	assert_int_equal(done_reads[2].order, 3);
	assert_int_equal(opens, 3);
	fixture_close(&f);
}

/* Reads and writes share a pipe, answered in the stream's order. */
static void test_mixed_on_one_pipe(void **state)
{
	struct fixture f;

	(void)state;
	scripts[0] = (struct script){ .replies = -1 };
	scripts[1] = (struct script){ .replies = -1, .delay_ms = 20 };
	scripts[2] = (struct script){ .replies = -1, .delay_ms = 20 };
	fixture_open(&f, 2000);
	for (int i = 0; i < 8; i++) {
		if (i % 4 < 2)
			send_write(&f, i, (uint64_t)i * CHUNK);
		else
			send_read(&f, i, (uint64_t)i * CHUNK + 64 * CHUNK);
	}
	wait_done(8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(done_reads[i].r, 0);
		assert_true(done_reads[i].data_ok);
		if (i % 4 < 2)
			assert_true(write_landed(i));
	}
	/* Pipe 0 carries 0, 2, 4, 6 (write, read, write, read), in that order. */
	assert_true(done_reads[0].order < done_reads[2].order);
	assert_true(done_reads[2].order < done_reads[4].order);
	assert_true(done_reads[4].order < done_reads[6].order);
	fixture_close(&f);
}

/* A pipe whose server goes away after one reply: its other writes are sent
 * again on the pool (which reconnects), and every write lands. */
static void test_write_lost_mid_pipeline(void **state)
{
	struct fixture f;

	(void)state;
	scripts[0] = (struct script){ .replies = -1 };
	scripts[1] = (struct script){ .replies = 1, .delay_ms = 100 };
	scripts[2] = (struct script){ .replies = -1 };
	scripts[3] = (struct script){ .replies = -1 };
	fixture_open(&f, 2000);
	for (int i = 0; i < 6; i++)
		send_write(&f, i, (uint64_t)i * CHUNK);
	wait_done(6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(done_reads[i].r, 0);
		assert_true(write_landed(i));
	}
	assert_true(done_reads[2].order > done_reads[0].order);
	assert_true(done_reads[4].order > done_reads[0].order);
	assert_int_equal(opens, 4);
	assert_true(proxy_pool_connected(f.pool));
	assert_true(proxy_pool_may_add_connection(f.pool));
	fixture_close(&f);
}

/* A pipe whose server is gone as the write is sent (the send fails, or the
 * reader finds the stream closed): the write is sent again on the pool. */
static void test_write_on_a_gone_pipe(void **state)
{
	struct fixture f;

	(void)state;
	scripts[0] = (struct script){ .replies = -1 };
	scripts[1] = (struct script){ .replies = -1, .gone_after_info = true };
	scripts[2] = (struct script){ .replies = -1 }; /* the pool's reconnection */
	fixture_open(&f, 2000);
	send_write(&f, 0, 5 * CHUNK);
	wait_done(1);
	assert_int_equal(done_reads[0].r, 0);
	assert_true(write_landed(0));
	assert_int_equal(opens, 3);
	fixture_close(&f);
}

/* A write nobody answers fails with EIO after the timeout, the disk lost. */
static void test_write_silent_pipe(void **state)
{
	struct fixture f;
	struct timespec start, end;
	long ms;

	(void)state;
	scripts[0] = (struct script){ .replies = -1 };
	scripts[1] = (struct script){ .replies = -1, .silent = true };
	fixture_open(&f, 300);
	clock_gettime(CLOCK_MONOTONIC, &start);
	send_write(&f, 0, 0);
	wait_done(1);
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
	assert_int_equal(done_reads[0].r, -EIO);
	assert_true(ms >= 300);
	assert_false(proxy_pool_connected(f.pool));
	fixture_close(&f);
}

/* The server's errorno, or a length other than the one sent: EIO, and the
 * pipe stays in step (the next write on it is answered). */
static void test_write_refused(void **state)
{
	struct fixture f;

	(void)state;
	scripts[0] = (struct script){ .replies = -1 };
	scripts[1] = (struct script){ .replies = -1, .write_errorno = 28 };
	scripts[2] = (struct script){ .replies = -1, .write_short = true };
	fixture_open(&f, 2000);
	for (int i = 0; i < 4; i++)
		send_write(&f, i, (uint64_t)i * CHUNK);
	wait_done(4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(done_reads[i].r, -EIO);
	assert_int_equal(opens, 3); /* no pipe was given up */
	fixture_close(&f);
}

/* Larger than a request may be: not pipelined, the caller reads and waits. */
static void test_too_large(void **state)
{
	struct fixture f;

	(void)state;
	scripts[0] = (struct script){ .replies = -1 };
	fixture_open(&f, 2000);
	assert_int_equal(proxy_pipeline_read(f.pipeline, 65536 + 1, 0, read_done, NULL), -EOPNOTSUPP);
	assert_int_equal(proxy_pipeline_write(f.pipeline, written, 65536 + 1, 0, write_done, NULL), -EOPNOTSUPP);
	assert_int_equal(opens, 1);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_lost_mid_pipeline),
		cmocka_unit_test(test_silent_pipe),
		cmocka_unit_test(test_write_out_of_order),
		cmocka_unit_test(test_mixed_on_one_pipe),
		cmocka_unit_test(test_write_lost_mid_pipeline),
		cmocka_unit_test(test_write_on_a_gone_pipe),
		cmocka_unit_test(test_write_silent_pipe),
		cmocka_unit_test(test_write_refused),
		cmocka_unit_test(test_too_large),
	};

	signal(SIGPIPE, SIG_IGN); /* a server writing to a closed client gets EPIPE */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
