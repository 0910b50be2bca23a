/* Unit tests for deadlines and stream transfers (src/common/deadline.c,
 * src/common/stream_io.c) over socketpairs. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/deadline.h"
#include "common/stream_io.h"

static void make_pair(int fds[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
}

static int64_t elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

static void test_deadline_arithmetic(void **state)
{
	struct timespec d = deadline_after_ms(1500);
	int left = deadline_remaining_ms(&d);

	(void)state;
	assert_true(left > 1400 && left <= 1500);
	assert_false(deadline_passed(&d));
	assert_int_equal(deadline_remaining_ms(NULL), -1);
	d = deadline_after_ms(0);
	assert_int_equal(deadline_remaining_ms(&d), 0);
	assert_true(deadline_passed(&d));
}

static void test_poll_times_out(void **state)
{
	int fds[2];
	struct pollfd pfd;
	struct timespec start, d;

	(void)state;
	make_pair(fds);
	pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
	clock_gettime(CLOCK_MONOTONIC, &start);
	d = deadline_after_ms(50);
	assert_int_equal(deadline_poll(&pfd, 1, &d), -ETIMEDOUT);
	assert_true(elapsed_ms(&start) >= 49);
	assert_int_equal(write(fds[1], "x", 1), 1);
	d = deadline_after_ms(50);
	assert_int_equal(deadline_poll(&pfd, 1, &d), 1);
	close(fds[0]);
	close(fds[1]);
}

/* A peer that reads slowly, in small pieces, so that writes are partial. */
struct slow_reader {
	int fd;
	size_t len;
	uint8_t *got;
};

static void *slow_read(void *arg)
{
	struct slow_reader *s = arg;
	size_t done = 0;

	while (done < s->len) {
		struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
		ssize_t n;

		poll(&pfd, 1, 1000);
		n = read(s->fd, s->got + done, s->len - done < 4096 ? s->len - done : 4096);
		if (n > 0)
			done += (size_t)n;
		else if (n == 0)
			break;
	}
	return NULL;
}

static void test_write_all_partial(void **state)
{
	enum { LEN = 3 << 20 };
	uint8_t header[24];
	uint8_t *data = malloc(LEN), *got = malloc(LEN + sizeof(header));
	struct iovec iov[3];
	struct slow_reader s;
	pthread_t thread;
	struct timespec d = deadline_after_ms(10000);
	int fds[2], small = 8192;

	(void)state;
	make_pair(fds);
	setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	for (size_t i = 0; i < sizeof(header); i++)
		header[i] = (uint8_t)(0xa0 + i);
	for (size_t i = 0; i < LEN; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	iov[0] = (struct iovec){.iov_base = header, .iov_len = sizeof(header)};
	iov[1] = (struct iovec){.iov_base = NULL, .iov_len = 0}; /* empty entries are skipped */
	iov[2] = (struct iovec){.iov_base = data, .iov_len = LEN};
	s = (struct slow_reader){.fd = fds[0], .len = LEN + sizeof(header), .got = got};
	assert_int_equal(pthread_create(&thread, NULL, slow_read, &s), 0);
	assert_int_equal(stream_write_all(fds[1], iov, 3, &d), 0);
	pthread_join(thread, NULL);
	assert_memory_equal(got, header, sizeof(header));
	assert_memory_equal(got + sizeof(header), data, LEN);
	close(fds[0]);
	close(fds[1]);
	free(data);
	free(got);
}

static void test_write_all_times_out(void **state)
{
	enum { LEN = 8 << 20 };
	uint8_t *data = calloc(1, LEN);
	struct iovec iov = {.iov_base = data, .iov_len = LEN};
	struct timespec start, d;
	int fds[2];

	(void)state;
	make_pair(fds);
	clock_gettime(CLOCK_MONOTONIC, &start);
	d = deadline_after_ms(100);
	/* Nobody reads: the socket fills up and the deadline passes. */
	assert_int_equal(stream_write_all(fds[1], &iov, 1, &d), -ETIMEDOUT);
	assert_true(elapsed_ms(&start) >= 99);
	close(fds[0]);
	close(fds[1]);
	free(data);
}

static void test_write_all_peer_closed(void **state)
{
	uint8_t data[64] = {0};
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	int fds[2];

	(void)state;
	make_pair(fds);
	close(fds[0]);
	assert_int_equal(stream_write_all(fds[1], &iov, 1, NULL), -EPIPE);
	close(fds[1]);
}

static void test_write_all_pipe(void **state)
{
	uint8_t got[5];
	struct iovec iov[2] = {{.iov_base = "ab", .iov_len = 2}, {.iov_base = "cde", .iov_len = 3}};
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(stream_write_all(p[1], iov, 2, NULL), 0);
	assert_int_equal(read(p[0], got, 5), 5);
	assert_memory_equal(got, "abcde", 5);
	close(p[0]);
	assert_int_equal(stream_write_all(p[1], iov, 2, NULL), -EPIPE); /* SIGPIPE ignored below */
	close(p[1]);
}

static void test_reader_fill_and_take(void **state)
{
	uint8_t buf[16], got[40];
	struct stream_reader r;
	struct timespec d = deadline_after_ms(1000);
	int fds[2];

	(void)state;
	make_pair(fds);
	stream_reader_init(&r, fds[0], buf, sizeof(buf));
	assert_int_equal(write(fds[1], "0123456789", 10), 10);
	assert_int_equal(stream_reader_fill(&r, 4, &d), 1);
	assert_true(stream_reader_buffered(&r) >= 4);
	assert_int_equal(stream_reader_take(&r, got, 4, &d), 0);
	assert_memory_equal(got, "0123", 4);
	/* A take larger than the buffer: the rest goes straight into dst. */
	assert_int_equal(write(fds[1], "abcdefghijklmnopqrstuvwxyz", 26), 26);
	assert_int_equal(stream_reader_take(&r, got, 32, &d), 0);
	assert_memory_equal(got, "456789abcdefghijklmnopqrstuvwxyz", 32);
	assert_int_equal(stream_reader_buffered(&r), 0);
	/* More than the buffer holds cannot be made buffered. */
	assert_int_equal(stream_reader_fill(&r, sizeof(buf) + 1, &d), -EMSGSIZE);
	close(fds[0]);
	close(fds[1]);
}

static void test_reader_times_out(void **state)
{
	uint8_t buf[16], got[8];
	struct stream_reader r;
	struct timespec start, d;
	int fds[2];

	(void)state;
	make_pair(fds);
	stream_reader_init(&r, fds[0], buf, sizeof(buf));
	assert_int_equal(write(fds[1], "abc", 3), 3);
	clock_gettime(CLOCK_MONOTONIC, &start);
	d = deadline_after_ms(60);
	assert_int_equal(stream_reader_take(&r, got, 8, &d), -ETIMEDOUT);
	assert_true(elapsed_ms(&start) >= 59);
	close(fds[0]);
	close(fds[1]);
}

static void test_reader_end_of_stream(void **state)
{
	uint8_t buf[16], got[8];
	struct stream_reader r;
	int fds[2];

	(void)state;
	make_pair(fds);
	stream_reader_init(&r, fds[0], buf, sizeof(buf));
	close(fds[1]);
	assert_int_equal(stream_reader_fill(&r, 4, NULL), 0); /* clean end: nothing came */
	close(fds[0]);

	make_pair(fds);
	stream_reader_init(&r, fds[0], buf, sizeof(buf));
	assert_int_equal(write(fds[1], "ab", 2), 2);
	close(fds[1]);
	assert_int_equal(stream_reader_fill(&r, 4, NULL), -EPIPE); /* ended in the middle */
	assert_int_equal(stream_reader_take(&r, got, 8, NULL), -EPIPE);
	close(fds[0]);
}

/* A signal during the wait (EINTR) does not end it early. */
static void on_alarm(int sig)
{
	(void)sig;
}

static void *write_later(void *arg)
{
	int fd = *(int *)arg;

	usleep(80 * 1000);
	if (write(fd, "late", 4) != 4)
		abort();
	return NULL;
}

static void test_reader_eintr(void **state)
{
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
	uint8_t buf[16], got[4];
	struct stream_reader r;
	struct timespec d = deadline_after_ms(2000);
	pthread_t thread;
	int fds[2];

	(void)state;
	sigaction(SIGALRM, &sa, NULL);
	make_pair(fds);
	stream_reader_init(&r, fds[0], buf, sizeof(buf));
	assert_int_equal(pthread_create(&thread, NULL, write_later, &fds[1]), 0);
	ualarm(20 * 1000, 0);
	assert_int_equal(stream_reader_take(&r, got, 4, &d), 0);
	assert_memory_equal(got, "late", 4);
	pthread_join(thread, NULL);
	close(fds[0]);
	close(fds[1]);
}

static void test_reader_reset(void **state)
{
	uint8_t buf[16];
	struct stream_reader r;
	struct linger hard = {.l_onoff = 1, .l_linger = 0};
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);
	int listener, client, server;

	(void)state;
	/* A reset needs TCP: loopback, any port. */
	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(listener, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(listen(listener, 1), 0);
	assert_int_equal(getsockname(listener, (struct sockaddr *)&addr, &len), 0);
	client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(client, (struct sockaddr *)&addr, len), 0);
	server = accept(listener, NULL, NULL);
	assert_true(server >= 0);
	assert_int_equal(write(client, "x", 1), 1);
	setsockopt(client, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
	close(client);
	stream_reader_init(&r, server, buf, sizeof(buf));
	usleep(20 * 1000);
	assert_int_equal(stream_reader_fill(&r, 4, NULL), -ECONNRESET);
	close(server);
	close(listener);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadline_arithmetic),
		cmocka_unit_test(test_poll_times_out),
		cmocka_unit_test(test_write_all_partial),
		cmocka_unit_test(test_write_all_times_out),
		cmocka_unit_test(test_write_all_peer_closed),
		cmocka_unit_test(test_write_all_pipe),
		cmocka_unit_test(test_reader_fill_and_take),
		cmocka_unit_test(test_reader_times_out),
		cmocka_unit_test(test_reader_end_of_stream),
		cmocka_unit_test(test_reader_eintr),
		cmocka_unit_test(test_reader_reset),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
