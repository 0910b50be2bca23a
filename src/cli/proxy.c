#include "cli/proxy.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "cli/failure.h"
#include "common/serial_port.h"
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

static int open_serial(const char *target)
{
	struct serial_settings settings;
	char device[PATH_MAX];
	const char *text, *what;
	int r = serial_target_split(target, device, sizeof(device), &text);

	if (r == -ENAMETOOLONG)
		return fail_plain(STEP_PROXY, r, "serial port name %s is too long", target);
	if (r == 0)
		r = serial_settings_parse(text, &settings);
	if (r < 0)
		return fail_plain(STEP_USAGE, -EINVAL,
				  "-o comm takes DEVICE[:BAUD[,DATA,PARITY,STOP]] with a standard baud "
				  "rate, not '%s'",
				  target);
	r = serial_port_open(device, &settings, &what);
	if (r < 0 && !strcmp(what, "open"))
		return fail(STEP_PROXY, r, "cannot open serial port %s", device);
	if (r < 0)
		return fail(STEP_PROXY, r, "cannot set up serial port %s", device);
	return r;
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
