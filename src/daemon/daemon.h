/* What the parts of imdiskd share: the disk table, where state lives, who watches. */
#ifndef IMDISK_DAEMON_DAEMON_H
#define IMDISK_DAEMON_DAEMON_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>

#include <sys/socket.h>

#include "common/caller_identity.h"
#include "common/stream_connect.h"
#include "daemon/disk_table.h"
#include "daemon/state_parse.h"

struct transport_fuse;

#define DAEMON_MAX_WATCHERS 64
#define DAEMON_WHY_MAX 256
/* FUSE workers by default: two keep both cores of a small machine busy on RAM
 * disks (docs/performance.md); --fuse-workers changes it. */
#define DAEMON_FUSE_WORKERS 2

/* How the FUSE transport takes its requests. */
enum daemon_fuse_channel {
	DAEMON_FUSE_AUTO,     /* io_uring where the kernel has it, else /dev/fuse */
	DAEMON_FUSE_IO_URING, /* io_uring, with a warning where it cannot be had */
	DAEMON_FUSE_DEVICE,   /* /dev/fuse only */
};

struct daemon {
	struct disk_table table;
	char socket_path[PATH_MAX];
	char state_dir[PATH_MAX];
	pthread_mutex_t watchers_lock;
	int watchers[DAEMON_MAX_WATCHERS];
	unsigned watcher_count;
	pthread_mutex_t fuse_lock;
	struct transport_fuse *fuse; /* started with the first user-space disk */
	/* A proxy server silent this long fails the request with EIO (reconnecting
	 * may take as long again): I/O never hangs on a vanished server. */
	unsigned proxy_timeout_ms;
	unsigned fuse_workers; /* --fuse-workers */
	enum daemon_fuse_channel fuse_channel; /* --fuse-io-uring, --no-fuse-io-uring */
	/* What a caller other than root may hold (disk_access.c): disks, and bytes of
	 * RAM disks in all; UINT32_MAX disks / UINT64_MAX bytes: no limit. */
	uint32_t max_disks_per_user; /* --max-disks-per-user */
	uint64_t max_ram_per_user;   /* --max-ram-per-user */
	/* state.c: the state folder (-1: not ours, so no state is read or saved), and
	 * the order of saves (see state.c). */
	int state_dir_fd;
	pthread_mutex_t state_save_lock;
	uint64_t state_generation[DISK_TABLE_MAX_UNITS]; /* last snapshot or forget begun */
	uint64_t state_written[DISK_TABLE_MAX_UNITS];    /* last written or forgotten */
};

#define DAEMON_MAX_DISKS_PER_USER 16
#define DAEMON_MAX_RAM_PER_USER (4ull << 30)

/* disk_fail.c: record the user-facing reason for a failure once, where it is first known, into
 * why[DAEMON_WHY_MAX]; returns error. */
int disk_fail(char *why, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* disk_ops.c: the control calls.  Each returns 0 or a negative errno, and on
 * failure puts a one-line explanation for the user into why[DAEMON_WHY_MAX]. */
int disk_create(struct daemon *daemon, struct imdisk_device *request, int image_fd, const struct caller_identity *caller,
		char *why);
/* The disk as a client sees it, and who owns it. */
int disk_query(struct daemon *daemon, uint32_t unit, struct imdisk_device *out, uid_t *owner_uid, gid_t *owner_gid,
	       char *why);
int disk_list(struct daemon *daemon, uint32_t *units, uint32_t max, uint32_t *total);
/* Changing, growing and removing are the owner's (or root's): -EPERM otherwise. */
int disk_set_flags(struct daemon *daemon, uint32_t unit, uint32_t mask, uint32_t values, const struct caller_identity *caller,
		   uint32_t *not_changed, char *why);
/* A file disk's image must already be long enough (the caller extends it with its
 * own rights): imdiskd only checks its size and never extends a caller's file. */
int disk_grow(struct daemon *daemon, uint32_t unit, uint64_t amount, int image_fd, const struct caller_identity *caller,
	      char *why);
int disk_remove(struct daemon *daemon, uint32_t unit, uint32_t mode, const struct caller_identity *caller, char *why);
/* Close what the daemon holds (at exit); the kernel devices stay. */
void disk_release_all(struct daemon *daemon);

/* disk_access.c: who may change a disk, and the limits of callers other than root. */
/* 0 when the caller may change the disk, else -EPERM with *owner set; the message
 * is disk_access_owner_refusal's, made once the table lock is released (it looks
 * the owner's name up). */
int disk_access_check_owner(const struct disk *disk, const struct caller_identity *caller, uid_t *owner);
int disk_access_owner_refusal(uint32_t unit, uid_t owner, char *why);
/* The caller's RLIMIT_MEMLOCK (UINT64_MAX for root or unlimited, 0 when unreadable);
 * read it before taking the table lock. */
uint64_t disk_access_memlock_limit(const struct caller_identity *caller);
/* Would `more` bytes of RAM disk (locked: awe) keep the caller within its limits?
 * -EDQUOT with the reason in why otherwise.  Call with the table lock held. */
int disk_access_check_memory(const struct daemon *daemon, const struct caller_identity *caller, uint64_t more, bool locked,
			     uint64_t memlock_limit, char *why);
/* The reason for disk_table_reserve_within's -EDQUOT; returns -EDQUOT. */
int disk_access_count_refusal(const struct daemon *daemon, const struct caller_identity *caller, char *why);

/* disk_backing.c: what holds a disk's bytes, one function per kind of disk.  The
 * first sector of the disk, where a backing reads it (for ImDisk's FAT geometry). */
#define BOOT_SECTOR_SIZE 512
struct boot_sector {
	uint8_t bytes[BOOT_SECTOR_SIZE];
	bool present;
};
/* What a proxy disk needs to reconnect to its server: the address, and (TCP) the
 * peer the creator's own connection reached (getpeername at CREATE), the only one
 * a reconnect may reach, whatever address the creator claimed.  The proxy backend
 * reconnects in a thread that has dropped to the creator's whole identity
 * (caller_identity_run), so a unix socket is reached with the creator's rights,
 * never root's. */
struct proxy_reconnect {
	uint32_t kind;
	char address[IMDISK_PATH_MAX];
	struct stream_peer peer;
};
/* Open the backing of a disk being created (disk->info as asked; the backing may
 * settle its size and read-only flag): sets disk->backend (and disk->memory or
 * disk->proxy) and *boot where it reads the first sector.  A backing that keeps
 * the descriptor (an image file, a stream proxy) takes *image_fd and sets it to
 * -1, on success only; what it made before failing is the disk's, freed with it. */
typedef int disk_backing_open_fn(struct daemon *daemon, struct disk *disk, int *image_fd,
				 const struct caller_identity *caller, struct boot_sector *boot, char *why);
disk_backing_open_fn *disk_backing_for(const struct imdisk_device *info);

/* disk_stack.c: the vdisk layers of a disk that needs user-space work.  Silent:
 * negative errno, no message. */
bool disk_needs_userspace(const struct imdisk_device *request);
/* The window [offset, offset + size) of backend, byte swapping and read-only as
 * flags ask.  Takes the backend: on success the stack owns it, on failure it is
 * closed with the layers made so far. */
int disk_stack_build(struct vdisk *backend, uint64_t offset, uint64_t size, uint32_t flags, struct vdisk **out);
/* A read-only layer on *stack unless it is read-only already. */
int disk_stack_make_read_only(struct vdisk **stack);

/* fuse_mount.c: imdiskd's FUSE mount, started with the first user-space disk. */
/* Publish disk->stack in the mount and point setup at the file: returns the
 * descriptor (to close after the loop attach) or a negative errno. */
int fuse_mount_publish(struct daemon *daemon, struct disk *disk, struct loop_setup *setup, char *why);
void fuse_mount_unpublish(struct daemon *daemon, struct disk *disk);
int fuse_mount_resized(struct daemon *daemon, struct disk *disk);
void fuse_mount_stop(struct daemon *daemon);
void fuse_mount_clean_stale(const struct daemon *daemon);
void daemon_fuse_directory(const struct daemon *daemon, char *buf, size_t size);

/* state.c: one file per disk under state_dir, so a restarted daemon re-adopts.  A
 * disk's owner is part of what is kept: disk->owner_uid and disk->owner_gid
 * (disk_table.h) are saved and set again at re-adoption; a disk adopted without
 * them stays root's (0, 0), the zeroed record's safe default. */
/* Open and check state_dir (at the start, before anything else of state.c). */
void state_open_directory(struct daemon *daemon);
/* What a save writes, copied from a disk while it cannot change (the table lock
 * held, or the disk not yet published), to write later without that lock. */
struct state_snapshot {
	struct state_record record;
	uint64_t generation;
};
void state_snapshot(struct daemon *daemon, const struct disk *disk, struct state_snapshot *out);
/* Write a snapshot (file I/O: never with the table lock held); a snapshot older
 * than the unit's last write or forget is dropped. */
int state_write(struct daemon *daemon, const struct state_snapshot *snapshot);
/* Both, for a disk nobody else can change meanwhile. */
int state_save(struct daemon *daemon, const struct disk *disk);
void state_forget(struct daemon *daemon, uint32_t unit);
/* Re-adopt every disk described in state_dir whose loop device is still ours. */
void state_adopt_all(struct daemon *daemon);

/* events.c: the watch streams. */
void events_add_watcher(struct daemon *daemon, int sock);
void events_publish(struct daemon *daemon, uint32_t kind, uint32_t unit);

/* control_server.c: serve one connection until it closes (own thread).  Returns
 * true when the socket has become a watch stream (the events own it now), false
 * when the caller is to close it. */
bool control_serve_connection(struct daemon *daemon, int sock);

#endif
