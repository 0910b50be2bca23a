/* Registered connection threads: see connections.h. */
#include "daemon/connections.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/trace.h"
#include "daemon/daemon.h"

struct connection {
	struct connections *owner;
	struct daemon *daemon;
	int sock;
	uid_t uid;
	struct connection *previous, *next;
};

void connections_init(struct connections *connections, unsigned max_per_user)
{
	pthread_condattr_t attributes;

	pthread_mutex_init(&connections->lock, NULL);
	pthread_condattr_init(&attributes);
	pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
	pthread_cond_init(&connections->gone, &attributes);
	pthread_condattr_destroy(&attributes);
	connections->live = NULL;
	connections->count = 0;
	connections->max_per_user = max_per_user;
}

/* Call with the lock held. */
static unsigned count_of_user(const struct connections *connections, uid_t uid)
{
	unsigned n = 0;

	for (const struct connection *c = connections->live; c; c = c->next)
		n += c->uid == uid;
	return n;
}

static void *connection_thread(void *argument)
{
	struct connection *c = argument;
	struct connections *connections = c->owner;
	bool watching = control_serve_connection(c->daemon, c->sock);

	/* Off the list before the close: connections_stop() shuts only sockets that
	 * are still this connection's, never a number the kernel has handed out again. */
	pthread_mutex_lock(&connections->lock);
	if (c->previous)
		c->previous->next = c->next;
	else
		connections->live = c->next;
	if (c->next)
		c->next->previous = c->previous;
	connections->count--;
	pthread_cond_broadcast(&connections->gone);
	pthread_mutex_unlock(&connections->lock);
	if (!watching)
		close(c->sock); /* a watch stream's socket is the events' now */
	free(c);
	return NULL;
}

static void set_timeouts(int sock)
{
	struct timeval timeout = {.tv_sec = CONNECTION_IO_TIMEOUT_SECONDS};

	if (setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0)
		trace_dropped(TRACE_CONTROL, "SO_RCVTIMEO", -errno);
	if (setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) < 0)
		trace_dropped(TRACE_CONTROL, "SO_SNDTIMEO", -errno);
}

int connections_serve(struct connections *connections, struct daemon *daemon, int sock)
{
	struct ucred peer = {.uid = (uid_t)-1};
	socklen_t size = sizeof(peer);
	pthread_attr_t attributes;
	struct connection *c;
	pthread_t thread;
	int r = 0;

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &size) < 0) {
		r = -errno;
		close(sock);
		return r;
	}
	set_timeouts(sock);
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(sock);
		return -ENOMEM;
	}
	*c = (struct connection){.owner = connections, .daemon = daemon, .sock = sock, .uid = peer.uid};
	pthread_attr_init(&attributes);
	/* Detached: nobody joins; connections_stop() waits for the list to empty. */
	pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&connections->lock);
	if (count_of_user(connections, peer.uid) >= connections->max_per_user) {
		r = -EUSERS;
	} else {
		c->next = connections->live;
		if (c->next)
			c->next->previous = c;
		connections->live = c;
		connections->count++;
		r = -pthread_create(&thread, &attributes, connection_thread, c);
		if (r < 0) {
			connections->live = c->next;
			if (c->next)
				c->next->previous = NULL;
			connections->count--;
		}
	}
	pthread_mutex_unlock(&connections->lock);
	pthread_attr_destroy(&attributes);
	if (r < 0) {
		if (r == -EUSERS)
			log_info("uid %u already has %u control connections: one more is closed", (unsigned)peer.uid,
				 connections->max_per_user);
		else
			log_warning("no thread for a control connection: %s", strerror(-r));
		close(sock);
		free(c);
	}
	return r;
}

unsigned connections_stop(struct connections *connections, unsigned timeout_ms)
{
	struct timespec deadline;
	unsigned left;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&connections->lock);
	for (struct connection *c = connections->live; c; c = c->next)
		shutdown(c->sock, SHUT_RD);
	while (connections->count > 0 &&
	       pthread_cond_timedwait(&connections->gone, &connections->lock, &deadline) != ETIMEDOUT)
		;
	left = connections->count;
	pthread_mutex_unlock(&connections->lock);
	return left;
}
