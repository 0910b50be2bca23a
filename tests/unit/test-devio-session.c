/* Unit tests for devio's stream session (src/devio/session.c) on a socket pair
 * and on pipes, with a RAM disk behind it: headers that arrive a byte at a time,
 * data read through the read-ahead and straight into the request buffer, several
 * requests in one send, the ends (CLOSE, end of stream between requests and in
 * the middle of one), the idle timeout, and a stop that ends a waiting session. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "common/endian.h"
#include "devio/devio.h"

#define MiB (1u << 20)

static struct devio_server server;

struct session_thread {
	pthread_t thread;
	int in_fd, out_fd;
	int result;
};

static int setup(void **state)
{
	struct vdisk *disk;

	(void)state;
	if (backend_memory_open(MiB, &disk) < 0)
		return -1;
	return devio_server_init(&server, disk, 1, MiB, false);
}

static int teardown(void **state)
{
	(void)state;
	return devio_server_finish(&server, 1000);
}

static void *run_session(void *arg)
{
	struct session_thread *t = arg;

	t->result = devio_serve_stream(&server, t->in_fd, t->out_fd, "test", false);
	return NULL;
}

/* A session on one end of a socket pair; the other end is returned. */
static int start_socket_session(struct session_thread *t)
{
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	t->in_fd = t->out_fd = fds[1];
	assert_int_equal(pthread_create(&t->thread, NULL, run_session, t), 0);
	return fds[0];
}

static int join_session(struct session_thread *t)
{
	assert_int_equal(pthread_join(t->thread, NULL), 0);
	if (t->in_fd != t->out_fd)
		close(t->out_fd);
	close(t->in_fd);
	return t->result;
}

static void send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void recv_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static size_t put_request(uint8_t *p, uint64_t code, uint64_t a, uint64_t b)
{
	put_le64(p, code);
	if (code == IMDPROXY_REQ_INFO || code == IMDPROXY_REQ_CLOSE)
		return 8;
	put_le64(p + 8, a);
	put_le64(p + 16, b);
	return 24;
}

static uint64_t elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - start->tv_sec) * 1000u +
	       (uint64_t)((now.tv_nsec - start->tv_nsec) / 1000000);
}

static void pattern(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + seed);
}

/* WRITE len bytes at offset, then READ them back, each reply checked. */
static void write_and_read_back(int fd, uint64_t offset, size_t len, bool in_pieces)
{
	uint8_t *data = malloc(len), *back = malloc(len), header[24], reply[16];

	assert_non_null(data);
	assert_non_null(back);
	pattern(data, len, (unsigned)len);
	send_all(fd, header, put_request(header, IMDPROXY_REQ_WRITE, offset, len));
	for (size_t done = 0; done < len;) {
		size_t piece = in_pieces && len - done > 1000 ? 1000 : len - done;
		send_all(fd, data + done, piece);
		done += piece;
	}
	recv_all(fd, reply, 16);
	assert_int_equal(get_le64(reply), 0);
	assert_int_equal(get_le64(reply + 8), len);
	send_all(fd, header, put_request(header, IMDPROXY_REQ_READ, offset, len));
	recv_all(fd, reply, 16);
	assert_int_equal(get_le64(reply), 0);
	assert_int_equal(get_le64(reply + 8), len);
	recv_all(fd, back, len);
	assert_memory_equal(data, back, len);
	free(data);
	free(back);
}

static void test_header_a_byte_at_a_time(void **state)
{
	struct session_thread t;
	int fd = start_socket_session(&t);
	uint8_t request[8], reply[24];

	(void)state;
	put_request(request, IMDPROXY_REQ_INFO, 0, 0);
	for (size_t i = 0; i < sizeof(request); i++) {
		send_all(fd, request + i, 1);
		usleep(2000);
	}
	recv_all(fd, reply, sizeof(reply));
	assert_int_equal(get_le64(reply), MiB);
	send_all(fd, request, put_request(request, IMDPROXY_REQ_CLOSE, 0, 0));
	assert_int_equal(join_session(&t), 0);
	close(fd);
}

static void test_data_paths(void **state)
{
	struct session_thread t;
	int fd = start_socket_session(&t);

	(void)state;
	write_and_read_back(fd, 100, 1000, false);          /* through the read-ahead */
	write_and_read_back(fd, 4096, 512 * 1024, false);   /* straight into the buffer */
	write_and_read_back(fd, 7777, 300 * 1024, true);    /* arriving in pieces */
	close(fd);
	assert_int_equal(join_session(&t), 0);
}

/* Three requests and a WRITE's data in one send: each answered in order. */
static void test_requests_in_one_send(void **state)
{
	struct session_thread t;
	int fd = start_socket_session(&t);
	uint8_t batch[8 + 24 + 100 + 24], reply[24 + 16 + 16 + 100];
	size_t n = 0;

	(void)state;
	n += put_request(batch + n, IMDPROXY_REQ_INFO, 0, 0);
	n += put_request(batch + n, IMDPROXY_REQ_WRITE, 512, 100);
	pattern(batch + n, 100, 3);
	n += 100;
	n += put_request(batch + n, IMDPROXY_REQ_READ, 512, 100);
	send_all(fd, batch, n);
	recv_all(fd, reply, sizeof(reply));
	assert_int_equal(get_le64(reply), MiB);
	assert_int_equal(get_le64(reply + 24), 0);
	assert_int_equal(get_le64(reply + 32), 100);
	assert_int_equal(get_le64(reply + 40), 0);
	assert_int_equal(get_le64(reply + 48), 100);
	assert_memory_equal(reply + 56, batch + 32, 100);
	close(fd);
	assert_int_equal(join_session(&t), 0);
}

static void test_end_in_a_request(void **state)
{
	struct session_thread t;
	int fd = start_socket_session(&t);
	uint8_t request[24 + 10];

	(void)state;
	put_request(request, IMDPROXY_REQ_WRITE, 0, 4096);
	memset(request + 24, 1, 10);
	send_all(fd, request, sizeof(request)); /* 10 of 4096 bytes */
	shutdown(fd, SHUT_WR);
	assert_int_equal(join_session(&t), -EPIPE);
	close(fd);
}

static void test_end_in_a_header(void **state)
{
	struct session_thread t;
	int fd = start_socket_session(&t);
	uint8_t request[24];

	(void)state;
	put_request(request, IMDPROXY_REQ_READ, 0, 512);
	send_all(fd, request, 12);
	shutdown(fd, SHUT_WR);
	assert_int_equal(join_session(&t), -EPIPE);
	close(fd);
}

static void test_idle_timeout(void **state)
{
	struct session_thread t;
	struct timespec start;
	uint8_t request[8];
	int fd, r;

	(void)state;
	server.idle_timeout_ms = 300;
	clock_gettime(CLOCK_MONOTONIC, &start);
	fd = start_socket_session(&t);
	send_all(fd, request, put_request(request, IMDPROXY_REQ_INFO, 0, 0) - 3); /* 5 bytes */
	r = join_session(&t);
	assert_int_equal(r, -ETIMEDOUT);
	assert_in_range(elapsed_ms(&start), 300, 2000);
	close(fd);
}

/* A session waiting for a request, on a socket and on pipes, ends soon after
 * devio starts stopping, with 0. */
static void test_stop_ends_waiting_sessions(void **state)
{
	struct session_thread on_socket, on_pipes;
	struct timespec start;
	int to_session[2], from_session[2];
	int fd = start_socket_session(&on_socket);

	(void)state;
	assert_int_equal(pipe(to_session), 0);
	assert_int_equal(pipe(from_session), 0);
	on_pipes.in_fd = to_session[0];
	on_pipes.out_fd = from_session[1];
	assert_int_equal(pthread_create(&on_pipes.thread, NULL, run_session, &on_pipes), 0);
	usleep(100 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &start);
	devio_server_stop(&server);
	assert_int_equal(join_session(&on_socket), 0);
	assert_int_equal(join_session(&on_pipes), 0);
	assert_in_range(elapsed_ms(&start), 0, 1000);
	close(fd);
	close(to_session[1]);
	close(from_session[0]);
}

static void test_pipes(void **state)
{
	struct session_thread t;
	int to_session[2], from_session[2];
	uint8_t request[8], reply[24];

	(void)state;
	assert_int_equal(pipe(to_session), 0);
	assert_int_equal(pipe(from_session), 0);
	t.in_fd = to_session[0];
	t.out_fd = from_session[1];
	assert_int_equal(pthread_create(&t.thread, NULL, run_session, &t), 0);
	send_all(to_session[1], request, put_request(request, IMDPROXY_REQ_INFO, 0, 0));
	recv_all(from_session[0], reply, sizeof(reply));
	assert_int_equal(get_le64(reply), MiB);
	close(to_session[1]); /* the end of the stream between requests: a clean end */
	assert_int_equal(join_session(&t), 0);
	close(from_session[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_header_a_byte_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requests_in_one_send, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_in_a_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_in_a_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_ends_waiting_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
