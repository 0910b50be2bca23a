/* The live control connections of imdiskd, each served by its own thread.
 *
 * They are registered so that (1) one user cannot take every thread and
 * descriptor of the daemon: at most max_per_user connections per uid at once, a
 * connection over the cap is closed at once; and (2) a stopping daemon never frees
 * a disk that a connection thread still uses.  The rule at stop: the accept loop
 * ends first, then connections_stop() shuts every live connection's socket for
 * reading (a thread waiting for a request wakes up to an end of stream; one in the
 * middle of a request finishes it) and waits, bounded, until every thread is gone;
 * only then are the disks released. */
#ifndef IMDISK_DAEMON_CONNECTIONS_H
#define IMDISK_DAEMON_CONNECTIONS_H

#include <pthread.h>
#include <sys/types.h>

struct daemon;
struct connection;

#define CONNECTIONS_PER_USER_DEFAULT 64
/* A request must arrive, and its reply leave, within this long. */
#define CONNECTION_IO_TIMEOUT_SECONDS 10

struct connections {
	pthread_mutex_t lock;
	pthread_cond_t gone; /* a thread has ended */
	struct connection *live;
	unsigned count;
	unsigned max_per_user;
};

void connections_init(struct connections *connections, unsigned max_per_user);

/* Serve an accepted socket in a thread of its own, or close it: -EUSERS when its
 * uid already has max_per_user connections, another negative errno when no thread
 * could be had.  The socket is the registry's either way. */
int connections_serve(struct connections *connections, struct daemon *daemon, int sock);

/* Shut every live connection for reading and wait for the threads to end, at most
 * timeout_ms; returns how many are still running (0: none). */
unsigned connections_stop(struct connections *connections, unsigned timeout_ms);

#endif
