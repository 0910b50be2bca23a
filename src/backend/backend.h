/* Where bytes live: each backend returns a struct vdisk (see vdisk/vdisk.h). */
#ifndef IMDISK_BACKEND_BACKEND_H
#define IMDISK_BACKEND_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/caller_identity.h"
#include "vdisk/vdisk.h"

/* RAM: an anonymous memory file (memfd) of `size` bytes, mapped; trim and zero
 * punch holes so the memory goes back to the system.  Reads of never-written
 * ranges allocate nothing.  -EINVAL for size 0. */
int backend_memory_open(uint64_t size, struct vdisk **out);
/* The memfd behind a memory disk (still owned by the disk: dup it to keep it),
 * e.g. to attach it to a loop device.  -EINVAL when disk is not a memory disk. */
int backend_memory_fd(struct vdisk *disk);
/* Locks the whole disk in RAM (ImDisk's AWE "never swapped" memory): every page
 * is allocated now, so a shortage shows here and not on a later write.
 * -ENOMEM over RLIMIT_MEMLOCK or out of memory, -EPERM without the right. */
int backend_memory_lock(struct vdisk *disk);
/* Copies len bytes of image_fd from image_offset to the start of the disk; all-zero
 * blocks and the image's holes are left as holes, so the copy stays sparse.  Bytes
 * past the image's end read as zeroes.  -EINVAL when len exceeds the disk. */
int backend_memory_preload(struct vdisk *disk, int image_fd, uint64_t image_offset, uint64_t len);

/* An open image file or block device; takes ownership of fd on success (on failure
 * the caller still owns it).  The disk is read-only when read_only is true or fd
 * was opened O_RDONLY.  Trim punches holes (FALLOC_FL_PUNCH_HOLE, BLKDISCARD on
 * devices), zero uses FALLOC_FL_ZERO_RANGE (BLKZEROOUT on devices). */
int backend_file_open(int fd, bool read_only, struct vdisk **out);

/* A VHD image in the regular file fd (backend/vhd.c): a dynamic disk is served
 * read/write through its block allocation table (blocks allocated at the end of
 * the file as they are first written), a fixed disk as the window of the file
 * before its footer.  Takes ownership of fd on success (on failure the caller
 * still owns it); read-only as backend_file_open.  Fails with -EMEDIUMTYPE for a
 * file that is no VHD, -EOPNOTSUPP for a differencing disk, -EBADMSG for a bad
 * cookie, checksum or field, -ERANGE for a table, block or size that lies
 * outside the file or past the format's bounds, -EINVAL when fd is not a
 * regular file. */
int backend_vhd_open(int fd, bool read_only, struct vdisk **out);
/* 1 when the regular file fd looks like a VHD (ImDisk's test: the footer's copy
 * "conectix" at offset 0; or a footer with a valid checksum at its end, all a
 * fixed disk has), damaged or not; 0 when not (or fd is no regular file); or a
 * negative errno. */
int backend_vhd_detect(int fd);

/* IMDPROXY client: a disk served by devio (or ImDisk's own servers) over a stream:
 * a TCP or unix-domain socket, a serial line.  Opens one connection for INFO (the
 * disk's size, read-only and what it supports) and then serves I/O over a pool of
 * connections.  Server-side failures (a non-zero errorno, a short read, a WRITE
 * acknowledged with another length) are -EIO; so is a server that vanished or went
 * silent for timeout_ms.  With a connect callback, such a request is retried on a
 * new connection (reads and writes at fixed offsets are idempotent), so no write
 * the server did not acknowledge is taken for done and none is lost. */

/* Opens a new connected stream to the server within timeout_ms (resolution and
 * connect included) and returns the descriptor or a negative errno.  Called from
 * I/O threads, one call at a time. */
typedef int (*backend_proxy_connect_fn)(void *opaque, int timeout_ms);

struct backend_proxy_options {
	int fd;                           /* a connected stream, or -1: call connect */
	backend_proxy_connect_fn connect; /* NULL: no reconnect, one connection */
	void *connect_opaque;
	/* Instead of a stream: the shared-memory section NAME of a local server
	 * (devio shm:NAME; docs/imdproxy-shm.md).  One client at a time (-EBUSY
	 * while another holds it); a restarted server is attached again. */
	const char *shm_name;
	/* Who opens a section and its semaphores (the first attach and every attach
	 * after a server restart) and who calls connect: the creator's whole identity
	 * (uid, gid, groups), taken on in a short-lived thread (caller_identity_run),
	 * so that only a server the creator may use is reached.  Copied.  NULL: the
	 * process's own. */
	const struct caller_identity *identity;
	unsigned int max_connections;     /* 0: 4 with connect, else 1 */
	/* A silent server fails a request after this long (0: 30000); with
	 * reconnection, reconnecting may take as long again before -EIO. */
	unsigned int timeout_ms;
	uint32_t max_transfer;            /* bytes per request; 0: 1 MiB (at most a
					     server's buffer: devio --buffer-size) */
	bool read_only;                   /* also when INFO says RO */
};

/* On success the disk owns options->fd; on failure the caller still does.  Fails
 * with -EBADMSG for an INFO reply ImDisk would refuse (req_alignment outside
 * 1..512), -EINVAL for a disk of 65536 bytes or less, -EIO when the server does
 * not answer. */
int backend_proxy_open(const struct backend_proxy_options *options, struct vdisk **out);
/* False once a request met a dead or silent server (until one succeeds again after
 * a reconnect); false for a disk that is not a proxy disk. */
bool backend_proxy_connected(struct vdisk *disk);

/* NBD client (backend/nbd.c): a disk served by an NBD server over a stream the
 * caller connected (TCP or a unix socket), through libnbd's asynchronous API:
 * many requests in flight, on several connections when the server offers
 * multi-conn and a connect callback is given.  Trim, write zeroes and flush are
 * the server's TRIM, WRITE_ZEROES and FLUSH where it offers them (VDISK_CAN_*);
 * read-only when asked or when the server says so.  A request the server does
 * not answer within timeout_ms, or whose connection died, is retried on a new
 * connection (through connect, under backend/reconnect_policy.h's policy with
 * a window of timeout_ms) and fails with -EIO when none comes; the disk shows
 * as disconnected until a connection is up again. */
struct backend_nbd_options {
	int fd;                  /* the connected stream */
	const char *export_name; /* NULL or "": the server's default export */
	/* Where more connections come from: for a server that offers multi-conn,
	 * and to reconnect (NULL: one connection, no reconnecting); called with
	 * identity's rights (copied; NULL: the process's own), as for a proxy disk. */
	backend_proxy_connect_fn connect;
	void *connect_opaque;
	const struct caller_identity *identity;
	unsigned int max_connections; /* 0: 4 (with connect and multi-conn) */
	unsigned int timeout_ms; /* 0: 30000 */
	bool read_only;
};

/* On success the disk owns options->fd (closes it: only duplicates are kept);
 * on failure the caller still does.
 * -ETIMEDOUT for a handshake not done in time, -ENOENT for an export the
 * server does not have, -EBADMSG for another failed handshake (a server that
 * refused it, or speaks no NBD), -EINVAL
 * for an export of size 0. */
int backend_nbd_open(const struct backend_nbd_options *options, struct vdisk **out);
/* False once the server went away or fell silent; false for a disk that is no
 * NBD disk. */
bool backend_nbd_connected(struct vdisk *disk);
/* How many connections the disk opened (0 for a disk that is no NBD disk). */
unsigned int backend_nbd_connections(struct vdisk *disk);

#endif
