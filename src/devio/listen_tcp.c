/* TCP listeners, IPv4 and IPv6.  With no address devio listens on the loopback
 * addresses only: serving a disk to the network is something to ask for. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devio/devio.h"

static uint16_t socket_port(int fd)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);

	if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
		return 0;
	if (addr.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&addr)->sin_port);
	if (addr.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
	return 0;
}

static void set_port(struct sockaddr *addr, uint16_t port)
{
	if (addr->sa_family == AF_INET)
		((struct sockaddr_in *)addr)->sin_port = htons(port);
	else if (addr->sa_family == AF_INET6)
		((struct sockaddr_in6 *)addr)->sin6_port = htons(port);
}

/* One listening socket on addr; v6only keeps an IPv6 socket off IPv4 when an IPv4
 * socket is bound beside it. */
static int listen_one(const struct addrinfo *ai, bool v6only, const char **what)
{
	int one = 1, v6 = v6only ? 1 : 0;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	int err;

	if (fd < 0) {
		*what = "socket";
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof(v6));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		*what = "bind";
		goto fail;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		*what = "listen";
		goto fail;
	}
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

int devio_listen_tcp(const char *address, uint16_t port, int *fds, size_t max, size_t *count,
		     uint16_t *bound_port, const char **what)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *list = NULL, *ai;
	bool have_v4 = false;
	int r = 0, gai;

	*count = 0;
	*what = "resolve";
	if (!address) {
		/* Both loopbacks: "localhost" may name only one of them. */
		static const char *const loopbacks[] = {"127.0.0.1", "::1"};
		for (size_t i = 0; i < 2 && *count < max; i++) {
			struct addrinfo numeric = hints, *one;
			numeric.ai_flags |= AI_NUMERICHOST;
			if (getaddrinfo(loopbacks[i], "0", &numeric, &one) != 0)
				continue;
			set_port(one->ai_addr, *count ? *bound_port : port);
			r = listen_one(one, true, what);
			freeaddrinfo(one);
			/* A machine without IPv6 still serves IPv4. */
			if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT)
				continue;
			if (r < 0)
				goto fail;
			fds[(*count)++] = r;
			*bound_port = socket_port(r);
		}
		if (*count == 0) {
			r = r < 0 ? r : -EADDRNOTAVAIL;
			goto fail;
		}
		return 0;
	}

	gai = getaddrinfo(address, "0", &hints, &list);
	if (gai != 0)
		return gai == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	for (ai = list; ai; ai = ai->ai_next)
		have_v4 |= ai->ai_family == AF_INET;
	for (ai = list; ai && *count < max; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		/* Every socket gets the port the first one got (port 0: any free one). */
		set_port(ai->ai_addr, *count ? *bound_port : port);
		r = listen_one(ai, have_v4, what);
		if (r < 0)
			goto fail;
		fds[(*count)++] = r;
		*bound_port = socket_port(r);
	}
	freeaddrinfo(list);
	if (*count == 0) {
		*what = "resolve";
		return -EADDRNOTAVAIL;
	}
	return 0;
fail:
	if (list)
		freeaddrinfo(list);
	while (*count > 0)
		close(fds[--(*count)]);
	return r;
}
