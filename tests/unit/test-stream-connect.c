/* Unit tests for bounded connects (src/common/stream_connect.c): a listener
 * that accepts nothing costs the timeout, not for ever; a pinned peer is the
 * only one reached. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/stream_connect.h"

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int tcp_listener(int backlog, int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static int unix_listener(const char *path, int backlog)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

static void test_unix_full_backlog_times_out(void **state)
{
	char path[64];
	int listener, fillers[8], n = 0, fd;
	int64_t start;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/test-stream-connect-%d.sock", (int)getpid());
	listener = unix_listener(path, 0);
	/* Fill the backlog with connects nobody accepts. */
	while (n < 8) {
		fd = stream_connect_unix_within(path, 50, NULL);
		if (fd < 0)
			break;
		fillers[n++] = fd;
	}
	assert_true(n < 8);
	start = now_ms();
	fd = stream_connect_unix_within(path, 300, NULL);
	assert_int_equal(fd, -ETIMEDOUT);
	assert_true(now_ms() - start >= 250);
	assert_true(now_ms() - start < 2000);
	while (n)
		close(fillers[--n]);
	close(listener);
	unlink(path);
}

static void test_unix_refused(void **state)
{
	(void)state;
	assert_int_equal(stream_connect_unix_within("/nonexistent/socket", 100, NULL), -ENOENT);
}

static void test_tcp_pinned(void **state)
{
	struct stream_peer pinned, other;
	char target[64];
	int a_port, b_port;
	int a = tcp_listener(4, &a_port), b = tcp_listener(4, &b_port);
	int fd;

	(void)state;
	snprintf(target, sizeof(target), "127.0.0.1:%d", a_port);
	fd = stream_connect_tcp_within(target, 1000, NULL);
	assert_true(fd >= 0);
	assert_int_equal(stream_peer_of(fd, &pinned), 0);
	close(fd);
	/* The same peer again: allowed. */
	fd = stream_connect_tcp_within(target, 1000, &pinned);
	assert_true(fd >= 0);
	close(fd);
	/* Another port: refused after connecting. */
	snprintf(target, sizeof(target), "127.0.0.1:%d", b_port);
	assert_int_equal(stream_connect_tcp_within(target, 1000, &pinned), -EADDRNOTAVAIL);
	fd = stream_connect_tcp_within(target, 1000, NULL);
	assert_true(fd >= 0);
	assert_int_equal(stream_peer_of(fd, &other), 0);
	close(fd);
	/* By name (resolved in a thread): the pinned peer is still the judge. */
	snprintf(target, sizeof(target), "localhost:%d", a_port);
	fd = stream_connect_tcp_within(target, 5000, &pinned);
	if (fd != -EHOSTUNREACH) { /* a system where localhost does not resolve */
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(stream_connect_tcp_within(target, 5000, &other), -EADDRNOTAVAIL);
	}
	close(a);
	close(b);
}

static void test_tcp_malformed(void **state)
{
	(void)state;
	assert_int_equal(stream_connect_tcp_within("[::1", 100, NULL), -EINVAL);
	assert_int_equal(stream_connect_tcp_within("", 100, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unix_full_backlog_times_out),
		cmocka_unit_test(test_unix_refused),
		cmocka_unit_test(test_tcp_pinned),
		cmocka_unit_test(test_tcp_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
