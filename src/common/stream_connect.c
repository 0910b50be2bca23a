#include "common/stream_connect.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "imdisk.h"

int stream_connect_unix(const char *path)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	int fd, r;

	if (strlen(path) >= sizeof(address.sun_path))
		return -ENAMETOOLONG;
	strcpy(address.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* "host", "host:port", "[v6]:port", "v6" (more than one colon, no brackets). */
static int split_host_port(const char *target, char *host, size_t size, const char **port)
{
	const char *colon;

	*port = STREAM_DEFAULT_TCP_PORT;
	if (target[0] == '[') {
		const char *close_bracket = strchr(target, ']');

		if (!close_bracket || (close_bracket[1] && close_bracket[1] != ':') ||
		    (size_t)(close_bracket - target) > size)
			return -EINVAL;
		snprintf(host, size, "%.*s", (int)(close_bracket - target - 1), target + 1);
		if (close_bracket[1] == ':')
			*port = close_bracket + 2;
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

int stream_connect_tcp(const char *target)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
	struct addrinfo *found, *ai;
	char host[256];
	const char *port;
	int fd = -1, r, one = 1;

	if (split_host_port(target, host, sizeof(host), &port) < 0 || !*host || !*port)
		return -EINVAL;
	if (getaddrinfo(host, port, &hints, &found) != 0)
		return -EHOSTUNREACH;
	r = -EHOSTUNREACH;
	for (ai = found; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		r = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(found);
	if (fd < 0)
		return r;
	/* IMDPROXY is request/reply: small headers must not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}
