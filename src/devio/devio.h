/* devio's parts: one server (a disk and how to serve it) shared by every listener
 * kind.  main.c parses the command line and picks one listener; server.c is the
 * server's lifecycle; request_handler.c answers one IMDPROXY request; session.c
 * serves requests on any connected stream, accept.c on accepted connections;
 * shm.c on a shared-memory section. */
#ifndef IMDISK_DEVIO_DEVIO_H
#define IMDISK_DEVIO_DEVIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol/imdproxy.h"
#include "vdisk/vdisk.h"

#define DEVIO_DEFAULT_BUFFER_SIZE (64u << 20) /* the reference server's, on 64-bit */
#define DEVIO_MIN_BUFFER_SIZE 512u
#define DEVIO_MAX_BUFFER_SIZE (1u << 30)
#define DEVIO_MAX_CONNECTIONS 1024 /* the largest --max-connections */
#define DEVIO_DEFAULT_CONNECTIONS 64
#define DEVIO_DEFAULT_BUFFER_MEMORY (256u << 20)
#define DEVIO_DEFAULT_IDLE_TIMEOUT_S 300
#define DEVIO_MAX_LISTENERS 16

struct devio_server {
	struct vdisk *disk;
	uint64_t alignment;   /* sent as INFO req_alignment */
	size_t buffer_size;   /* the largest READ/WRITE (and request data) served */
	bool writeback;       /* acknowledge writes before they are durable */
	unsigned int max_connections; /* more are closed at once */
	/* A socket connection on which no whole request arrives for this long is
	 * closed (0: never). */
	unsigned int idle_timeout_ms;
	/* Request buffers of all connections together stay within max_buffer_memory
	 * (at least buffer_size); buffer_memory is what they hold now. */
	size_t max_buffer_memory;
	atomic_size_t buffer_memory;

	/* Requests hold this for reading around each disk call; the shutdown holds it
	 * for writing, so that no disk call is in progress when the disk is flushed.
	 * Disk calls of many sessions run at once: every disk takes parallel callers. */
	pthread_rwlock_t disk_use;

	bool nbd; /* accepted connections speak NBD (nbd_session.c), not IMDPROXY */
	/* NBD: idle_timeout_ms holds in the handshake always, between requests only
	 * when asked for (--idle-timeout): an NBD client such as the kernel's may
	 * rightly stay silent for hours, and does not reconnect. */
	bool nbd_idle_between_requests;

	atomic_bool stopping;
	int stop_fd; /* an eventfd, readable once stopping: sessions poll it */
	/* Called once when stopping starts (a listener that does not poll stop_fd). */
	pthread_mutex_t stop_lock;
	void (*stop_hook)(void *arg);
	void *stop_hook_arg;

	/* Stream sessions running in threads (tcp, unix). */
	pthread_mutex_t sessions_lock;
	pthread_cond_t sessions_done;
	unsigned int sessions;
};

/* What to do after one request. */
enum devio_action {
	DEVIO_REPLY,  /* send reply_size header bytes, then reply_data bytes of data */
	DEVIO_CLOSE,  /* CLOSE: the session ends, nothing is sent */
	DEVIO_DROP,   /* devio is stopping: end the connection without an answer, so
			 that a client retries the request elsewhere */
};

/* server.c: the lifecycle. */
int devio_server_init(struct devio_server *server, struct vdisk *disk, uint64_t alignment,
		      size_t buffer_size, bool writeback);
/* Start stopping (from the signal thread): sessions end at their next wait. */
void devio_server_stop(struct devio_server *server);
/* Set (or clear, with NULL) the stop hook; clearing waits for a running hook. */
void devio_server_set_stop_hook(struct devio_server *server, void (*hook)(void *arg), void *arg);
/* Flush the disk between requests (write-back mode at the end of a session). */
int devio_server_flush(struct devio_server *server);
/* After the listener returned: wait up to grace_ms for sessions, then make the disk
 * durable and close it (unless a session is stuck in a call).  Returns 0 or the
 * flush's negative errno. */
int devio_server_finish(struct devio_server *server, unsigned int grace_ms);

/* request_handler.c: one request. */
/* The INFO reply this server sends. */
void devio_server_info(const struct devio_server *server, struct imdproxy_info *info);

/* Serve one decoded request whose data (payload bytes of it) is in data; data has
 * room for data_cap bytes, where a READ puts its reply data.  Writes the reply
 * header to reply (IMDPROXY_MAX_REPLY_HEADER bytes).  With `view` non-NULL a READ
 * may instead answer with the disk's bytes in place (vdisk_view): *view is then
 * set, and devio_view_end is due once they are sent or copied. */
enum devio_action devio_handle_request(struct devio_server *server,
				       const struct imdproxy_request *req, uint8_t *data,
				       uint64_t payload, size_t data_cap, uint8_t *reply,
				       size_t *reply_size, size_t *reply_data, const void **view);
void devio_view_end(struct devio_server *server);
/* Around every disk call of every protocol: -ECANCELED once devio is stopping
 * (then no devio_disk_end is due); the shutdown waits for devio_disk_end. */
int devio_disk_begin(struct devio_server *server);
void devio_disk_end(struct devio_server *server);

/* nbd_session.c: one NBD connection (handshake, then transmission, requests
 * served by a few worker threads with replies out of order) until the client
 * disconnects.  Returns as devio_serve_stream does (-EPROTO: it broke the
 * protocol). */
int devio_serve_nbd(struct devio_server *server, int fd, const char *peer);

/* session.c: serve sessions on one connected stream (in_fd and out_fd may be one
 * descriptor) until it closes.  With `sessions_per_stream` false the stream ends
 * with its first session (CLOSE); with true (a serial line) a CLOSE waits for the
 * next session.
 * Returns 0 when the peer ended cleanly (CLOSE, or end of stream between requests)
 * or devio is stopping, a negative errno when the stream failed or the peer broke
 * the protocol (the connection is then dropped). */
int devio_serve_stream(struct devio_server *server, int in_fd, int out_fd, const char *peer,
		       bool sessions_per_stream);

/* accept.c: serve connections accepted on these listening sockets, a thread for
 * each, until devio stops.  Returns 0 or a negative errno. */
int devio_accept_loop(struct devio_server *server, const int *fds, size_t count);

/* listen_tcp.c: listen on `address` (NULL: the loopback addresses) and `port` (0:
 * any free one, the same for every address).  Fills fds (at most max) and *count,
 * and the port bound in *bound_port.  Returns 0 or a negative errno; *what says
 * which step failed. */
int devio_listen_tcp(const char *address, uint16_t port, int *fds, size_t max, size_t *count,
		     uint16_t *bound_port, const char **what);

/* listen_unix.c: a unix-domain stream socket at path (a stale socket there is
 * replaced, a live one is -EADDRINUSE).  The path appears only once the socket
 * listens, with permissions `mode` (DEVIO_DEFAULT_SOCKET_MODE: the owner only)
 * whatever the umask.  devio_unlisten_unix removes it. */
struct devio_unix_listener {
	int fd;
	dev_t dev; /* the socket file, so that only ours is removed */
	ino_t ino;
};
#define DEVIO_DEFAULT_SOCKET_MODE 0600
int devio_listen_unix(const char *path, mode_t mode, struct devio_unix_listener *listener);
void devio_unlisten_unix(const char *path, const struct devio_unix_listener *listener);

/* stdio.c: one session on stdin/stdout (inetd style). */
int devio_serve_stdio(struct devio_server *server);

/* serial.c: settings like "115200,8,N,1" (or NULL: keep the line's); sessions on the
 * line until it hangs up or devio stops.  *what says which step failed. */
int devio_serve_serial(struct devio_server *server, const char *device, const char *settings,
		       const char **what);
/* Check settings without a device (for the command line). */
int devio_serial_settings_valid(const char *settings);

/* shm.c: the shared-memory transport on /NAME; see docs/imdproxy-shm.md. */
int devio_serve_shm(struct devio_server *server, const char *name, const char **what);
bool devio_shm_name_valid(const char *name);

/* disk.c: what to serve. */
struct devio_disk_spec {
	const char *path;       /* image file, block device, or "memory:SIZE" */
	bool read_only;
	bool raw;               /* the file's bytes as they are, even a VHD's */
	enum {
		DEVIO_WINDOW_AUTO,      /* partition 1 when the image has a table, else all */
		DEVIO_WINDOW_PARTITION, /* partition `partition` (0: the whole image) */
		DEVIO_WINDOW_SIZE,      /* `size` bytes */
	} window;
	uint32_t partition;
	uint64_t size;
	uint64_t offset;        /* where the disk starts in the image (its table too) */
};

/* Opens the disk; on failure logs one line saying why and returns a negative errno. */
int devio_disk_open(const struct devio_disk_spec *spec, struct vdisk **out);

#endif
