/* The transport's namespace: one flat directory of published disks, each a
 * node.  Shared by the handlers (which look nodes up and do I/O on their
 * disks) and the lifecycle (which adds and removes them).
 *
 * No locks on the I/O path: an open file handle (fh) is the node itself, and a
 * per-node in-flight count lets a removal wait for the requests on one disk
 * without stopping the others.  Everything else is under `lock`. */
#ifndef IMDISK_TRANSPORT_FUSE_FILES_H
#define IMDISK_TRANSPORT_FUSE_FILES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "transport/fuse_kernel_abi.h"
#include "vdisk/vdisk.h"

struct fuse_disk_queue;

struct fuse_node {
	struct fuse_node *next; /* in the list, by increasing inode */
	uint64_t ino;
	/* NULL once removed: requests on files still open then fail with EIO. */
	_Atomic(struct vdisk *) disk;
	atomic_uint inflight; /* requests using `disk` right now */
	/* The disk's own threads (fuse_disk_queue.h), for a disk that may wait;
	 * NULL for one that never does (a RAM disk), served on the channel's
	 * threads.  Set before the node is visible, stopped once it is removed
	 * and drained. */
	struct fuse_disk_queue *queue;
	bool queue_drained; /* under the lock: by fuse_files_drain_queues */
	/* Under the files' lock: */
	uint64_t lookups; /* the kernel's references (LOOKUP minus FORGET) */
	unsigned opens;   /* open file handles (OPEN minus RELEASE) */
	bool removed;
	struct timespec added;
	char name[];
};

struct fuse_files {
	pthread_mutex_t lock;
	pthread_cond_t drained; /* a removed disk's last request finished */
	struct fuse_node *nodes;
	uint64_t next_ino;
	struct timespec started;
	uint32_t open_flags; /* FOPEN_* for disk files, chosen at INIT */
	unsigned disk_threads; /* per disk that may wait; 0: every disk on the channel's threads */
};

void fuse_files_init(struct fuse_files *files);
/* Finish the jobs queued on every disk's threads and end those threads (the
 * channels still run, to carry the answers); later requests are served on the
 * channel's threads. */
void fuse_files_drain_queues(struct fuse_files *files);
/* Frees every node: the channels are stopped. */
void fuse_files_destroy(struct fuse_files *files);

bool fuse_files_name_valid(const char *name);
/* -EEXIST, -ENOMEM, or 0. */
int fuse_files_add(struct fuse_files *files, const char *name, struct vdisk *disk);
/* Unpublish `name` and wait for its requests in flight; -ENOENT if not there. */
int fuse_files_remove(struct fuse_files *files, const char *name);
/* The inode of a published name; -ENOENT if not there. */
int fuse_files_ino(struct fuse_files *files, const char *name, uint64_t *ino);

/* ---- for the handlers ---- */

/* Called with the lock held. */
struct fuse_node *fuse_files_node_by_ino(struct fuse_files *files, uint64_t ino);
struct fuse_node *fuse_files_node_by_name(struct fuse_files *files, const char *name);
/* A removed node lives on while the kernel still refers to it. */
void fuse_files_release_if_unused(struct fuse_files *files, struct fuse_node *node);
void fuse_files_node_attr(const struct fuse_node *node, const struct vdisk *disk, struct fuse_attr *attr);
/* Attributes of `ino` (the root too); -ENOENT for a node we do not know. */
int fuse_files_attr_of(struct fuse_files *files, uint64_t ino, struct fuse_attr *attr);

/* The I/O path, without the lock: the disk behind an open node (NULL once
 * removed), counted in flight until fuse_files_disk_put. */
struct vdisk *fuse_files_disk_get(struct fuse_node *node);
void fuse_files_disk_put(struct fuse_files *files, struct fuse_node *node);

/* The node an open handle names: the kernel echoes what OPEN answered. */
static inline struct fuse_node *fuse_files_node_of_fh(uint64_t fh)
{
	return (struct fuse_node *)(uintptr_t)fh;
}

#endif
