#include "cli/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/failure.h"
#include "common/stream_connect.h"
#include "imdisk.h"

static int connect_unix(const char *target)
{
	/* "-f unix:/path", or the path alone. */
	const char *path = strncmp(target, "unix:", 5) == 0 ? target + 5 : target;
	int fd = stream_connect_unix(path);

	if (fd == -ENAMETOOLONG)
		return fail_plain(STEP_PROXY, fd, "proxy socket path %s is too long", path);
	if (fd < 0)
		return fail(STEP_PROXY, fd, "cannot connect to proxy %s", path);
	return fd;
}

static int connect_tcp(const char *target)
{
	int fd = stream_connect_tcp(target);

	if (fd == -EINVAL)
		return fail_plain(STEP_USAGE, fd, "-o ip takes HOST[:PORT] or [ADDRESS]:PORT, not '%s'",
				  target);
	if (fd == -EHOSTUNREACH)
		return fail_plain(STEP_PROXY, fd, "cannot connect to proxy %s: unknown host or no route",
				  target);
	if (fd < 0)
		return fail(STEP_PROXY, fd, "cannot connect to proxy %s", target);
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
