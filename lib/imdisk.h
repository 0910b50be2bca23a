/* libimdisk: the public C API of imdisk, a client of imdiskd's control socket.
 *
 * Every function returns 0 (or a non-negative count) on success and a negative
 * errno on failure; none prints anything.  Flag values are ImDisk's own, so a
 * program written against ImDisk's create flags reads the same numbers here.
 */
#ifndef IMDISK_H
#define IMDISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* major.minor of this header and the control protocol.  1.1 added disk owners
 * (struct imdisk_owner, imdisk_query_owner) and no other change: struct
 * imdisk_device keeps its 1.0 layout, so programs built against 1.0 run as they did. */
#define IMDISK_API_VERSION 0x0101

/* Create flags (ImDisk's values). */
#define IMDISK_OPTION_RO 0x00000001u
#define IMDISK_OPTION_REMOVABLE 0x00000002u
#define IMDISK_OPTION_SPARSE_FILE 0x00000004u
#define IMDISK_OPTION_BYTE_SWAP 0x00000008u

#define IMDISK_DEVICE_TYPE_MASK 0x000000F0u
#define IMDISK_DEVICE_TYPE_AUTO 0x00000000u
#define IMDISK_DEVICE_TYPE_HD 0x00000010u
#define IMDISK_DEVICE_TYPE_FD 0x00000020u
#define IMDISK_DEVICE_TYPE_CD 0x00000030u
#define IMDISK_DEVICE_TYPE_RAW 0x00000040u

#define IMDISK_TYPE_MASK 0x00000F00u
#define IMDISK_TYPE_FILE 0x00000100u
#define IMDISK_TYPE_VM 0x00000200u
#define IMDISK_TYPE_PROXY 0x00000300u

#define IMDISK_PROXY_TYPE_MASK 0x0000F000u
#define IMDISK_PROXY_TYPE_DIRECT 0x00000000u
#define IMDISK_PROXY_TYPE_COMM 0x00001000u
#define IMDISK_PROXY_TYPE_TCP 0x00002000u
#define IMDISK_PROXY_TYPE_SHM 0x00003000u

#define IMDISK_FILE_TYPE_MASK 0x0000F000u
#define IMDISK_FILE_TYPE_QUEUED_IO 0x00000000u
#define IMDISK_FILE_TYPE_AWEALLOC 0x00001000u
#define IMDISK_FILE_TYPE_PARALLEL_IO 0x00002000u
#define IMDISK_FILE_TYPE_BUFFERED_IO 0x00003000u

#define IMDISK_IMAGE_MODIFIED 0x00010000u
#define IMDISK_SHARED_IMAGE 0x00040000u
/* Create only, and this API's own (ImDisk has no such bit): a fixed disk even where
 * ImDisk's rules make it removable (a floppy: `-o fd,fix`).  The created disk
 * reports it as IMDISK_OPTION_REMOVABLE clear; this bit itself is never reported. */
#define IMDISK_OPTION_FIXED_MEDIA 0x00100000u

#define IMDISK_AUTO_UNIT 0xFFFFFFFFu

#define IMDISK_DEVICE_TYPE(flags) ((flags) & IMDISK_DEVICE_TYPE_MASK)
#define IMDISK_TYPE(flags) ((flags) & IMDISK_TYPE_MASK)
#define IMDISK_FILE_TYPE(flags) ((flags) & IMDISK_FILE_TYPE_MASK)
#define IMDISK_PROXY_TYPE(flags) ((flags) & IMDISK_PROXY_TYPE_MASK)

/* How the kernel sees a disk. */
enum imdisk_transport {
	IMDISK_TRANSPORT_AUTO = 0,
	IMDISK_TRANSPORT_LOOP = 1, /* kernel loop directly on the image or memfd */
	IMDISK_TRANSPORT_FUSE = 2, /* kernel loop on a file of imdiskd's FUSE mount */
};

/* Removal modes (imdisk -d, -D, -R). */
enum imdisk_remove_mode {
	IMDISK_REMOVE_NORMAL = 0,    /* flush; refuse with -EBUSY while in use */
	IMDISK_REMOVE_FORCE = 1,     /* flush; detach even while in use */
	IMDISK_REMOVE_EMERGENCY = 2, /* no flush: detach at once */
};

#define IMDISK_PATH_MAX 4096
#define IMDISK_DEVICE_NAME_MAX 64

/* One disk as imdiskd knows it: what CREATE takes and QUERY returns. */
struct imdisk_device {
	uint32_t unit;                /* IMDISK_AUTO_UNIT on create: lowest free */
	uint32_t flags;               /* IMDISK_* flags above */
	uint64_t size;                /* bytes the block device has */
	uint64_t image_offset;        /* bytes skipped at the start of the image */
	uint32_t sector_size;         /* logical block size: 512, 1024, 2048, 4096 (0: by type) */
	uint32_t sectors_per_track;   /* 0 on create: by ImDisk's rules */
	uint32_t tracks_per_cylinder; /* heads; 0 on create: by ImDisk's rules */
	uint64_t cylinders;           /* reported only */
	uint32_t transport;           /* enum imdisk_transport */
	uint32_t connected;           /* proxy disks: 1 while the server answers */
	char device[IMDISK_DEVICE_NAME_MAX]; /* /dev/loopN: reported only */
	char image[IMDISK_PATH_MAX];         /* image name as the caller gave it (informational) */
};

/* Who created a disk (the daemon reads it from the socket at CREATE).  Only this
 * uid, or root, may change, grow or remove the disk: others get -EPERM. */
struct imdisk_owner {
	uint32_t uid;
	uint32_t gid;
};

/* A change event from imdisk_watch_next(). */
enum imdisk_event_kind {
	IMDISK_EVENT_CREATE = 1,
	IMDISK_EVENT_REMOVE = 2,
	IMDISK_EVENT_FLAGS = 3,
	IMDISK_EVENT_GROW = 4,
};

struct imdisk_event {
	uint32_t kind; /* enum imdisk_event_kind */
	uint32_t unit;
};

struct imdisk_client;

/* The socket path: `path` if not NULL, else $IMDISK_SOCKET, else /run/imdisk/control. */
const char *imdisk_socket_path(const char *path);

/* Connect; checks the daemon's protocol version (-EPROTO on a mismatch). */
int imdisk_connect(const char *socket_path, struct imdisk_client **out);
void imdisk_disconnect(struct imdisk_client *client);

/* The daemon's one-line explanation of the last failed call on this client ("" if
 * none): the caller shows it to the user with the errno. */
const char *imdisk_error_message(const struct imdisk_client *client);

/* The daemon's version: API/protocol version and a version string. */
int imdisk_query_version(struct imdisk_client *client, uint32_t *api_version, char *text, size_t text_size);

/* Create a disk.  `image_fd` is an open descriptor of the image (file disks, and
 * RAM disks preloaded from an image), or a connected socket (proxy disks), or -1.
 * The daemon never opens a path: read-only vs read-write follows the descriptor's
 * own access mode.  Nor does it extend an image: a file disk's offset plus size must
 * lie within it (-EINVAL otherwise; the caller extends it with its own rights).
 * The disk belongs to the caller (imdisk_query_owner).  On success `device` is filled in as the daemon made it. */
int imdisk_create(struct imdisk_client *client, struct imdisk_device *device, int image_fd);

int imdisk_query(struct imdisk_client *client, uint32_t unit, struct imdisk_device *device);

/* imdisk_query, and the disk's owner, in one request (`device` may be NULL).  A
 * daemon older than API 1.1 names no owner: -EPROTO. */
int imdisk_query_owner(struct imdisk_client *client, uint32_t unit, struct imdisk_device *device,
		       struct imdisk_owner *owner);

/* Fill `units` with up to `max` unit numbers, ascending; returns how many disks exist
 * (which may be more than max). */
int imdisk_list(struct imdisk_client *client, uint32_t *units, size_t max);

/* Errors of the calls that change a disk (set flags, grow, remove): -EPERM when the
 * caller is neither the disk's owner nor root; and of create and grow: -EDQUOT when a
 * caller other than root would pass a limit of the daemon (disks, RAM-disk bytes,
 * or for -o awe its own RLIMIT_MEMLOCK).  imdisk_error_message() says which. */

/* Change flags: each bit set in `mask` takes its value from `values`.  Only
 * IMDISK_OPTION_RO, IMDISK_OPTION_REMOVABLE, IMDISK_OPTION_SPARSE_FILE and
 * IMDISK_IMAGE_MODIFIED may change; *not_changed (if not NULL) gets the bits of mask that
 * could not change. */
int imdisk_set_flags(struct imdisk_client *client, uint32_t unit, uint32_t mask, uint32_t values,
		     uint32_t *not_changed);

/* Grow a disk by `bytes`.  A file disk's image must already hold the new size: the
 * caller extends it (ftruncate, fallocate) with its own rights, and the daemon only
 * checks it (-EINVAL when too short).  `image_fd` is needed for file disks whose
 * daemon lost the descriptor (after a restart), else -1. */
int imdisk_grow(struct imdisk_client *client, uint32_t unit, uint64_t bytes, int image_fd);

int imdisk_remove(struct imdisk_client *client, uint32_t unit, enum imdisk_remove_mode mode);

/* Turn this connection into a stream of change events. */
int imdisk_watch(struct imdisk_client *client);
/* Wait for the next event (timeout_ms < 0: forever); -ETIMEDOUT when none came. */
int imdisk_watch_next(struct imdisk_client *client, struct imdisk_event *event, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
