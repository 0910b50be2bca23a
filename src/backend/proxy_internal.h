/* The IMDPROXY client's layers.  Each file calls only files of the layers
 * before it in this list (and common/); nothing calls back up, and no layer but
 * 5 knows a stream from a shared-memory section.
 *
 *   1. Connection: one link to the server behind one small table of
 *      operations (struct proxy_conn_ops: open, send, receive a reply, close,
 *      looks_dead).
 *        proxy_shm_sem.c  exports proxy_shm_sem_*: the server's semaphores,
 *                         mapped under a fault guard
 *        proxy_shm.c      exports proxy_shm_ops, proxy_shm_names: the
 *                         shared-memory connection (docs/imdproxy-shm.md)
 *        proxy_stream.c   exports proxy_stream_ops, proxy_stream_adopt,
 *                         proxy_stream_reader: the byte-stream connection
 *                         (socket or tty), on common/stream_io.h and
 *                         common/deadline.h
 *        proxy_conn.c     exports proxy_conn_open (a connection checked by INFO
 *                         to reach the same disk), proxy_conn_info,
 *                         proxy_conn_shut, proxy_conn_max_transfer; through the
 *                         ops alone, never naming the files above
 *   2. Pool: connections for requests that wait for their reply.
 *        reconnect_policy.c  exports reconnect_policy_*, reconnect_backoff_*
 *                         (reconnect_policy.h): when to reconnect and when to
 *                         give up, for any client of a remote disk
 *        proxy_pool.c     exports proxy_pool_* (acquire, release, recovered,
 *                         may_retry, mark_lost, may_add_connection, connected);
 *                         struct proxy_pool is its own, opaque to the others
 *   3. Requests: one READ, WRITE, UNMAP or ZERO run to its end on the pool
 *      (split to the largest transfer, retried on a new connection while the
 *      reconnect window lasts).
 *        proxy_request.c  exports proxy_request_run, proxy_request_read
 *   4. Pipeline: READs and WRITEs pipelined on stream connections of their
 *      own, answered by a reader thread each; asks the pool through its
 *      functions and hands the requests of a broken pipe to layer 3.
 *        proxy_pipeline.c exports proxy_pipeline_* (struct proxy_pipeline opaque)
 *   5. The vdisk.
 *        proxy.c          exports backend_proxy_open, backend_proxy_connected:
 *                         picks the connection kind (once), makes the pool and
 *                         the pipeline, maps the vdisk operations onto 3 and 4
 */
#ifndef IMDISK_BACKEND_PROXY_INTERNAL_H
#define IMDISK_BACKEND_PROXY_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "backend/backend.h"
#include "common/caller_identity.h"
#include "common/stream_io.h"
#include "protocol/imdproxy.h"

/* A second connection to a server that serves one client at a time is accepted by
 * the kernel's backlog and then never answered: give up on it after this long. */
#define PROXY_PROBE_TIMEOUT_MS 2000u
#define PROXY_SHM_NAME_MAX 200

/* ---- 1. Connection ---------------------------------------------------------- */

/* One of the server's semaphores, mapped (proxy_shm_sem.c). */
struct proxy_shm_sem {
	void *page; /* a sem_t in the server's file; NULL: not open */
};

struct proxy_conn;
struct proxy_link;

/* What one kind of connection does.  Errors are negative errno: -ETIMEDOUT
 * silence for timeout_ms, -EPIPE / -ECONNRESET the server went away (a broken
 * stream: retry elsewhere), -EBADMSG the server broke the connection's own
 * protocol (a shrunk section: the request fails). */
struct proxy_conn_ops {
	const char *name;
	/* A new connection to the link's server (conn->fd -1 until then). */
	int (*open)(struct proxy_link *link, struct proxy_conn *conn, int timeout_ms);
	/* A request header and its data out. */
	int (*send)(struct proxy_conn *conn, const void *header, size_t header_len, const void *data,
		    size_t data_len, int timeout_ms);
	/* A reply header in, and into data (at most cap bytes) whatever of the
	 * reply's data came with it: *data_got bytes. */
	int (*recv_reply)(struct proxy_conn *conn, void *header, size_t header_len, void *data, size_t cap,
			  size_t *data_got, int timeout_ms);
	/* The rest of a reply's data (len was checked against the request). */
	int (*recv_data)(struct proxy_conn *conn, void *buf, size_t len, int timeout_ms);
	/* An idle connection whose server went away (asked without waiting). */
	bool (*looks_dead)(const struct proxy_conn *conn);
	void (*close)(struct proxy_conn *conn);
};

struct proxy_conn {
	const struct proxy_conn_ops *ops;
	int fd;              /* the stream or the shared-memory object; -1: closed */
	size_t max_transfer; /* the largest READ or WRITE data this connection carries */
	/* Stream (proxy_stream.c). */
	bool is_socket;      /* blocking with SO_RCVTIMEO; else non-blocking with poll */
	int recv_timeout_ms; /* SO_RCVTIMEO now set on a socket (0: not set yet) */
	/* Shared memory (proxy_shm.c). */
	size_t section_size; /* header area and data: the section may not be smaller */
	struct proxy_shm_sem request_sem;
	struct proxy_shm_sem response_sem;
	uint64_t seq;        /* number of the last request sent */
	uint64_t server_pid;
};

/* Where connections come from, and what each must find there. */
struct proxy_link {
	const struct proxy_conn_ops *ops;
	backend_proxy_connect_fn connect; /* stream: NULL, no new connection */
	void *connect_opaque;
	/* The creator, whose rights every connect and attach runs with. */
	bool has_identity;
	struct caller_identity identity;
	/* Shared memory: the names, and who owned the section at the first attach
	 * (later attaches must match). */
	char shm_name[PROXY_SHM_NAME_MAX + 2];
	char shm_request_name[PROXY_SHM_NAME_MAX + 16];
	char shm_response_name[PROXY_SHM_NAME_MAX + 16];
	bool shm_owner_known;
	uid_t shm_owner_uid;
	dev_t shm_owner_dev;
	int timeout_ms;
	size_t max_transfer;
	struct imdproxy_info info; /* from the first INFO; reconnections must match it */
};

enum exchange_state {
	EXCHANGE_OK,      /* the stream is in step (the reply may still carry an error) */
	EXCHANGE_BROKEN,  /* the stream failed: retry elsewhere */
	EXCHANGE_CORRUPT, /* the server broke the protocol: give up */
};

/* The creator's identity for caller_identity_run (NULL: the process's own). */
static inline const struct caller_identity *proxy_link_identity(const struct proxy_link *link)
{
	return link->has_identity ? &link->identity : NULL;
}

/* proxy_conn.c */
/* INFO on a fresh connection, its reply waited for timeout_ms. */
int proxy_conn_info(struct proxy_conn *conn, struct imdproxy_info *info, int timeout_ms);
/* A new connection (link->ops->open), checked by INFO to reach the same disk
 * (-ESTALE when it does not).  Closed again on failure. */
int proxy_conn_open(struct proxy_link *link, struct proxy_conn *conn, int timeout_ms);
/* Ends a connection: CLOSE first when `polite` (not waited for). */
void proxy_conn_shut(struct proxy_conn *conn, bool polite);
/* The largest READ or WRITE one request may carry on conn. */
size_t proxy_conn_max_transfer(const struct proxy_link *link, const struct proxy_conn *conn);

/* proxy_stream.c */
extern const struct proxy_conn_ops proxy_stream_ops;
/* A connected stream (fd) as a connection: the caller's descriptor is made
 * blocking (a socket) or non-blocking (anything else). */
int proxy_stream_adopt(struct proxy_conn *conn, int fd);
/* A reader of replies on a stream connection whose every wait lasts at most
 * tick_ms (the pipeline's reader looks at the clock between them). */
int proxy_stream_reader(struct proxy_conn *conn, struct stream_reader *reader, uint8_t *buf, size_t size,
			int tick_ms);

/* proxy_shm.c: the shared-memory connection.  Errors: -EPIPE the server is gone
 * (or unlinked its section), -EBADMSG it broke the section (shrank it, broke a
 * semaphore), -ETIMEDOUT silence, -EACCES a section or semaphores of another
 * owner than the first attach found. */
extern const struct proxy_conn_ops proxy_shm_ops;
int proxy_shm_names(struct proxy_link *link, const char *name);

/* proxy_shm_sem.c: a semaphore in a file the server may shrink at any moment;
 * a fault on it is -EIO, never a signal that kills the process.  wait: 0 when
 * taken, -ETIMEDOUT (the caller looks again). */
struct stat;
int proxy_shm_sem_open(const char *name, struct proxy_shm_sem *sem, struct stat *st);
void proxy_shm_sem_close(struct proxy_shm_sem *sem);
int proxy_shm_sem_post(struct proxy_shm_sem *sem);
int proxy_shm_sem_wait(struct proxy_shm_sem *sem, int timeout_ms);

/* ---- 2. Pool (proxy_pool.c) ------------------------------------------------- */

struct proxy_pool;

/* A pool of up to max_conns connections from link, none open yet.
 * can_reconnect: the link can make a new connection. */
int proxy_pool_new(struct proxy_link *link, unsigned int max_conns, bool can_reconnect, struct proxy_pool **out);
/* The first connection (open, copied): the disk is connected. */
void proxy_pool_add_first(struct proxy_pool *pool, const struct proxy_conn *first);
/* Closes every connection (CLOSE first) and frees the pool. */
void proxy_pool_free(struct proxy_pool *pool);
/* A connection for one request: an idle one, a new one, or the next released.
 * -EIO when there is none and no way to get one (given up, or gone for good). */
int proxy_pool_acquire(struct proxy_pool *pool, struct proxy_conn **out);
/* Gives conn back after an exchange that ended as state: a broken or corrupt
 * one is closed, a broken one marks the server lost. */
void proxy_pool_release(struct proxy_pool *pool, struct proxy_conn *conn, enum exchange_state state);
/* A request succeeded: the server is back. */
void proxy_pool_recovered(struct proxy_pool *pool);
/* After a broken exchange: whether the request may try again. */
bool proxy_pool_may_retry(struct proxy_pool *pool);
/* A request met a silent or dead server: the disk shows as disconnected, the
 * idle connections (to the same server) are closed, the reconnect window opens. */
void proxy_pool_mark_lost(struct proxy_pool *pool);
/* Whether a connection beside the pool's may be opened now: the server takes
 * more than one client and is not lost. */
bool proxy_pool_may_add_connection(struct proxy_pool *pool);
/* Connected, as backend_proxy_connected says it (idle connections looked at). */
bool proxy_pool_connected(struct proxy_pool *pool);

/* ---- 3. Requests (proxy_request.c) ------------------------------------------ */

struct proxy_request {
	uint64_t code;
	uint8_t *read_buf;
	const uint8_t *write_buf;
	size_t len;         /* READ, WRITE: bytes not yet done */
	uint64_t offset;
	uint64_t range_len; /* UNMAP, ZERO */
};

/* Runs a request to its end on the pool's connections, retrying on a broken
 * stream while the reconnect window lasts: 0 or -EIO. */
int proxy_request_run(struct proxy_pool *pool, const struct proxy_link *link, struct proxy_request *req);
int proxy_request_read(struct proxy_pool *pool, const struct proxy_link *link, void *buf, size_t len,
		       uint64_t offset);

/* ---- 4. Pipeline (proxy_pipeline.c) ----------------------------------------- */

struct proxy_pipeline;

/* A pipeline of reads and writes on connections from link, beside pool (whose
 * requests take those of a broken pipe).  Pipes are opened on the first one. */
int proxy_pipeline_new(struct proxy_link *link, struct proxy_pool *pool, struct proxy_pipeline **out);
/* Sends one READ: 0 (done is called later, from a reader thread), -EOPNOTSUPP
 * (no pipe: the caller reads and waits), -EAGAIN (the pipe is full or broken
 * now), -ECANCELED (closing). */
int proxy_pipeline_read(struct proxy_pipeline *pipeline, size_t len, uint64_t offset, vdisk_read_done_fn done,
			void *opaque);
/* Sends one WRITE of buf (which stays the caller's until done, for a retry):
 * 0 (done is called later, from a reader thread), or as proxy_pipeline_read. */
int proxy_pipeline_write(struct proxy_pipeline *pipeline, const void *buf, size_t len, uint64_t offset,
			 vdisk_write_done_fn done, void *opaque);
/* Ends every pipe (a pending request is answered first) and frees the pipeline. */
void proxy_pipeline_free(struct proxy_pipeline *pipeline);

#endif
