/* Accepted connections (tcp, unix): the accept loop, and a thread for each
 * connection that runs one stream session (session.c, or nbd_session.c) on it.  The number of
 * connections is capped; past the cap a connection is closed at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/deadline.h"
#include "common/log.h"
#include "common/trace.h"
#include "devio/devio.h"

/* How long the accept loop waits when it is out of descriptors. */
#define ACCEPT_BACKOFF_MS 100

struct connection {
	struct devio_server *server;
	int fd;
	char peer[INET6_ADDRSTRLEN + 16];
};

static void *connection_thread(void *arg)
{
	struct connection *c = arg;
	struct devio_server *server = c->server;
	int r;

	log_info("%s: connected", c->peer);
	if (server->nbd)
		r = devio_serve_nbd(server, c->fd, c->peer);
	else
		r = devio_serve_stream(server, c->fd, c->fd, c->peer, false);
	if (r == -EPIPE)
		log_warning("%s: disconnected in the middle of a request", c->peer);
	else if (r == -ETIMEDOUT)
		log_info("%s: no request for %u s: closing", c->peer,
			 server->idle_timeout_ms / 1000);
	else if (r < 0 && r != -EMSGSIZE)
		log_warning("%s: connection dropped: %s", c->peer, strerror(-r));
	else
		log_info("%s: disconnected", c->peer);
	close(c->fd);
	free(c);

	pthread_mutex_lock(&server->sessions_lock);
	server->sessions--;
	pthread_cond_broadcast(&server->sessions_done);
	pthread_mutex_unlock(&server->sessions_lock);
	return NULL;
}

static void describe_peer(const struct sockaddr_storage *addr, socklen_t len, char *buf,
			  size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (addr->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)addr;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
	} else if (addr->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)addr;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, size, "unix client");
	}
}

static void start_connection(struct devio_server *server, int fd,
			     const struct sockaddr_storage *addr, socklen_t len)
{
	struct connection *c;
	pthread_attr_t attr;
	pthread_t thread;
	int one = 1;
	int r;

	if ((addr->ss_family == AF_INET || addr->ss_family == AF_INET6) &&
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		trace_dropped(TRACE_DEVIO, "TCP_NODELAY on a connection", -errno);
	pthread_mutex_lock(&server->sessions_lock);
	if (server->sessions >= server->max_connections) {
		pthread_mutex_unlock(&server->sessions_lock);
		log_warning("too many connections (%u): refusing one", server->max_connections);
		close(fd);
		return;
	}
	server->sessions++;
	pthread_mutex_unlock(&server->sessions_lock);

	c = calloc(1, sizeof(*c));
	r = c ? 0 : ENOMEM;
	if (c) {
		c->server = server;
		c->fd = fd;
		describe_peer(addr, len, c->peer, sizeof(c->peer));
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r = pthread_create(&thread, &attr, connection_thread, c);
		pthread_attr_destroy(&attr);
	}
	if (r != 0) {
		log_warning("cannot serve a connection: %s", strerror(r));
		free(c);
		close(fd);
		pthread_mutex_lock(&server->sessions_lock);
		server->sessions--;
		pthread_cond_broadcast(&server->sessions_done);
		pthread_mutex_unlock(&server->sessions_lock);
	}
}

int devio_accept_loop(struct devio_server *server, const int *fds, size_t count)
{
	struct pollfd polls[DEVIO_MAX_LISTENERS + 1];

	if (count > DEVIO_MAX_LISTENERS)
		return -EINVAL;
	for (size_t i = 0; i < count; i++)
		polls[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	polls[count] = (struct pollfd){.fd = server->stop_fd, .events = POLLIN};

	while (!atomic_load(&server->stopping)) {
		int r = deadline_poll(polls, count + 1, NULL);

		if (r < 0)
			return r;
		if (polls[count].revents)
			break;
		for (size_t i = 0; i < count; i++) {
			struct sockaddr_storage addr;
			socklen_t len = sizeof(addr);
			int fd;

			if (!polls[i].revents)
				continue;
			fd = accept4(fds[i], (struct sockaddr *)&addr, &len, SOCK_CLOEXEC);
			if (fd >= 0) {
				start_connection(server, fd, &addr, len);
				continue;
			}
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: wait for connections to end (or the stop),
				 * don't spin. */
				struct timespec backoff = deadline_after_ms(ACCEPT_BACKOFF_MS);

				log_warning("accept: %s", strerror(errno));
				deadline_poll(&polls[count], 1, &backoff);
			} else if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
				return -errno;
			}
		}
	}
	return 0;
}
