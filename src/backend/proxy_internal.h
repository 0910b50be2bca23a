/* What the IMDPROXY client's two halves share: proxy.c (the connection pool and
 * requests that wait for their reply) and proxy_pipeline.c (reads pipelined on
 * connections of their own, answered from a reader thread). */
#ifndef IMDISK_BACKEND_PROXY_INTERNAL_H
#define IMDISK_BACKEND_PROXY_INTERNAL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "backend/backend.h"
#include "protocol/imdproxy.h"

/* A second connection to a server that serves one client at a time is accepted by
 * the kernel's backlog and then never answered: give up on it after this long. */
#define PROXY_PROBE_TIMEOUT_MS 2000u
#define PROXY_SHM_NAME_MAX 200

/* One of the server's semaphores, mapped (proxy_shm_sem.c). */
struct proxy_shm_sem {
	void *page; /* a sem_t in the server's file; NULL: not open */
};

enum exchange_state {
	EXCHANGE_OK,      /* the stream is in step (the reply may still carry an error) */
	EXCHANGE_BROKEN,  /* the stream failed: retry elsewhere */
	EXCHANGE_CORRUPT, /* the server broke the protocol: give up */
};

struct proxy_conn {
	int fd;         /* the stream or the shared-memory object; -1: closed */
	bool busy;      /* in use by one request (or being connected) */
	bool is_socket; /* send with MSG_NOSIGNAL: a closed peer must not raise SIGPIPE */
	int recv_timeout_ms; /* SO_RCVTIMEO now set on a socket (0: not set yet) */
	/* Shared memory (proxy_shm.c). */
	size_t section_size; /* header area and data: the section may not be smaller */
	size_t data_size; /* the largest transfer */
	struct proxy_shm_sem request_sem;
	struct proxy_shm_sem response_sem;
	uint64_t seq;     /* number of the last request sent */
	uint64_t server_pid;
};

struct proxy_request {
	uint64_t code;
	uint8_t *read_buf;
	const uint8_t *write_buf;
	size_t len;      /* READ, WRITE: bytes not yet done */
	uint64_t offset;
	uint64_t range_len; /* UNMAP, ZERO */
};

struct proxy_pipe;

struct proxy_disk {
	struct vdisk disk;
	backend_proxy_connect_fn connect;
	void *connect_opaque;
	/* The creator, whose rights every connect and attach runs with. */
	bool has_identity;
	struct caller_identity identity;
	bool shm;
	bool can_reconnect; /* a callback, or a section to attach again */
	char shm_name[PROXY_SHM_NAME_MAX + 2];
	char shm_request_name[PROXY_SHM_NAME_MAX + 16];
	char shm_response_name[PROXY_SHM_NAME_MAX + 16];
	/* Who owned the section at the first attach: later attaches must match. */
	bool shm_owner_known;
	uid_t shm_owner_uid;
	dev_t shm_owner_dev;
	int timeout_ms;
	size_t max_transfer;
	struct imdproxy_info info; /* from the first INFO; reconnections must match it */

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t changed; /* a connection went idle, closed or came up */
	struct proxy_conn *conns;
	unsigned int max_conns;
	unsigned int open_conns; /* open or being connected */
	bool connecting;         /* one connect at a time */
	bool can_grow;           /* the server may take another connection */
	struct timespec grow_retry; /* no new connection before this (zero: now) */
	bool lost;               /* a request met a dead server; reconnect window open */
	struct timespec reconnect_deadline;
	/* Once the window has closed with the server still away ("given up"),
	 * requests fail at once but for one attempt at reconnecting at a time;
	 * after a failed one, the next not before this. */
	struct timespec given_up_retry;

	atomic_bool connected;

	/* Pipelined reads (proxy_pipeline.c). */
	pthread_mutex_t pipes_lock; /* picking and opening pipes */
	struct proxy_pipe *pipes;
	unsigned int pipe_count;
	bool pipes_refused;       /* the server takes no extra connection: for good */
	struct timespec pipes_retry; /* no new pipe before this (after a failure) */
	unsigned int next_pipe;
};

struct timespec proxy_deadline_after(int ms);
/* Milliseconds left until t (0 when past). */
int proxy_ms_until(const struct timespec *t);

/* Sends all of iov; each wait for room is bounded by timeout_ms. */
int proxy_send_all(const struct proxy_conn *conn, struct iovec *iov, int iovcnt, int timeout_ms);
/* One receive into iov: the count, -ETIMEDOUT after timeout_ms of silence,
 * -EPIPE when the server closed the stream. */
ssize_t proxy_recv_some(struct proxy_conn *conn, struct iovec *iov, int iovcnt, int timeout_ms);
/* A new stream connection through the callback (or the section attached again),
 * checked by INFO to reach the same disk; the INFO reply is waited for timeout_ms. */
int proxy_conn_open(struct proxy_disk *proxy, struct proxy_conn *conn, int timeout_ms);
/* Ends a connection: CLOSE first when `polite`. */
void proxy_conn_shut(const struct proxy_disk *proxy, struct proxy_conn *conn, bool polite);
/* A request met a silent or dead server: the disk shows as disconnected and the
 * idle connections (to the same server) are closed. */
void proxy_mark_lost(struct proxy_disk *proxy);
/* A READ that waits for its reply on a pool connection, with reconnection and retry. */
int proxy_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset);

/* The creator's identity for caller_identity_run (NULL: the process's own). */
const struct caller_identity *proxy_identity(const struct proxy_disk *proxy);

/* proxy_shm.c: the shared-memory connection.  Errors: -EPIPE the server is gone
 * (or unlinked its section), -EBADMSG it broke the section (shrank it, broke a
 * semaphore), -ETIMEDOUT silence, -EACCES a section or semaphores of another
 * owner than the first attach found. */
int proxy_shm_names(struct proxy_disk *proxy, const char *name);
int proxy_shm_attach(struct proxy_disk *proxy, struct proxy_conn *conn);
void proxy_shm_detach(struct proxy_conn *conn);
bool proxy_shm_server_alive(const struct proxy_conn *conn);
int proxy_shm_send(struct proxy_conn *conn, const void *header, size_t header_len, const void *data,
		   size_t data_len, int timeout_ms);
int proxy_shm_recv_header(struct proxy_conn *conn, void *buf, size_t len, int timeout_ms);
int proxy_shm_recv_data(struct proxy_conn *conn, void *buf, size_t len);

/* proxy_shm_sem.c: a semaphore in a file the server may shrink at any moment;
 * a fault on it is -EIO, never a signal that kills the process.  wait: 0 when
 * taken, -ETIMEDOUT (the caller looks again). */
struct stat;
int proxy_shm_sem_open(const char *name, struct proxy_shm_sem *sem, struct stat *st);
void proxy_shm_sem_close(struct proxy_shm_sem *sem);
int proxy_shm_sem_post(struct proxy_shm_sem *sem);
int proxy_shm_sem_wait(struct proxy_shm_sem *sem, int timeout_ms);

/* proxy_pipeline.c: the read_async op, and the end of every pipe (at close). */
int proxy_pipeline_read(struct vdisk *disk, size_t len, uint64_t offset, vdisk_read_done_fn done, void *opaque);
void proxy_pipeline_stop(struct proxy_disk *proxy);

#endif
