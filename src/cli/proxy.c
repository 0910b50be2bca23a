#include "cli/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "cli/failure.h"
#include "imdisk.h"

#define PROXY_DEFAULT_PORT "9000" /* ImDisk's client-side default */

static int connect_unix(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return fail_plain(STEP_PROXY, -ENAMETOOLONG, "proxy socket path %s is too long",
				  path);
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(STEP_PROXY, -errno, "cannot connect to proxy %s", path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = -errno;

		close(fd);
		return fail(STEP_PROXY, err, "cannot connect to proxy %s", path);
	}
	return fd;
}

/* "host", "host:port", "[v6]:port", "v6" (more than one colon, no brackets). */
static int split_host_port(const char *target, char *host, size_t size, const char **port)
{
	const char *colon;

	*port = PROXY_DEFAULT_PORT;
	if (target[0] == '[') {
		const char *close = strchr(target, ']');

		if (!close || (close[1] && close[1] != ':') || (size_t)(close - target) > size)
			return -EINVAL;
		snprintf(host, size, "%.*s", (int)(close - target - 1), target + 1);
		if (close[1] == ':')
			*port = close + 2;
		return 0;
	}
	colon = strchr(target, ':');
	if (colon && !strchr(colon + 1, ':')) {
		if ((size_t)(colon - target) >= size)
			return -EINVAL;
		snprintf(host, size, "%.*s", (int)(colon - target), target);
		*port = colon + 1;
		return 0;
	}
	if (strlen(target) >= size)
		return -EINVAL;
	snprintf(host, size, "%s", target);
	return 0;
}

static int connect_tcp(const char *target)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
	struct addrinfo *found, *ai;
	char host[256];
	const char *port;
	int fd = -1, err, one = 1;

	if (split_host_port(target, host, sizeof(host), &port) < 0 || !*host || !*port)
		return fail_plain(STEP_USAGE, -EINVAL,
				  "-o ip takes HOST[:PORT] or [ADDRESS]:PORT, not '%s'", target);
	err = getaddrinfo(host, port, &hints, &found);
	if (err)
		return fail_plain(STEP_PROXY, -EHOSTUNREACH, "cannot connect to proxy %s: %s",
				  target, gai_strerror(err));
	err = -EHOSTUNREACH;
	for (ai = found; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(found);
	if (fd < 0)
		return fail(STEP_PROXY, err, "cannot connect to proxy %s", target);
	/* IMDPROXY is request/reply: small headers must not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static speed_t baud_rate(unsigned long baud)
{
	static const struct {
		unsigned long baud;
		speed_t speed;
	} rates[] = {
		{1200, B1200},     {2400, B2400},     {4800, B4800},     {9600, B9600},
		{19200, B19200},   {38400, B38400},   {57600, B57600},   {115200, B115200},
		{230400, B230400}, {460800, B460800}, {921600, B921600},
	};

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		if (rates[i].baud == baud)
			return rates[i].speed;
	return 0;
}

static int open_serial(const char *target)
{
	const char *settings = strchr(target, ':');
	char device[256];
	struct termios tio;
	speed_t speed = 0;
	int fd;

	if (settings) {
		char *end;
		unsigned long baud;

		settings += strspn(settings + 1, " ") + 1;
		if (strncmp(settings, "baud=", 5) == 0)
			settings += 5;
		baud = strtoul(settings, &end, 10);
		speed = baud_rate(baud);
		if (end == settings || *end || !speed)
			return fail_plain(STEP_USAGE, -EINVAL,
					  "-o comm takes DEVICE[:BAUD] with a standard baud rate, not "
					  "'%s'",
					  target);
	}
	snprintf(device, sizeof(device), "%.*s",
		 (int)(settings ? strcspn(target, ":") : strlen(target)), target);
	fd = open(device, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fail(STEP_PROXY, -errno, "cannot open serial port %s", device);
	/* Proxy bytes are binary: no line discipline may touch them. */
	if (tcgetattr(fd, &tio) == 0) {
		cfmakeraw(&tio);
		if (speed) {
			cfsetispeed(&tio, speed);
			cfsetospeed(&tio, speed);
		}
		if (tcsetattr(fd, TCSANOW, &tio) < 0) {
			int err = -errno;

			close(fd);
			return fail(STEP_PROXY, err, "cannot set up serial port %s", device);
		}
	}
	return fd;
}

int proxy_connect(const char *target, uint32_t kind)
{
	switch (kind) {
	case IMDISK_PROXY_TYPE_TCP:
		return connect_tcp(target);
	case IMDISK_PROXY_TYPE_COMM:
		return open_serial(target);
	case IMDISK_PROXY_TYPE_DIRECT:
		return connect_unix(target);
	default:
		return fail_plain(STEP_UNSUPPORTED, -ENOTSUP, "this proxy kind is not supported");
	}
}
