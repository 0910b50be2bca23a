/* The IMDPROXY client against a scripted fake server: one thread per connection
 * serving a RAM image over a socketpair, told to misbehave in the ways ImDisk
 * servers can (short and oversize READ replies, wrong WRITE lengths, errors,
 * closing, going silent, taking one client only). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "common/endian.h"
#include "common/fdio.h"
#include "protocol/imdproxy.h"

#define IMAGE_SIZE (1024u * 1024u)
#define MAX_FAKE_CONNS 32

struct fake_server;

struct fake_conn {
	struct fake_server *server;
	int fd;
	pthread_t thread;
	bool has_thread;
};

struct fake_server {
	pthread_mutex_t lock;
	uint8_t *image;
	struct imdproxy_info info;

	/* Behaviour. */
	uint64_t read_reply_max;   /* READ replies carry at most this much (0: all) */
	int64_t read_end_after;    /* after this many READ data bytes, reply length 0 (-1: never) */
	bool read_oversize;        /* READ replies one byte longer than asked */
	bool write_short;          /* WRITE acknowledged one byte short */
	uint64_t write_errorno;    /* WRITE fails with this errorno */
	int die_after;             /* close the connection at request number N+1 (-1: never) */
	int hang_after;            /* stop answering at request number N+1 (-1: never) */
	bool refuse;               /* the connect callback fails */
	bool unserved;             /* new connections are never answered (one-client server) */
	unsigned int delay_ms;     /* per request, to let requests overlap */

	/* What happened. */
	int requests[IMDPROXY_REQ_SHARED + 2];
	int total;
	int64_t read_bytes;
	int connections;           /* served connections opened */
	struct imdproxy_range last_range;

	struct fake_conn conns[MAX_FAKE_CONNS];
	int conn_count;
};

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 131u + seed * 7u + 1u) % 251u + 1u);
}

static int send_reply(int fd, const void *buf, size_t len)
{
	return send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Reads and throws away everything until the client hangs up. */
static void drain(int fd)
{
	uint8_t junk[4096];

	while (read(fd, junk, sizeof(junk)) > 0)
		;
}

enum fake_fate { FAKE_ANSWER, FAKE_DIE, FAKE_HANG };

/* How many requests of code the server has counted, waiting up to a second
 * for want: it counts in its own thread, after a request that has no reply
 * (CLOSE) has let the client go on. */
static int requests_seen(struct fake_server *s, uint64_t code, int want)
{
	int n = 0;

	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&s->lock);
		n = s->requests[code];
		pthread_mutex_unlock(&s->lock);
		if (n >= want)
			break;
		usleep(5000);
	}
	return n;
}

/* Counts a request and says what the script wants done with it. */
static enum fake_fate fake_account(struct fake_server *s, const struct imdproxy_request *req)
{
	enum fake_fate fate = FAKE_ANSWER;

	pthread_mutex_lock(&s->lock);
	s->requests[req->code <= IMDPROXY_REQ_SHARED ? req->code : IMDPROXY_REQ_SHARED + 1]++;
	s->total++;
	if (s->die_after >= 0 && s->total > s->die_after) {
		s->die_after = -1; /* once: a reconnection finds it well again */
		fate = FAKE_DIE;
	} else if (s->hang_after >= 0 && s->total > s->hang_after) {
		fate = FAKE_HANG;
	}
	pthread_mutex_unlock(&s->lock);
	if (fate == FAKE_ANSWER && s->delay_ms)
		usleep(s->delay_ms * 1000u);
	return fate;
}

/* Serves one request against the image: the reply header goes to reply, READ data
 * to out (at most out_cap bytes).  False for CLOSE (no reply). */
static bool fake_handle(struct fake_server *s, const struct imdproxy_request *req, const uint8_t *data,
			uint64_t payload, uint8_t *reply, size_t *reply_size, uint8_t *out, size_t out_cap,
			size_t *out_len)
{
	*out_len = 0;
	pthread_mutex_lock(&s->lock);
	switch (req->code) {
	case IMDPROXY_REQ_INFO:
		*reply_size = imdproxy_encode_info_reply(reply, &s->info);
		break;
	case IMDPROXY_REQ_READ: {
		uint64_t n = req->length;
		uint64_t errorno = 0;

		if (req->offset > IMAGE_SIZE || req->length > IMAGE_SIZE - req->offset) {
			errorno = EINVAL;
			n = 0;
		}
		if (s->read_reply_max && n > s->read_reply_max)
			n = s->read_reply_max;
		if (s->read_end_after >= 0 && s->read_bytes + (int64_t)n > s->read_end_after)
			n = s->read_bytes >= s->read_end_after ? 0 : (uint64_t)(s->read_end_after - s->read_bytes);
		if (s->read_oversize)
			n = req->length + 1;
		if (n > out_cap || (n && req->offset + n > IMAGE_SIZE))
			abort(); /* a script that does not fit the test */
		s->read_bytes += (int64_t)n;
		*reply_size = imdproxy_encode_read_reply(reply, errorno, n);
		memcpy(out, s->image + req->offset, (size_t)n);
		*out_len = (size_t)n;
		break;
	}
	case IMDPROXY_REQ_WRITE: {
		uint64_t errorno = s->write_errorno;
		uint64_t n = req->length;

		if (req->offset > IMAGE_SIZE || req->length > IMAGE_SIZE - req->offset)
			errorno = EINVAL;
		if (errorno)
			n = IMDPROXY_WRITE_FAILED;
		else
			memcpy(s->image + req->offset, data, (size_t)req->length);
		if (s->write_short && !errorno)
			n--;
		*reply_size = imdproxy_encode_write_reply(reply, errorno, n);
		break;
	}
	case IMDPROXY_REQ_UNMAP:
	case IMDPROXY_REQ_ZERO:
		if (payload != IMDPROXY_RANGE_ENTRY_SIZE)
			abort();
		imdproxy_decode_range(data, &s->last_range);
		if (req->code == IMDPROXY_REQ_ZERO)
			memset(s->image + s->last_range.offset, 0, (size_t)s->last_range.length);
		*reply_size = imdproxy_encode_range_reply(reply, 0);
		break;
	case IMDPROXY_REQ_CLOSE:
		pthread_mutex_unlock(&s->lock);
		return false;
	default:
		*reply_size = imdproxy_encode_error_reply(reply, ENODEV);
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return true;
}

/* No cmocka asserts in the server threads: they must not jump out of another
 * thread.  A script that goes wrong aborts. */
static void *fake_serve(void *arg)
{
	struct fake_conn *conn = arg;
	struct fake_server *s = conn->server;
	uint8_t header[IMDPROXY_MAX_REQUEST_HEADER];
	uint8_t reply[IMDPROXY_MAX_REPLY_HEADER];
	uint8_t *data = malloc(IMAGE_SIZE + 16);
	uint8_t *out = malloc(IMAGE_SIZE + 16);

	if (!data || !out)
		abort();
	for (;;) {
		struct imdproxy_request req;
		uint64_t payload;
		size_t header_size, reply_size, out_len;
		enum fake_fate fate;

		if (read_full(conn->fd, header, IMDPROXY_CODE_SIZE) < 0)
			break;
		header_size = imdproxy_request_header_size(get_le64(header));
		if (header_size > IMDPROXY_CODE_SIZE &&
		    read_full(conn->fd, header + IMDPROXY_CODE_SIZE, header_size - IMDPROXY_CODE_SIZE) < 0)
			break;
		if (imdproxy_decode_request(header, header_size, &req, &payload) != (int)header_size ||
		    payload > IMAGE_SIZE)
			abort();
		if (payload && read_full(conn->fd, data, (size_t)payload) < 0)
			break;
		fate = fake_account(s, &req);
		if (fate == FAKE_DIE) {
			/* The client sees the end at once; the descriptor is
			 * closed by fake_free. */
			shutdown(conn->fd, SHUT_RDWR);
			break;
		}
		if (fate == FAKE_HANG) {
			drain(conn->fd);
			break;
		}
		if (!fake_handle(s, &req, data, payload, reply, &reply_size, out, IMAGE_SIZE + 16, &out_len))
			break;
		send_reply(conn->fd, reply, reply_size);
		if (out_len)
			send_reply(conn->fd, out, out_len);
	}
	free(data);
	free(out);
	return NULL;
}

static struct fake_server *fake_new(void)
{
	struct fake_server *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->image = malloc(IMAGE_SIZE);
	assert_non_null(s->image);
	fill_pattern(s->image, IMAGE_SIZE, 42);
	pthread_mutex_init(&s->lock, NULL);
	s->info = (struct imdproxy_info){ .file_size = IMAGE_SIZE, .req_alignment = 1 };
	s->read_end_after = -1;
	s->die_after = -1;
	s->hang_after = -1;
	return s;
}

/* A new connection to the fake server: returns the client's end. */
static int fake_connect(void *opaque, int timeout_ms)
{
	struct fake_server *s = opaque;
	struct fake_conn *conn;
	int pair[2];

	(void)timeout_ms; /* a socketpair connects at once */

	pthread_mutex_lock(&s->lock);
	if (s->refuse || s->conn_count == MAX_FAKE_CONNS) {
		pthread_mutex_unlock(&s->lock);
		return -ECONNREFUSED;
	}
	/* Called from the disk's I/O threads: abort, not assert. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
		abort();
	conn = &s->conns[s->conn_count++];
	conn->server = s;
	conn->fd = pair[1];
	if (!s->unserved) {
		s->connections++;
		if (pthread_create(&conn->thread, NULL, fake_serve, conn) != 0)
			abort();
		conn->has_thread = true;
	}
	pthread_mutex_unlock(&s->lock);
	return pair[0];
}

/* After the client is closed: every server thread sees the end and stops. */
static void fake_free(struct fake_server *s)
{
	for (int i = 0; i < s->conn_count; i++) {
		if (s->conns[i].has_thread)
			pthread_join(s->conns[i].thread, NULL);
		close(s->conns[i].fd);
	}
	pthread_mutex_destroy(&s->lock);
	free(s->image);
	free(s);
}

/* A disk over one connection (no callback), as with a descriptor handed over. */
static int open_single(struct fake_server *s, unsigned int timeout_ms, struct vdisk **disk)
{
	struct backend_proxy_options options = { .fd = fake_connect(s, 0), .timeout_ms = timeout_ms };
	int r = backend_proxy_open(&options, disk);

	if (r < 0)
		close(options.fd);
	return r;
}

static void test_info_checks(void **state)
{
	struct fake_server *s = fake_new();
	struct vdisk *disk = NULL;

	(void)state;
	s->info.req_alignment = 0;
	assert_int_equal(open_single(s, 1000, &disk), -EBADMSG);
	s->info.req_alignment = 513;
	assert_int_equal(open_single(s, 1000, &disk), -EBADMSG);
	s->info.req_alignment = 512;
	s->info.file_size = 65536;
	assert_int_equal(open_single(s, 1000, &disk), -EINVAL);
	assert_null(disk);
	s->info.file_size = IMAGE_SIZE;
	s->info.flags = IMDPROXY_FLAG_RO | IMDPROXY_FLAG_SUPPORTS_UNMAP;
	assert_int_equal(open_single(s, 1000, &disk), 0);
	assert_int_equal(disk->size, IMAGE_SIZE);
	assert_string_equal(disk->ops->name, "proxy");
	assert_true(disk->flags & VDISK_READ_ONLY);
	assert_true(disk->flags & VDISK_CAN_TRIM);
	assert_false(disk->flags & VDISK_CAN_ZERO);
	assert_true(disk->flags & VDISK_ASYNC_READ);
	assert_true(backend_proxy_connected(disk));
	vdisk_close(disk);
	/* The descriptor is closed with the disk; the server saw the goodbye. */
	fake_free(s);
}

static void test_open_errors(void **state)
{
	struct backend_proxy_options options = { .fd = -1 };
	struct fake_server *s = fake_new();
	struct vdisk *disk = NULL;

	(void)state;
	assert_int_equal(backend_proxy_open(&options, &disk), -EINVAL);
	options.connect = fake_connect;
	options.connect_opaque = s;
	s->refuse = true;
	assert_int_equal(backend_proxy_open(&options, &disk), -ECONNREFUSED);
	/* A server that never answers INFO. */
	s->refuse = false;
	s->unserved = true;
	options.timeout_ms = 100;
	assert_int_equal(backend_proxy_open(&options, &disk), -EIO);
	assert_null(disk);
	assert_false(backend_proxy_connected(NULL));
	fake_free(s);
}

static void test_read_write(void **state)
{
	struct fake_server *s = fake_new();
	struct vdisk *disk;
	uint8_t in[70000], out[70000];

	(void)state;
	assert_int_equal(open_single(s, 2000, &disk), 0);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 1000), 0);
	assert_memory_equal(out, s->image + 1000, sizeof(out));
	fill_pattern(in, sizeof(in), 1);
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 5555), 0);
	assert_memory_equal(s->image + 5555, in, sizeof(in));
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 5555), 0);
	assert_memory_equal(out, in, sizeof(in));
	assert_int_equal(vdisk_flush(disk), 0);
	vdisk_close(disk);
	fake_free(s);
}

/* Short replies: ask again for the rest, as ImDisk does. */
static void test_short_read_replies(void **state)
{
	struct fake_server *s = fake_new();
	struct vdisk *disk;
	uint8_t out[10000];

	(void)state;
	s->read_reply_max = 1000;
	assert_int_equal(open_single(s, 2000, &disk), 0);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 300), 0);
	assert_memory_equal(out, s->image + 300, sizeof(out));
	assert_int_equal(s->requests[IMDPROXY_REQ_READ], 10);
	vdisk_close(disk);
	fake_free(s);
}

/* A reply of length 0 ends the read: the bytes past it are an error. */
static void test_read_ended_early(void **state)
{
	struct fake_server *s = fake_new();
	struct vdisk *disk;
	uint8_t out[10000];

	(void)state;
	s->read_reply_max = 1000;
	s->read_end_after = 2500;
	assert_int_equal(open_single(s, 2000, &disk), 0);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), -EIO);
	assert_memory_equal(out, s->image, 2500);
	/* The stream is still in step. */
	s->read_end_after = -1;
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), 0);
	assert_memory_equal(out, s->image, sizeof(out));
	assert_true(backend_proxy_connected(disk));
	vdisk_close(disk);
	fake_free(s);
}

/* Longer than asked: a fatal device error; the connection is dropped. */
static void test_read_oversize(void **state)
{
	struct fake_server *s = fake_new();
	struct vdisk *disk;
	uint8_t out[4096];

	(void)state;
	s->read_oversize = true;
	assert_int_equal(open_single(s, 2000, &disk), 0);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), -EIO);
	assert_false(backend_proxy_connected(disk));
	s->read_oversize = false;
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), -EIO);
	vdisk_close(disk);
	fake_free(s);
}

static void test_write_errors(void **state)
{
	struct fake_server *s = fake_new();
	struct vdisk *disk;
	uint8_t in[4096];

	(void)state;
	fill_pattern(in, sizeof(in), 2);
	assert_int_equal(open_single(s, 2000, &disk), 0);
	s->write_short = true;
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 0), -EIO);
	s->write_short = false;
	s->write_errorno = EBADF; /* what devio -r answers */
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 0), -EIO);
	s->write_errorno = 0;
	/* Both left the stream in step. */
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 8192), 0);
	assert_memory_equal(s->image + 8192, in, sizeof(in));
	assert_true(backend_proxy_connected(disk));
	vdisk_close(disk);
	fake_free(s);
}

/* Large requests are split at max_transfer. */
static void test_split(void **state)
{
	struct fake_server *s = fake_new();
	struct backend_proxy_options options = { .fd = fake_connect(s, 0), .max_transfer = 65536 };
	struct vdisk *disk;
	uint8_t *buf = malloc(300000);

	(void)state;
	assert_non_null(buf);
	assert_int_equal(backend_proxy_open(&options, &disk), 0);
	fill_pattern(buf, 300000, 3);
	assert_int_equal(vdisk_write(disk, buf, 300000, 7), 0);
	assert_int_equal(s->requests[IMDPROXY_REQ_WRITE], 5);
	assert_memory_equal(s->image + 7, buf, 300000);
	assert_int_equal(vdisk_read(disk, buf, 300000, 100), 0);
	assert_int_equal(s->requests[IMDPROXY_REQ_READ], 5);
	assert_memory_equal(s->image + 100, buf, 300000);
	vdisk_close(disk);
	fake_free(s);
	free(buf);
}

/* UNMAP and ZERO go out only when INFO advertised them. */
static void test_trim_zero(void **state)
{
	struct fake_server *s = fake_new();
	struct vdisk *disk;
	uint8_t out[5000];

	(void)state;
	assert_int_equal(open_single(s, 2000, &disk), 0);
	assert_int_equal(vdisk_trim(disk, 4096, 8192), 0);
	assert_int_equal(s->requests[IMDPROXY_REQ_UNMAP], 0);
	assert_int_equal(vdisk_zero(disk, 1000, 5000), 0);
	assert_int_equal(s->requests[IMDPROXY_REQ_ZERO], 0);
	assert_true(s->requests[IMDPROXY_REQ_WRITE] >= 1);
	assert_int_equal(vdisk_read(disk, out, 5000, 1000), 0);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
	vdisk_close(disk);

	s->info.flags = IMDPROXY_FLAG_SUPPORTS_UNMAP | IMDPROXY_FLAG_SUPPORTS_ZERO;
	assert_int_equal(open_single(s, 2000, &disk), 0);
	assert_true(disk->flags & VDISK_CAN_ZERO);
	assert_int_equal(vdisk_trim(disk, 4096, 8192), 0);
	assert_int_equal(s->requests[IMDPROXY_REQ_UNMAP], 1);
	assert_int_equal(s->last_range.offset, 4096);
	assert_int_equal(s->last_range.length, 8192);
	assert_int_equal(vdisk_zero(disk, 20000, 3000), 0);
	assert_int_equal(s->requests[IMDPROXY_REQ_ZERO], 1);
	assert_int_equal(s->last_range.offset, 20000);
	assert_int_equal(s->last_range.length, 3000);
	vdisk_close(disk);
	fake_free(s);
}

/* The server goes away: -EIO, fast, and the disk says it is disconnected. */
static void test_server_closes(void **state)
{
	struct fake_server *s = fake_new();
	struct vdisk *disk;
	uint8_t out[4096];
	uint64_t start;

	(void)state;
	assert_int_equal(open_single(s, 1000, &disk), 0);
	assert_true(backend_proxy_connected(disk));
	s->die_after = s->total;
	/* Seen even before the next request: the idle connection hung up. */
	shutdown(s->conns[0].fd, SHUT_RDWR);
	assert_false(backend_proxy_connected(disk));
	start = now_ms();
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), -EIO);
	assert_true(now_ms() - start < 1000);
	assert_false(backend_proxy_connected(disk));
	assert_int_equal(vdisk_write(disk, out, sizeof(out), 0), -EIO);
	vdisk_close(disk);
	fake_free(s);
}

/* The server goes silent: -EIO within the timeout. */
static void test_server_silent(void **state)
{
	struct fake_server *s = fake_new();
	struct vdisk *disk;
	uint8_t out[4096];
	uint64_t start, took;

	(void)state;
	assert_int_equal(open_single(s, 300, &disk), 0);
	s->hang_after = s->total;
	start = now_ms();
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), -EIO);
	took = now_ms() - start;
	assert_true(took >= 250);
	assert_true(took < 1500);
	assert_false(backend_proxy_connected(disk));
	vdisk_close(disk);
	fake_free(s);
}

/* With a connect callback, a request that met a dying server is sent again on a
 * new connection: every write that returned 0 is in the image. */
static void test_reconnect(void **state)
{
	struct fake_server *s = fake_new();
	struct backend_proxy_options options = {
		.fd = -1, .connect = fake_connect, .connect_opaque = s,
		.max_connections = 1, .timeout_ms = 1000,
	};
	struct vdisk *disk;
	uint8_t in[8192], out[8192];

	(void)state;
	assert_int_equal(backend_proxy_open(&options, &disk), 0);
	for (int round = 0; round < 20; round++) {
		if (round % 5 == 2)
			s->die_after = s->total;
		fill_pattern(in, sizeof(in), (uint32_t)round + 100);
		assert_int_equal(vdisk_write(disk, in, sizeof(in), (uint64_t)round * sizeof(in)), 0);
	}
	for (int round = 0; round < 20; round++) {
		fill_pattern(in, sizeof(in), (uint32_t)round + 100);
		assert_memory_equal(s->image + round * sizeof(in), in, sizeof(in));
		assert_int_equal(vdisk_read(disk, out, sizeof(out), (uint64_t)round * sizeof(out)), 0);
		assert_memory_equal(out, in, sizeof(in));
	}
	assert_true(backend_proxy_connected(disk));
	assert_true(s->connections >= 5);
	vdisk_close(disk);
	fake_free(s);
}

/* A silent server and a reconnect that is refused: -EIO once the window closes. */
static void test_reconnect_gives_up(void **state)
{
	struct fake_server *s = fake_new();
	struct backend_proxy_options options = {
		.fd = -1, .connect = fake_connect, .connect_opaque = s, .timeout_ms = 300,
	};
	struct vdisk *disk;
	uint8_t out[4096];
	uint64_t start, took;

	(void)state;
	assert_int_equal(backend_proxy_open(&options, &disk), 0);
	s->hang_after = s->total;
	s->refuse = true;
	start = now_ms();
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), -EIO);
	took = now_ms() - start;
	assert_true(took < 2000);
	assert_false(backend_proxy_connected(disk));
	/* Back again: the next request reconnects. */
	s->refuse = false;
	s->hang_after = -1;
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), 0);
	assert_memory_equal(out, s->image, sizeof(out));
	assert_true(backend_proxy_connected(disk));
	vdisk_close(disk);
	fake_free(s);
}

struct parallel_job {
	struct vdisk *disk;
	uint32_t index;
	int result;
};

static void *parallel_io(void *arg)
{
	struct parallel_job *job = arg;
	uint8_t in[16384], out[16384];

	job->result = 0;
	for (uint32_t round = 0; round < 8 && job->result == 0; round++) {
		uint64_t offset = ((uint64_t)job->index * 8 + round) * sizeof(in);
		fill_pattern(in, sizeof(in), job->index * 10 + round);
		job->result = vdisk_write(job->disk, in, sizeof(in), offset);
		if (job->result == 0)
			job->result = vdisk_read(job->disk, out, sizeof(out), offset);
		if (job->result == 0 && memcmp(in, out, sizeof(in)) != 0)
			job->result = -EILSEQ;
	}
	return NULL;
}

static void run_parallel(struct vdisk *disk)
{
	struct parallel_job jobs[4];
	pthread_t threads[4];

	for (uint32_t i = 0; i < 4; i++) {
		jobs[i] = (struct parallel_job){ .disk = disk, .index = i };
		assert_int_equal(pthread_create(&threads[i], NULL, parallel_io, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(jobs[i].result, 0);
	}
}

/* A server that takes several clients gets several connections, used at once. */
static void test_pool(void **state)
{
	struct fake_server *s = fake_new();
	struct backend_proxy_options options = {
		.fd = -1, .connect = fake_connect, .connect_opaque = s,
		.max_connections = 4, .timeout_ms = 2000,
	};
	struct vdisk *disk;

	(void)state;
	s->delay_ms = 5;
	assert_int_equal(backend_proxy_open(&options, &disk), 0);
	run_parallel(disk);
	assert_true(s->connections > 1);
	assert_true(s->connections <= 4);
	vdisk_close(disk);
	fake_free(s);
}

/* A server that takes one client at a time (its backlog accepts the others, which
 * are never answered): the pool stays at one connection and I/O goes on. */
static void test_pool_one_client_server(void **state)
{
	struct fake_server *s = fake_new();
	struct backend_proxy_options options = {
		.fd = -1, .connect = fake_connect, .connect_opaque = s,
		.max_connections = 4, .timeout_ms = 200,
	};
	struct vdisk *disk;

	(void)state;
	s->delay_ms = 5;
	assert_int_equal(backend_proxy_open(&options, &disk), 0);
	s->unserved = true;
	run_parallel(disk);
	assert_int_equal(s->connections, 1);
	assert_true(backend_proxy_connected(disk));
	vdisk_close(disk);
	fake_free(s);
}

/* A fake shared-memory server: the section, its semaphores and the server lock as
 * docs/imdproxy-shm.md lays them out, served by one thread. */
struct fake_shm {
	struct fake_server *server;
	char name[64], section[80], request_name[96], response_name[96];
	int fd;
	uint8_t *map;
	size_t data_size;
	sem_t *request;
	sem_t *response;
	pthread_t thread;
	atomic_bool stop;
	bool dead;
};

static void *fake_shm_serve(void *arg)
{
	struct fake_shm *shm = arg;
	uint8_t *data = shm->map + IMDPROXY_SHM_HEADER_AREA;
	uint8_t *scratch = malloc(shm->data_size);

	if (!scratch)
		abort();
	for (;;) {
		struct imdproxy_request req;
		uint8_t reply[IMDPROXY_MAX_REPLY_HEADER];
		size_t reply_size, out_len;
		uint64_t payload, seq;
		enum fake_fate fate;

		if (sem_wait(shm->request) < 0) {
			if (errno == EINTR)
				continue;
			abort();
		}
		if (atomic_load(&shm->stop))
			break;
		seq = get_le64(shm->map + IMDPROXY_SHM_REQUEST_SEQ_OFFSET);
		if (imdproxy_decode_request(shm->map, IMDPROXY_SHM_HEADER_AREA, &req, &payload) < 0 ||
		    payload > shm->data_size)
			abort();
		fate = fake_account(shm->server, &req);
		if (fate == FAKE_DIE) {
			/* Gone: the kernel drops the server lock with the descriptor. */
			munmap(shm->map, shm->data_size + IMDPROXY_SHM_HEADER_AREA);
			close(shm->fd);
			shm->dead = true;
			break;
		}
		if (fate == FAKE_HANG)
			continue;
		/* Data in and out share the section: keep the request's apart. */
		memcpy(scratch, data, (size_t)payload);
		if (fake_handle(shm->server, &req, scratch, payload, reply, &reply_size, data,
				shm->data_size, &out_len))
			memcpy(shm->map, reply, reply_size);
		put_le64(shm->map + IMDPROXY_SHM_REPLY_SEQ_OFFSET, seq);
		if (req.code != IMDPROXY_REQ_CLOSE)
			sem_post(shm->response);
	}
	free(scratch);
	return NULL;
}

static struct fake_shm *fake_shm_start(struct fake_server *s, const char *name, size_t data_size)
{
	struct fake_shm *shm = calloc(1, sizeof(*shm));
	struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			      .l_start = IMDPROXY_SHM_SERVER_LOCK_BYTE, .l_len = 1 };

	assert_non_null(shm);
	shm->server = s;
	shm->data_size = data_size;
	snprintf(shm->name, sizeof(shm->name), "%s", name);
	snprintf(shm->section, sizeof(shm->section), "/%s", name);
	snprintf(shm->request_name, sizeof(shm->request_name), "/%s%s", name, IMDPROXY_SHM_REQUEST_SUFFIX);
	snprintf(shm->response_name, sizeof(shm->response_name), "/%s%s", name, IMDPROXY_SHM_RESPONSE_SUFFIX);
	shm->fd = shm_open(shm->section, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(shm->fd >= 0);
	assert_int_equal(fcntl(shm->fd, F_OFD_SETLK, &lock), 0);
	assert_int_equal(ftruncate(shm->fd, 0), 0);
	assert_int_equal(ftruncate(shm->fd, (off_t)(data_size + IMDPROXY_SHM_HEADER_AREA)), 0);
	shm->map = mmap(NULL, data_size + IMDPROXY_SHM_HEADER_AREA, PROT_READ | PROT_WRITE, MAP_SHARED,
			shm->fd, 0);
	assert_true(shm->map != MAP_FAILED);
	sem_unlink(shm->request_name);
	sem_unlink(shm->response_name);
	shm->request = sem_open(shm->request_name, O_CREAT | O_EXCL, 0600, 0);
	shm->response = sem_open(shm->response_name, O_CREAT | O_EXCL, 0600, 0);
	assert_true(shm->request != SEM_FAILED);
	assert_true(shm->response != SEM_FAILED);
	put_le64(shm->map + IMDPROXY_SHM_DATA_SIZE_OFFSET, data_size);
	put_le64(shm->map + IMDPROXY_SHM_SERVER_PID_OFFSET, (uint64_t)getpid());
	memcpy(shm->map + IMDPROXY_SHM_MAGIC_OFFSET, IMDPROXY_SHM_MAGIC, 8);
	assert_int_equal(pthread_create(&shm->thread, NULL, fake_shm_serve, shm), 0);
	return shm;
}

/* Stops the server thread; remove: take the names away too. */
static void fake_shm_stop(struct fake_shm *shm, bool remove)
{
	atomic_store(&shm->stop, true);
	sem_post(shm->request);
	pthread_join(shm->thread, NULL);
	if (!shm->dead) {
		munmap(shm->map, shm->data_size + IMDPROXY_SHM_HEADER_AREA);
		close(shm->fd);
	}
	sem_close(shm->request);
	sem_close(shm->response);
	if (remove) {
		shm_unlink(shm->section);
		sem_unlink(shm->request_name);
		sem_unlink(shm->response_name);
	}
	free(shm);
}

static void shm_test_name(char *name, size_t cap)
{
	snprintf(name, cap, "imdisk-test-proxy-%d", (int)getpid());
}

static void test_shm_read_write(void **state)
{
	struct fake_server *s = fake_new();
	char name[64];
	struct fake_shm *shm;
	struct backend_proxy_options options = { .fd = -1, .timeout_ms = 2000 };
	struct vdisk *disk, *second = NULL;
	uint8_t *in = malloc(300000), *out = malloc(300000);

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	shm_test_name(name, sizeof(name));
	shm = fake_shm_start(s, name, 65536);
	options.shm_name = name;
	assert_int_equal(backend_proxy_open(&options, &disk), 0);
	assert_int_equal(disk->size, IMAGE_SIZE);
	assert_true(backend_proxy_connected(disk));
	/* One client at a time. */
	assert_int_equal(backend_proxy_open(&options, &second), -EBUSY);
	assert_null(second);
	/* Larger than the section: split at its data size. */
	fill_pattern(in, 300000, 20);
	assert_int_equal(vdisk_write(disk, in, 300000, 12345), 0);
	assert_int_equal(s->requests[IMDPROXY_REQ_WRITE], 5);
	assert_memory_equal(s->image + 12345, in, 300000);
	s->read_reply_max = 10000;
	assert_int_equal(vdisk_read(disk, out, 300000, 12345), 0);
	assert_memory_equal(out, in, 300000);
	s->read_reply_max = 0;
	s->write_short = true;
	assert_int_equal(vdisk_write(disk, in, 512, 0), -EIO);
	s->write_short = false;
	vdisk_close(disk);
	assert_int_equal(requests_seen(s, IMDPROXY_REQ_CLOSE, 1), 1);
	/* Free again once closed. */
	assert_int_equal(backend_proxy_open(&options, &disk), 0);
	vdisk_close(disk);
	fake_shm_stop(shm, true);
	options.shm_name = "no/such";
	assert_int_equal(backend_proxy_open(&options, &disk), -EINVAL);
	options.shm_name = "imdisk-test-no-such-section";
	assert_int_equal(backend_proxy_open(&options, &disk), -ECONNREFUSED);
	fake_free(s);
	free(in);
	free(out);
}

/* The server dies: its lock goes, the client notices at once; a new server on the
 * same name is attached again and the request goes through. */
static void test_shm_server_restarts(void **state)
{
	struct fake_server *s = fake_new();
	char name[64];
	struct fake_shm *shm;
	struct backend_proxy_options options = { .fd = -1, .timeout_ms = 500 };
	struct vdisk *disk;
	uint8_t in[4096], out[4096];
	uint64_t start;

	(void)state;
	shm_test_name(name, sizeof(name));
	shm = fake_shm_start(s, name, 65536);
	options.shm_name = name;
	assert_int_equal(backend_proxy_open(&options, &disk), 0);
	s->die_after = s->total;
	start = now_ms();
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), -EIO);
	assert_true(now_ms() - start < 1500);
	assert_false(backend_proxy_connected(disk));
	fake_shm_stop(shm, false);

	shm = fake_shm_start(s, name, 65536);
	fill_pattern(in, sizeof(in), 21);
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 4096), 0);
	assert_memory_equal(s->image + 4096, in, sizeof(in));
	assert_true(backend_proxy_connected(disk));
	/* A silent server: -EIO within the timeout. */
	s->hang_after = s->total;
	start = now_ms();
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), -EIO);
	assert_true(now_ms() - start < 2500);
	vdisk_close(disk);
	fake_shm_stop(shm, true);
	fake_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_checks),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_short_read_replies),
		cmocka_unit_test(test_read_ended_early),
		cmocka_unit_test(test_read_oversize),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_trim_zero),
		cmocka_unit_test(test_server_closes),
		cmocka_unit_test(test_server_silent),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_reconnect_gives_up),
		cmocka_unit_test(test_pool),
		cmocka_unit_test(test_pool_one_client_server),
		cmocka_unit_test(test_shm_read_write),
		cmocka_unit_test(test_shm_server_restarts),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
