#include "cli/nbd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/failure.h"
#include "common/nbd_uri.h"
#include "common/stream_connect.h"
#include "imdisk.h"

static int connect_parsed(const char *text, const struct nbd_uri *uri)
{
	char target[sizeof(uri->host) + sizeof(uri->port) + 4];
	int fd;

	if (uri->unix_socket) {
		fd = stream_connect_unix(uri->socket_path);
		if (fd == -ENAMETOOLONG)
			return fail_plain(STEP_USAGE, fd, "%s: the socket path is too long", text);
		if (fd < 0)
			return fail(STEP_PROXY, fd, "cannot connect to NBD server %s", uri->socket_path);
		return fd;
	}
	/* stream_connect_tcp's form: a bare IPv6 address goes in brackets. */
	snprintf(target, sizeof(target), strchr(uri->host, ':') ? "[%s]:%s" : "%s:%s", uri->host, uri->port);
	fd = stream_connect_tcp(target);
	if (fd == -EHOSTUNREACH)
		return fail_plain(STEP_PROXY, fd, "cannot connect to NBD server %s: unknown host or no route", target);
	if (fd == -EINVAL)
		return fail_plain(STEP_USAGE, fd, "%s: the host name is malformed", text);
	if (fd < 0)
		return fail(STEP_PROXY, fd, "cannot connect to NBD server %s", target);
	return fd;
}

int nbd_connect_uri(const char *text, uint32_t *proxy_kind)
{
	struct nbd_uri *uri = malloc(sizeof(*uri));
	const char *why;
	int r;

	if (!uri)
		return fail_plain(STEP_MEMORY, -ENOMEM, "out of memory");
	r = nbd_uri_parse(text, uri, &why);
	if (r == -EPROTONOSUPPORT)
		r = fail_plain(STEP_UNSUPPORTED, r, "%s: %s", text, why);
	else if (r < 0)
		r = fail_plain(STEP_USAGE, r, "%s: %s", text, why);
	else {
		*proxy_kind = uri->unix_socket ? IMDISK_PROXY_TYPE_DIRECT : IMDISK_PROXY_TYPE_TCP;
		r = connect_parsed(text, uri);
	}
	free(uri);
	return r;
}
