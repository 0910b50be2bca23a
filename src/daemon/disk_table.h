/* imdiskd's table of disks: unit numbers, what backs each disk, and its kernel
 * device.  One mutex guards the table; slow work (preloading RAM, flushing) runs
 * outside it on a unit that is reserved first. */
#ifndef IMDISK_DAEMON_DISK_TABLE_H
#define IMDISK_DAEMON_DISK_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "imdisk.h"
#include "transport/loop.h"
#include "vdisk/vdisk.h"

#define DISK_TABLE_MAX_UNITS 1024

struct proxy_reconnect;

enum disk_state { DISK_CREATING, DISK_READY, DISK_REMOVING };

struct disk {
	enum disk_state state;
	struct imdisk_device info; /* flags as created/changed; size, geometry, device */
	uint32_t loop_number;
	int backing_fd;        /* image file disks: the image; else -1 (and after a restart) */
	struct vdisk *memory;  /* RAM disks: the memory backend (its memfd backs the loop) */
	/* The vdisk at the bottom (disk_backing.c): the memory or proxy backend, or an
	 * image file served in user space; NULL for an image the loop driver reads. */
	struct vdisk *backend;
	/* User-space disks: the top of the vdisk stack the FUSE transport serves (it owns
	 * everything below, the backend included), the proxy backend in it, what that
	 * backend reconnects to, and the file name in the FUSE mount.  NULL / "" for
	 * disks on the loop fast path. */
	struct vdisk *stack;
	struct vdisk *proxy;
	struct proxy_reconnect *proxy_target;
	char fuse_name[32];
	uint64_t written_baseline; /* loop sectors written when last saved/created */
	dev_t backing_device;
	uint64_t backing_inode;
	char tag[LOOP_TAG_SIZE];
	/* Who created the disk (SO_PEERCRED at CREATE): only this uid, or root, may
	 * change, grow or remove it.  State re-adoption sets both from the state file;
	 * a disk whose owner is not known is root's (0, 0), which no other caller may
	 * change: the safe default of a zeroed record. */
	uid_t owner_uid;
	gid_t owner_gid;
	/* RAM bytes this disk is charged while DISK_CREATING (its size is not final
	 * yet); once READY, a RAM disk is charged its size.  Set under the lock. */
	uint64_t ram_reserved;
};

/* What one uid holds in the table, counting disks in every state. */
struct disk_holdings {
	uint32_t disks;
	uint64_t ram_bytes;    /* RAM disks (vm and awe) */
	uint64_t locked_bytes; /* awe RAM disks: memory locked for this uid */
};

struct disk_table {
	pthread_mutex_t lock;
	struct disk *units[DISK_TABLE_MAX_UNITS];
};

void disk_table_init(struct disk_table *table);

/* Reserve a unit (IMDISK_AUTO_UNIT: lowest free) for a disk in DISK_CREATING
 * state; -EEXIST when the asked unit is taken, -ENOSPC when none is free. */
int disk_table_reserve(struct disk_table *table, uint32_t unit, struct disk *disk);

/* The same, and atomically with it refuse with -EDQUOT when disk->owner_uid holds
 * max_disks disks already (UINT32_MAX: no limit). */
int disk_table_reserve_within(struct disk_table *table, uint32_t unit, struct disk *disk, uint32_t max_disks);

/* A RAM disk's bytes (vm and awe), locked or not. */
bool disk_is_memory(uint32_t flags);
bool disk_is_locked_memory(uint32_t flags);

/* What `uid` holds.  Call with the lock held. */
void disk_table_holdings(const struct disk_table *table, uid_t uid, struct disk_holdings *out);

/* Forget a unit (the caller frees the disk). */
void disk_table_release(struct disk_table *table, uint32_t unit);

/* The READY disk of a unit, or NULL.  Call with the lock held. */
struct disk *disk_table_get(struct disk_table *table, uint32_t unit);

#endif
