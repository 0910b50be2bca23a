/* The FUSE transport: every published disk is a regular file in a private FUSE
 * mount, and the kernel loop driver (direct I/O) on that file is the block device.
 *
 * We speak the kernel protocol (linux/fuse.h) ourselves instead of running
 * libfuse's session loop: on this project's test machine libfuse 3.14's request
 * loop topped out at 61-79k IOPS (4k random reads, queue depth 32, loop with
 * direct I/O on top) while a bare request loop reaches about twice that; its
 * loop, not FUSE, was the limit (docs/performance.md).
 *
 * Two ways to receive requests, chosen at INIT:
 *
 * - /dev/fuse (always there): N workers, each with its own clone of the session
 *   descriptor (FUSE_DEV_IOC_CLONE) and its own buffer.  A worker read()s one
 *   request, calls the disk straight into / out of that buffer (WRITE data is
 *   laid out to start page aligned; READ data is produced in place) and answers
 *   with one writev() of header + data: two system calls per request.
 *
 * - FUSE over io_uring (kernel 6.14+, offered only when root has set
 *   /sys/module/fuse/parameters/enable_uring): N workers, each with its own ring
 *   and buffers registered on every kernel queue (one queue per CPU); the
 *   kernel writes a request into a buffer and completes a command, we answer by
 *   committing the reply and fetching the next request in one SQE, and one
 *   io_uring_enter() carries a whole batch of them.  FORGET and INTERRUPT still
 *   come through /dev/fuse, so one /dev/fuse worker stays.  A read that a disk
 *   finishes on a thread of its own (a proxy disk's pipes) is put into the
 *   entry's buffer there and committed by the ring's worker, woken through an
 *   eventfd: a ring has a single submitter.
 *
 * No locks on the I/O path: the open file handle is the node itself, and a
 * per-node in-flight count lets remove() wait for requests on a disk without
 * stopping the others.
 */
#include "transport/fuse.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fuse.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>


/* FUSE over io_uring (protocol 7.42, kernel 6.14).  Debian 12's linux/fuse.h is
 * 7.38, so the kernel ABI is spelled out here. */
#define FUSE_TRANSPORT_OVER_IO_URING (1u << 9) /* FUSE_OVER_IO_URING, in flags2 */
#define FUSE_TRANSPORT_URING_REGISTER 1u     /* register a buffer, fetch a request */
#define FUSE_TRANSPORT_URING_COMMIT_AND_FETCH 2u

struct fuse_transport_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id; /* to name the request when committing its reply */
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};

/* The first buffer of a ring entry. */
struct fuse_transport_uring_header {
	unsigned char in_out[128]; /* fuse_in_header, then our fuse_out_header */
	unsigned char op_in[128];  /* the opcode's fixed argument (fuse_read_in...) */
	struct fuse_transport_uring_ent_in_out ent_in_out;
};

/* In the 80-byte command area of a 128-byte SQE. */
struct fuse_transport_uring_cmd {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

/* 256 pages (1 MiB on 4 KiB pages) per request: the kernel's default
 * fs.fuse.max_pages_limit, and what lets a 1 MiB loop request travel as one
 * FUSE request. */
#define FUSE_TRANSPORT_MAX_PAGES 256u

/* Requests the kernel may keep in flight for asynchronous direct I/O (the loop
 * driver's path).  The kernel default is 12, far below the queue depths a
 * block device sees. */
#define FUSE_TRANSPORT_MAX_BACKGROUND 512u

/* Buffers each ring worker registers on each kernel queue: how many requests of
 * one queue it can take in one batch, and how many it can hold at once.  Few:
 * the kernel hands a request to the buffer freed last, so with many buffers
 * one worker's take most of a queue's requests, and requests that wait (a
 * proxy disk's writes) then wait in turn on one worker while the others idle
 * (32 instead of 4 took a proxy disk's 1 MiB writes from 1.6 to 0.9 x nbdfuse).
 * The price: a proxy disk's reads waiting on a silent server hold their
 * buffers, and once a queue's are all held, other disks' requests on that
 * queue wait too, for at most the proxy timeout.  Every buffer can hold a
 * whole 1 MiB request, and there is one kernel queue per possible CPU, so on
 * big machines the depth shrinks to keep all buffers together within
 * FUSE_TRANSPORT_RING_BUFFERS (each becomes resident once a request used it),
 * but never below one. */
#define FUSE_TRANSPORT_RING_DEPTH 4u
#define FUSE_TRANSPORT_RING_BUFFERS 128u
#define FUSE_TRANSPORT_RING_STOP UINT64_MAX /* user_data of the stop poll */
#define FUSE_TRANSPORT_RING_WAKE (UINT64_MAX - 1) /* ... of the read of `wake_fd` */

/* Answers to requests moving at least this many bytes are sent at once rather
 * than with the rest of the batch: the copying dominates there, and holding a
 * finished 1 MiB answer until its neighbours are done only adds latency. */
#define FUSE_TRANSPORT_RING_FLUSH_BYTES (64u << 10)

/* Names and sizes only change through add/remove/resized, which invalidate the
 * kernel's caches themselves: long timeouts cost nothing. */
#define FUSE_TRANSPORT_TIMEOUT 3600u

/* The oldest protocol we answer: 7.28 brought max_pages. */
#define FUSE_TRANSPORT_MIN_MINOR 28u

#define FUSE_TRANSPORT_ROOT_MODE (S_IFDIR | 0755)

struct fuse_node {
	struct fuse_node *next; /* in the transport's list, by increasing inode */
	uint64_t ino;
	/* NULL once removed: requests on files still open then fail with EIO. */
	_Atomic(struct vdisk *) disk;
	atomic_uint inflight;      /* requests using `disk` right now */
	pthread_mutex_t serial;    /* held around I/O for disks without VDISK_PARALLEL */
	/* Under the transport's lock: */
	uint64_t lookups;          /* the kernel's references (LOOKUP minus FORGET) */
	unsigned opens;            /* open file handles (OPEN minus RELEASE) */
	bool removed;
	struct timespec added;
	char name[];
};

/* What a request handler needs: where its answer goes and where to build it. */
struct fuse_context {
	struct transport_fuse *fuse;
	unsigned char *data;  /* page aligned; READ and READDIR answers are built here */
	size_t data_size;
	int fd;               /* /dev/fuse: answer with writev() here */
	struct fuse_ring_worker *ring; /* io_uring: answer by committing `entry` */
	unsigned entry;
	bool answered;
};

struct fuse_worker {
	struct fuse_context ctx;
	pthread_t thread;
	bool running;
	unsigned char *map;       /* the buffer mapping */
	size_t map_size;
	unsigned char *request;   /* where read() puts a request */
	size_t request_size;
};

struct fuse_ring_entry {
	struct fuse_transport_uring_header *header;
	unsigned char *payload;
	struct iovec iov[2]; /* header, payload */
	uint16_t qid; /* the kernel queue it is registered on */
};

/* A thread with its own ring and buffers registered on every kernel queue: a
 * queue's requests spread over the workers, so one CPU issuing all of them (one
 * loop device) still keeps several workers busy. */
struct fuse_ring_worker {
	struct transport_fuse *fuse;
	pthread_t thread;
	bool running;
	struct io_uring ring;
	bool ring_ready;
	unsigned char *map; /* payload buffers, then headers */
	size_t map_size;
	unsigned depth; /* buffers per kernel queue */
	unsigned entry_count;
	struct fuse_ring_entry *entries;
	int setup_result;   /* from the thread: ring and registration */
	bool setup_done;
	/* Reads a disk finished on another thread (proxy disks) wait here for this
	 * worker to commit them: a ring has a single issuer.  `wake_fd` (an
	 * eventfd, read through the ring) is written when the list becomes
	 * non-empty. */
	pthread_mutex_t finished_lock;
	struct fuse_async_read *finished;
	int wake_fd;
	uint64_t wake_count;
};

struct transport_fuse {
	int fd; /* the session descriptor (INIT, notifications, io_uring commands) */
	char *mountpoint;
	bool mounted;
	size_t page_size;
	size_t max_write;
	uint32_t proto_minor;
	uint32_t open_flags; /* FOPEN_* for disk files */
	bool use_uring;

	pthread_mutex_t lock;
	pthread_cond_t drained; /* a removed disk's last request finished; a ring worker set up */
	struct fuse_node *nodes;
	uint64_t next_ino;
	struct timespec started;

	unsigned worker_count;
	struct fuse_worker *workers;
	unsigned queue_count; /* the kernel's io_uring queues: one per possible CPU */
	unsigned ring_count;
	struct fuse_ring_worker *rings;
	int stop_fd; /* eventfd: tells the ring workers to finish */
};

/* ---- answers ---- */

static int fuse_send(int fd, struct iovec *iov, int count)
{
	size_t len = 0;
	ssize_t n;

	for (int i = 0; i < count; i++)
		len += iov[i].iov_len;
	((struct fuse_out_header *)iov[0].iov_base)->len = (uint32_t)len;
	do
		n = writev(fd, iov, count);
	while (n < 0 && errno == EINTR);
	/* ENOENT: the request was interrupted and is gone; nothing to do. */
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	return 0;
}

static void fuse_ring_commit(struct fuse_context *ctx, uint64_t unique, int error, const void *arg, size_t len);

/* Answer the request `unique`: an error, or `len` bytes of `arg`. */
static void fuse_reply(struct fuse_context *ctx, uint64_t unique, int error, const void *arg, size_t len)
{
	struct fuse_out_header out = { .error = error, .unique = unique };
	struct iovec iov[2] = {
		{ .iov_base = &out, .iov_len = sizeof(out) },
		{ .iov_base = (void *)arg, .iov_len = len },
	};

	ctx->answered = true;
	if (ctx->ring)
		fuse_ring_commit(ctx, unique, error, arg, len);
	else
		fuse_send(ctx->fd, iov, error || !len ? 1 : 2);
}

static void fuse_reply_error(struct fuse_context *ctx, uint64_t unique, int error)
{
	fuse_reply(ctx, unique, error, NULL, 0);
}

/* ---- nodes (called with fuse->lock held) ---- */

static struct fuse_node *fuse_node_by_ino(struct transport_fuse *fuse, uint64_t ino)
{
	for (struct fuse_node *node = fuse->nodes; node; node = node->next)
		if (node->ino == ino)
			return node;
	return NULL;
}

static struct fuse_node *fuse_node_by_name(struct transport_fuse *fuse, const char *name)
{
	for (struct fuse_node *node = fuse->nodes; node; node = node->next)
		if (!node->removed && strcmp(node->name, name) == 0)
			return node;
	return NULL;
}

static void fuse_node_free(struct fuse_node *node)
{
	pthread_mutex_destroy(&node->serial);
	free(node);
}

/* A removed node lives on while the kernel still refers to it. */
static void fuse_node_release_if_unused(struct transport_fuse *fuse, struct fuse_node *node)
{
	struct fuse_node **link;

	if (!node->removed || node->lookups || node->opens)
		return;
	for (link = &fuse->nodes; *link; link = &(*link)->next) {
		if (*link == node) {
			*link = node->next;
			fuse_node_free(node);
			return;
		}
	}
}

static void fuse_root_attr(const struct transport_fuse *fuse, struct fuse_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	attr->ino = FUSE_ROOT_ID;
	attr->atime = attr->mtime = attr->ctime = (uint64_t)fuse->started.tv_sec;
	attr->atimensec = attr->mtimensec = attr->ctimensec = (uint32_t)fuse->started.tv_nsec;
	attr->mode = FUSE_TRANSPORT_ROOT_MODE;
	attr->nlink = 2;
	attr->blksize = 4096;
}

static void fuse_node_attr(const struct fuse_node *node, const struct vdisk *disk, struct fuse_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	attr->ino = node->ino;
	attr->size = disk ? disk->size : 0;
	attr->blocks = (attr->size + 511) / 512;
	attr->atime = attr->mtime = attr->ctime = (uint64_t)node->added.tv_sec;
	attr->atimensec = attr->mtimensec = attr->ctimensec = (uint32_t)node->added.tv_nsec;
	attr->mode = S_IFREG | (disk && (disk->flags & VDISK_READ_ONLY) ? 0400 : 0600);
	attr->nlink = node->removed ? 0 : 1;
	attr->blksize = 4096;
}

/* Fill the attributes of `ino`; -ENOENT if the kernel names a node we do not know. */
static int fuse_attr_of(struct transport_fuse *fuse, uint64_t ino, struct fuse_attr *attr)
{
	struct fuse_node *node;

	if (ino == FUSE_ROOT_ID) {
		fuse_root_attr(fuse, attr);
		return 0;
	}
	node = fuse_node_by_ino(fuse, ino);
	if (!node)
		return -ENOENT;
	fuse_node_attr(node, atomic_load(&node->disk), attr);
	return 0;
}

/* ---- the I/O path: no transport lock, only the node's in-flight count ---- */

static struct vdisk *fuse_disk_get(struct fuse_node *node)
{
	struct vdisk *disk;

	/* Sequentially consistent on both sides: either remove() sees our count
	 * or we see its NULL. */
	atomic_fetch_add(&node->inflight, 1);
	disk = atomic_load(&node->disk);
	if (disk && !(disk->flags & VDISK_PARALLEL))
		pthread_mutex_lock(&node->serial);
	return disk;
}

static void fuse_disk_put(struct transport_fuse *fuse, struct fuse_node *node, struct vdisk *disk)
{
	if (disk && !(disk->flags & VDISK_PARALLEL))
		pthread_mutex_unlock(&node->serial);
	if (atomic_fetch_sub(&node->inflight, 1) == 1 && !atomic_load(&node->disk)) {
		/* remove() may be waiting for this last request. */
		pthread_mutex_lock(&fuse->lock);
		pthread_cond_broadcast(&fuse->drained);
		pthread_mutex_unlock(&fuse->lock);
	}
}

static struct fuse_node *fuse_node_of_fh(uint64_t fh)
{
	return (struct fuse_node *)(uintptr_t)fh;
}

/* A read answered later, from the disk's own thread (vdisk_read_async). */
struct fuse_async_read {
	struct transport_fuse *fuse;
	struct fuse_node *node;
	struct vdisk *disk;
	uint64_t unique;
	int fd; /* the clone the request came on: the kernel matches answers there */
	/* A request that came on a ring: its entry, and the outcome for the
	 * worker to commit. */
	struct fuse_ring_worker *ring;
	unsigned entry;
	int result;
	size_t len;
	struct fuse_async_read *next;
};

/* The answer is already in the entry's payload: hand it to the ring's worker.
 * The disk is put only once the read is queued, so a disk removal (and so a
 * transport stop) cannot overtake it. */
static void fuse_ring_read_done(struct fuse_async_read *read, int result, const void *data, size_t len)
{
	struct fuse_ring_worker *rw = read->ring;
	struct fuse_ring_entry *e = &rw->entries[read->entry];
	struct transport_fuse *fuse = read->fuse;
	struct fuse_node *node = read->node;
	struct vdisk *disk = read->disk;
	uint64_t one = 1;
	bool was_empty;

	if (result == 0 && len > e->iov[1].iov_len)
		result = -EIO;
	if (result == 0 && len && data != e->payload)
		memcpy(e->payload, data, len);
	read->result = result;
	read->len = result ? 0 : len;
	pthread_mutex_lock(&rw->finished_lock);
	was_empty = !rw->finished;
	read->next = rw->finished;
	rw->finished = read;
	pthread_mutex_unlock(&rw->finished_lock);
	if (was_empty && write(rw->wake_fd, &one, sizeof(one)) < 0) {
		/* an eventfd's counter cannot overflow from this: nothing to do */
	}
	fuse_disk_put(fuse, node, disk);
}

static void fuse_read_done(void *opaque, int result, const void *data, size_t len)
{
	struct fuse_async_read *read = opaque;
	struct fuse_out_header out = { .error = result, .unique = read->unique };
	struct iovec iov[2] = {
		{ .iov_base = &out, .iov_len = sizeof(out) },
		{ .iov_base = (void *)data, .iov_len = len },
	};

	if (read->ring) {
		fuse_ring_read_done(read, result, data, len);
		return;
	}
	fuse_send(read->fd, iov, result || !len ? 1 : 2);
	fuse_disk_put(read->fuse, read->node, read->disk);
	free(read);
}

/* 0 when the disk took the read to answer later; else the caller reads. */
static int fuse_read_async(struct fuse_context *ctx, struct fuse_node *node, struct vdisk *disk, uint64_t unique,
			   size_t len, uint64_t offset)
{
	struct fuse_async_read *read;

	if (!(disk->flags & VDISK_ASYNC_READ) || len == 0)
		return -EOPNOTSUPP;
	read = malloc(sizeof(*read));
	if (!read)
		return -ENOMEM;
	*read = (struct fuse_async_read){ .fuse = ctx->fuse, .node = node, .disk = disk, .unique = unique,
					  .fd = ctx->fd, .ring = ctx->ring, .entry = ctx->entry };
	if (vdisk_read_async(disk, len, offset, fuse_read_done, read) < 0) {
		free(read);
		return -EAGAIN;
	}
	ctx->answered = true;
	return 0;
}

static void fuse_do_read(struct fuse_context *ctx, const struct fuse_in_header *in, const void *op)
{
	const struct fuse_read_in *read_in = op;
	struct fuse_node *node = fuse_node_of_fh(read_in->fh);
	struct vdisk *disk = fuse_disk_get(node);
	const void *view = NULL;
	size_t len = read_in->size;
	int r;

	if (!disk) {
		r = -EIO;
	} else if (len > ctx->data_size) {
		r = -EINVAL;
	} else {
		/* A file read past the end is short, not an error. */
		if (read_in->offset >= disk->size)
			len = 0;
		else if (len > disk->size - read_in->offset)
			len = (size_t)(disk->size - read_in->offset);
		if (fuse_read_async(ctx, node, disk, in->unique, len, read_in->offset) == 0)
			return; /* answered by fuse_read_done, which also puts the disk */
		/* Straight from where the disk keeps the bytes when it can. */
		view = vdisk_view(disk, len, read_in->offset);
		r = view ? 0 : vdisk_read(disk, ctx->data, len, read_in->offset);
	}
	if (r < 0)
		fuse_reply_error(ctx, in->unique, r);
	else
		fuse_reply(ctx, in->unique, 0, view ? view : ctx->data, len);
	if (view)
		vdisk_view_end(disk);
	fuse_disk_put(ctx->fuse, node, disk);
}

static void fuse_do_write(struct fuse_context *ctx, const struct fuse_in_header *in, const void *op,
			  const void *data, size_t data_len)
{
	const struct fuse_write_in *write_in = op;
	struct fuse_node *node = fuse_node_of_fh(write_in->fh);
	struct fuse_write_out write_out = { .size = write_in->size };
	struct vdisk *disk;
	int r;

	if (write_in->size > data_len) {
		fuse_reply_error(ctx, in->unique, -EINVAL);
		return;
	}
	disk = fuse_disk_get(node);
	if (!disk)
		r = -EIO;
	else if (write_in->offset > disk->size || write_in->size > disk->size - write_in->offset)
		r = -ENOSPC; /* a disk does not grow by writing past its end */
	else
		r = vdisk_write(disk, data, write_in->size, write_in->offset);
	fuse_disk_put(ctx->fuse, node, disk);
	if (r < 0)
		fuse_reply_error(ctx, in->unique, r);
	else
		fuse_reply(ctx, in->unique, 0, &write_out, sizeof(write_out));
}

static void fuse_do_fsync(struct fuse_context *ctx, const struct fuse_in_header *in, const void *op)
{
	const struct fuse_fsync_in *fsync_in = op;
	struct fuse_node *node = fuse_node_of_fh(fsync_in->fh);
	struct vdisk *disk = fuse_disk_get(node);
	int r = disk ? vdisk_flush(disk) : -EIO;

	fuse_disk_put(ctx->fuse, node, disk);
	fuse_reply_error(ctx, in->unique, r);
}

/* The loop driver turns discard (and unmapping write-zeroes) into
 * PUNCH_HOLE|KEEP_SIZE and write-zeroes into ZERO_RANGE|KEEP_SIZE: those become
 * the disk's punch (a trim where that leaves zeroes) and zero. */
static void fuse_do_fallocate(struct fuse_context *ctx, const struct fuse_in_header *in, const void *op)
{
	const struct fuse_fallocate_in *fallocate_in = op;
	struct fuse_node *node = fuse_node_of_fh(fallocate_in->fh);
	uint32_t mode = fallocate_in->mode;
	uint64_t offset = fallocate_in->offset, len = fallocate_in->length;
	struct vdisk *disk = fuse_disk_get(node);
	int r;

	if (!disk)
		r = -EIO;
	else if (offset > disk->size || len > disk->size - offset)
		r = (mode & FALLOC_FL_KEEP_SIZE) ? -EINVAL : -EFBIG;
	else if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
		r = vdisk_punch(disk, offset, len); /* must read back as zeroes */
	else if ((mode & ~FALLOC_FL_KEEP_SIZE) == FALLOC_FL_ZERO_RANGE)
		r = vdisk_zero(disk, offset, len);
	else if ((mode & ~FALLOC_FL_KEEP_SIZE) == 0)
		r = (disk->flags & VDISK_READ_ONLY) ? -EROFS : 0; /* inside the disk: allocated */
	else
		r = -EOPNOTSUPP;
	fuse_disk_put(ctx->fuse, node, disk);
	fuse_reply_error(ctx, in->unique, r);
}

/* ---- the namespace: one flat directory ---- */

static void fuse_do_lookup(struct fuse_context *ctx, const struct fuse_in_header *in, const char *name)
{
	struct transport_fuse *fuse = ctx->fuse;
	struct fuse_entry_out entry = { 0 };
	struct fuse_node *node;

	if (in->nodeid != FUSE_ROOT_ID) {
		fuse_reply_error(ctx, in->unique, -ENOTDIR);
		return;
	}
	pthread_mutex_lock(&fuse->lock);
	node = fuse_node_by_name(fuse, name);
	if (node) {
		node->lookups++;
		entry.nodeid = node->ino;
		entry.generation = 1;
		entry.entry_valid = entry.attr_valid = FUSE_TRANSPORT_TIMEOUT;
		fuse_node_attr(node, atomic_load(&node->disk), &entry.attr);
	}
	pthread_mutex_unlock(&fuse->lock);
	/* An error, not a zero node id: the kernel keeps no negative entry, so a
	 * disk added later under this name is found at once. */
	if (!node)
		fuse_reply_error(ctx, in->unique, -ENOENT);
	else
		fuse_reply(ctx, in->unique, 0, &entry, sizeof(entry));
}

static void fuse_forget(struct transport_fuse *fuse, uint64_t ino, uint64_t count)
{
	struct fuse_node *node = fuse_node_by_ino(fuse, ino);

	if (!node)
		return;
	node->lookups = count < node->lookups ? node->lookups - count : 0;
	fuse_node_release_if_unused(fuse, node);
}

static void fuse_do_forget(struct fuse_context *ctx, const struct fuse_in_header *in, const void *op)
{
	const struct fuse_forget_in *forget_in = op;

	pthread_mutex_lock(&ctx->fuse->lock);
	fuse_forget(ctx->fuse, in->nodeid, forget_in->nlookup);
	pthread_mutex_unlock(&ctx->fuse->lock);
}

static void fuse_do_batch_forget(struct fuse_context *ctx, const void *op, const void *list, size_t list_len)
{
	const struct fuse_batch_forget_in *batch = op;
	const struct fuse_forget_one *one = list;
	size_t count = batch->count;

	if (count > list_len / sizeof(*one))
		count = list_len / sizeof(*one);
	pthread_mutex_lock(&ctx->fuse->lock);
	for (size_t i = 0; i < count; i++)
		fuse_forget(ctx->fuse, one[i].nodeid, one[i].nlookup);
	pthread_mutex_unlock(&ctx->fuse->lock);
}

static void fuse_do_getattr(struct fuse_context *ctx, const struct fuse_in_header *in)
{
	struct fuse_attr_out attr_out = { .attr_valid = FUSE_TRANSPORT_TIMEOUT };
	int r;

	pthread_mutex_lock(&ctx->fuse->lock);
	r = fuse_attr_of(ctx->fuse, in->nodeid, &attr_out.attr);
	pthread_mutex_unlock(&ctx->fuse->lock);
	if (r < 0)
		fuse_reply_error(ctx, in->unique, r);
	else
		fuse_reply(ctx, in->unique, 0, &attr_out, sizeof(attr_out));
}

/* A disk's size, owner and mode are the daemon's business: only no-op changes
 * (and times, which are not kept) are accepted. */
static void fuse_do_setattr(struct fuse_context *ctx, const struct fuse_in_header *in, const void *op)
{
	const struct fuse_setattr_in *setattr_in = op;
	struct fuse_attr_out attr_out = { .attr_valid = FUSE_TRANSPORT_TIMEOUT };
	struct fuse_attr *attr = &attr_out.attr;
	int r;

	pthread_mutex_lock(&ctx->fuse->lock);
	r = fuse_attr_of(ctx->fuse, in->nodeid, attr);
	pthread_mutex_unlock(&ctx->fuse->lock);
	if (r == 0 && (setattr_in->valid & FATTR_SIZE) && setattr_in->size != attr->size)
		r = -EPERM;
	if (r == 0 && (setattr_in->valid & FATTR_MODE) && (setattr_in->mode & 07777) != (attr->mode & 07777))
		r = -EPERM;
	if (r == 0 && (setattr_in->valid & FATTR_UID) && setattr_in->uid != attr->uid)
		r = -EPERM;
	if (r == 0 && (setattr_in->valid & FATTR_GID) && setattr_in->gid != attr->gid)
		r = -EPERM;
	if (r < 0)
		fuse_reply_error(ctx, in->unique, r);
	else
		fuse_reply(ctx, in->unique, 0, &attr_out, sizeof(attr_out));
}

static void fuse_do_open(struct fuse_context *ctx, const struct fuse_in_header *in, const void *op)
{
	const struct fuse_open_in *open_in = op;
	struct transport_fuse *fuse = ctx->fuse;
	struct fuse_open_out open_out = { .open_flags = fuse->open_flags };
	struct fuse_node *node;
	struct vdisk *disk;
	int r = 0;

	pthread_mutex_lock(&fuse->lock);
	node = fuse_node_by_ino(fuse, in->nodeid);
	disk = node ? atomic_load(&node->disk) : NULL;
	if (in->nodeid == FUSE_ROOT_ID)
		r = -EISDIR;
	else if (!disk)
		r = -ENOENT;
	else if ((open_in->flags & O_ACCMODE) != O_RDONLY && (disk->flags & VDISK_READ_ONLY))
		r = -EROFS;
	if (r == 0) {
		node->opens++;
		open_out.fh = (uint64_t)(uintptr_t)node;
	}
	pthread_mutex_unlock(&fuse->lock);
	if (r < 0)
		fuse_reply_error(ctx, in->unique, r);
	else
		fuse_reply(ctx, in->unique, 0, &open_out, sizeof(open_out));
}

static void fuse_do_release(struct fuse_context *ctx, const struct fuse_in_header *in, const void *op)
{
	const struct fuse_release_in *release_in = op;
	struct fuse_node *node = fuse_node_of_fh(release_in->fh);

	pthread_mutex_lock(&ctx->fuse->lock);
	if (node && node->opens) {
		node->opens--;
		fuse_node_release_if_unused(ctx->fuse, node);
	}
	pthread_mutex_unlock(&ctx->fuse->lock);
	fuse_reply_error(ctx, in->unique, 0);
}

static void fuse_do_opendir(struct fuse_context *ctx, const struct fuse_in_header *in)
{
	struct fuse_open_out open_out = { 0 };

	if (in->nodeid != FUSE_ROOT_ID)
		fuse_reply_error(ctx, in->unique, -ENOTDIR);
	else
		fuse_reply(ctx, in->unique, 0, &open_out, sizeof(open_out));
}

/* Append one entry to a READDIR answer; false when it does not fit. */
static bool fuse_dirent_add(unsigned char *buf, size_t size, size_t *used, uint64_t ino, uint64_t next,
			    uint32_t type, const char *name)
{
	size_t name_len = strlen(name);
	size_t entry_len = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + name_len);
	struct fuse_dirent *dirent = (struct fuse_dirent *)(buf + *used);

	if (entry_len > size - *used)
		return false;
	dirent->ino = ino;
	dirent->off = next;
	dirent->namelen = (uint32_t)name_len;
	dirent->type = type;
	memcpy(dirent->name, name, name_len);
	memset(dirent->name + name_len, 0, entry_len - FUSE_NAME_OFFSET - name_len);
	*used += entry_len;
	return true;
}

/* Offsets: 1 after ".", 2 after "..", ino + 1 after a disk (inodes start at 2
 * and only grow, so an offset stays meaningful while disks come and go). */
static void fuse_do_readdir(struct fuse_context *ctx, const struct fuse_in_header *in, const void *op)
{
	const struct fuse_read_in *read_in = op;
	struct transport_fuse *fuse = ctx->fuse;
	size_t size = read_in->size < ctx->data_size ? read_in->size : ctx->data_size;
	uint64_t offset = read_in->offset;
	size_t used = 0;

	if (in->nodeid != FUSE_ROOT_ID) {
		fuse_reply_error(ctx, in->unique, -ENOTDIR);
		return;
	}
	if (offset < 1 && !fuse_dirent_add(ctx->data, size, &used, FUSE_ROOT_ID, 1, S_IFDIR >> 12, "."))
		goto out;
	if (offset < 2 && !fuse_dirent_add(ctx->data, size, &used, FUSE_ROOT_ID, 2, S_IFDIR >> 12, ".."))
		goto out;
	pthread_mutex_lock(&fuse->lock);
	for (struct fuse_node *node = fuse->nodes; node; node = node->next) {
		if (node->removed || node->ino + 1 <= offset)
			continue;
		if (!fuse_dirent_add(ctx->data, size, &used, node->ino, node->ino + 1, S_IFREG >> 12, node->name))
			break;
	}
	pthread_mutex_unlock(&fuse->lock);
out:
	fuse_reply(ctx, in->unique, 0, ctx->data, used);
}

static void fuse_do_statfs(struct fuse_context *ctx, const struct fuse_in_header *in)
{
	struct fuse_statfs_out statfs_out = { 0 };
	struct fuse_kstatfs *st = &statfs_out.st;
	uint64_t bytes = 0, files = 0;

	pthread_mutex_lock(&ctx->fuse->lock);
	for (struct fuse_node *node = ctx->fuse->nodes; node; node = node->next) {
		struct vdisk *disk = atomic_load(&node->disk);

		if (!node->removed && disk) {
			bytes += disk->size;
			files++;
		}
	}
	pthread_mutex_unlock(&ctx->fuse->lock);
	/* The loop driver takes its discard granularity from f_bsize. */
	st->bsize = st->frsize = 4096;
	st->blocks = bytes / 4096;
	st->files = files;
	st->namelen = NAME_MAX;
	fuse_reply(ctx, in->unique, 0, &statfs_out, sizeof(statfs_out));
}

static void fuse_do_access(struct fuse_context *ctx, const struct fuse_in_header *in, const void *op)
{
	const struct fuse_access_in *access_in = op;
	struct fuse_attr attr;
	int r;

	pthread_mutex_lock(&ctx->fuse->lock);
	r = fuse_attr_of(ctx->fuse, in->nodeid, &attr);
	pthread_mutex_unlock(&ctx->fuse->lock);
	if (r == 0 && (access_in->mask & W_OK) && S_ISREG(attr.mode) && !(attr.mode & 0200))
		r = -EROFS;
	if (r == 0 && in->uid != 0)
		r = -EACCES; /* everything here belongs to root, mode 0600 or 0400 */
	fuse_reply_error(ctx, in->unique, r);
}

/* One request, whichever way it came: `op` is the opcode's fixed argument (a
 * fuse_read_in...), `payload` what follows it (WRITE data, a LOOKUP name, the
 * BATCH_FORGET list). */
static void fuse_dispatch(struct fuse_context *ctx, const struct fuse_in_header *in, const void *op,
			  const void *payload, size_t payload_len)
{
	ctx->answered = false;
	switch (in->opcode) {
	case FUSE_READ:
		fuse_do_read(ctx, in, op);
		break;
	case FUSE_WRITE:
		fuse_do_write(ctx, in, op, payload, payload_len);
		break;
	case FUSE_FSYNC:
		fuse_do_fsync(ctx, in, op);
		break;
	case FUSE_FALLOCATE:
		fuse_do_fallocate(ctx, in, op);
		break;
	case FUSE_LOOKUP:
		if (payload_len < 2 || ((const char *)payload)[payload_len - 1] != '\0')
			fuse_reply_error(ctx, in->unique, -EINVAL);
		else
			fuse_do_lookup(ctx, in, payload);
		break;
	case FUSE_FORGET: /* no answer */
		fuse_do_forget(ctx, in, op);
		break;
	case FUSE_BATCH_FORGET: /* no answer */
		fuse_do_batch_forget(ctx, op, payload, payload_len);
		break;
	case FUSE_GETATTR:
		fuse_do_getattr(ctx, in);
		break;
	case FUSE_SETATTR:
		fuse_do_setattr(ctx, in, op);
		break;
	case FUSE_OPEN:
		fuse_do_open(ctx, in, op);
		break;
	case FUSE_RELEASE:
		fuse_do_release(ctx, in, op);
		break;
	case FUSE_FLUSH: /* close(), not a cache flush: FSYNC is that */
	case FUSE_RELEASEDIR:
	case FUSE_FSYNCDIR:
	case FUSE_DESTROY:
		fuse_reply_error(ctx, in->unique, 0);
		break;
	case FUSE_OPENDIR:
		fuse_do_opendir(ctx, in);
		break;
	case FUSE_READDIR:
		fuse_do_readdir(ctx, in, op);
		break;
	case FUSE_STATFS:
		fuse_do_statfs(ctx, in);
		break;
	case FUSE_ACCESS:
		fuse_do_access(ctx, in, op);
		break;
	case FUSE_INTERRUPT: /* requests here finish quickly: no answer, nothing to stop */
		break;
	default:
		fuse_reply_error(ctx, in->unique, -ENOSYS);
		break;
	}
}

/* ---- INIT ---- */

/* Once we accept io_uring, the kernel holds every request until our buffers are
 * registered: accept it only if this process can make the rings it needs
 * (io_uring may be disabled by kernel.io_uring_disabled or a seccomp policy). */
static bool fuse_uring_usable(void)
{
	struct io_uring probe;

	if (io_uring_queue_init(2, &probe, IORING_SETUP_SQE128) < 0)
		return false;
	io_uring_queue_exit(&probe);
	return true;
}

static int fuse_init_reply(struct transport_fuse *fuse, const struct fuse_in_header *in, const void *arg,
			   size_t arg_len)
{
	const struct fuse_init_in *init_in = arg;
	struct fuse_init_out init_out = { .major = FUSE_KERNEL_VERSION };
	struct fuse_out_header out = { .unique = in->unique };
	struct iovec iov[2] = {
		{ .iov_base = &out, .iov_len = sizeof(out) },
		{ .iov_base = &init_out, .iov_len = sizeof(init_out) },
	};
	uint32_t wanted = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES | FUSE_PARALLEL_DIROPS |
			  FUSE_ASYNC_DIO | FUSE_INIT_EXT;

	if (arg_len < 16 || init_in->major != FUSE_KERNEL_VERSION ||
	    init_in->minor < FUSE_TRANSPORT_MIN_MINOR) {
		/* A newer major is answered with ours (the kernel then retries);
		 * anything else we cannot serve. */
		out.error = -EPROTO;
		fuse_send(fuse->fd, iov, 1);
		return -EPROTO;
	}
	fuse->proto_minor = init_in->minor < FUSE_KERNEL_MINOR_VERSION ? init_in->minor : FUSE_KERNEL_MINOR_VERSION;
	init_out.minor = fuse->proto_minor;
	init_out.max_readahead = init_in->max_readahead;
	init_out.flags = init_in->flags & wanted;
	/* The kernel offers io_uring only when root enabled it (enable_uring). */
	if ((init_in->flags & FUSE_INIT_EXT) && arg_len >= sizeof(*init_in) &&
	    (init_in->flags2 & FUSE_TRANSPORT_OVER_IO_URING) && fuse_uring_usable()) {
		init_out.flags2 = FUSE_TRANSPORT_OVER_IO_URING;
		fuse->use_uring = true;
	}
	init_out.max_background = FUSE_TRANSPORT_MAX_BACKGROUND;
	init_out.congestion_threshold = FUSE_TRANSPORT_MAX_BACKGROUND * 3 / 4;
	init_out.max_write = (uint32_t)fuse->max_write;
	init_out.time_gran = 1;
	init_out.max_pages = FUSE_TRANSPORT_MAX_PAGES;
	/* A direct-I/O file bypasses the page cache: loop's requests become FUSE
	 * requests one for one.  Parallel direct writes (7.38) lift the kernel's
	 * per-inode write lock, which would otherwise serialize every write. */
	fuse->open_flags = FOPEN_DIRECT_IO;
	if (fuse->proto_minor >= 38)
		fuse->open_flags |= FOPEN_PARALLEL_DIRECT_WRITES;
	return fuse_send(fuse->fd, iov, 2);
}

/* ---- /dev/fuse workers ---- */

/* Size of the fixed argument in front of a request's payload, on /dev/fuse. */
static size_t fuse_op_size(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_READ:
	case FUSE_READDIR:
		return sizeof(struct fuse_read_in);
	case FUSE_WRITE:
		return sizeof(struct fuse_write_in);
	case FUSE_FSYNC:
		return sizeof(struct fuse_fsync_in);
	case FUSE_FALLOCATE:
		return sizeof(struct fuse_fallocate_in);
	case FUSE_FORGET:
		return sizeof(struct fuse_forget_in);
	case FUSE_BATCH_FORGET:
		return sizeof(struct fuse_batch_forget_in);
	case FUSE_SETATTR:
		return sizeof(struct fuse_setattr_in);
	case FUSE_OPEN:
		return sizeof(struct fuse_open_in);
	case FUSE_RELEASE:
		return sizeof(struct fuse_release_in);
	case FUSE_ACCESS:
		return sizeof(struct fuse_access_in);
	default:
		return 0; /* none, or not looked at */
	}
}

static void fuse_worker_request(struct fuse_worker *w, size_t len)
{
	const struct fuse_in_header *in = (const void *)w->request;
	const unsigned char *op = (const unsigned char *)(in + 1);
	size_t arg_len = len - sizeof(*in);
	size_t op_len = fuse_op_size(in->opcode);

	if (arg_len < op_len) {
		if (in->opcode != FUSE_FORGET && in->opcode != FUSE_BATCH_FORGET && in->opcode != FUSE_INTERRUPT)
			fuse_reply_error(&w->ctx, in->unique, -EINVAL);
		return;
	}
	fuse_dispatch(&w->ctx, in, op, op + op_len, arg_len - op_len);
}

/* Cancellation (from stop) is only allowed while waiting in read(): a request
 * being served always gets its answer. */
static void *fuse_worker_main(void *opaque)
{
	struct fuse_worker *w = opaque;
	ssize_t n;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (;;) {
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		n = read(w->ctx.fd, w->request, w->request_size);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (n < 0) {
			/* ENOENT: the request was interrupted before we read it. */
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			break; /* ENODEV: unmounted or aborted */
		}
		if ((size_t)n >= sizeof(struct fuse_in_header))
			fuse_worker_request(w, (size_t)n);
	}
	return NULL;
}

/* One mapping per worker: a page of room in front so that a WRITE payload,
 * which follows fuse_in_header + fuse_write_in, starts on a page boundary (what
 * an O_DIRECT backend needs), and the same page-aligned area for READ data. */
static int fuse_worker_buffer(struct fuse_worker *w, size_t page_size, size_t max_write)
{
	size_t lead = sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in);

	w->map_size = page_size + max_write + page_size;
	w->map = mmap(NULL, w->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->map == MAP_FAILED) {
		w->map = NULL;
		return -ENOMEM;
	}
	w->request = w->map + page_size - lead;
	w->request_size = w->map_size - (page_size - lead);
	w->ctx.data = w->map + page_size;
	w->ctx.data_size = max_write + page_size;
	return 0;
}

/* ---- io_uring workers ---- */

static struct io_uring_sqe *fuse_ring_sqe(struct fuse_ring_worker *rw)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rw->ring);

	/* The ring has room for every entry's one command and the stop poll. */
	if (!sqe) {
		io_uring_submit(&rw->ring);
		sqe = io_uring_get_sqe(&rw->ring);
	}
	if (sqe)
		memset(sqe, 0, 2 * sizeof(*sqe)); /* a 128-byte SQE */
	return sqe;
}

static int fuse_ring_command(struct fuse_ring_worker *rw, unsigned entry, uint32_t cmd_op, uint64_t commit_id)
{
	struct io_uring_sqe *sqe = fuse_ring_sqe(rw);
	struct fuse_transport_uring_cmd *cmd;

	if (!sqe)
		return -EBUSY;
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = rw->fuse->fd;
	sqe->cmd_op = cmd_op;
	sqe->user_data = entry;
	if (cmd_op == FUSE_TRANSPORT_URING_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)rw->entries[entry].iov;
		sqe->len = 2;
	}
	cmd = (struct fuse_transport_uring_cmd *)sqe->cmd;
	cmd->commit_id = commit_id;
	cmd->qid = rw->entries[entry].qid;
	return 0;
}

/* The answer goes into the entry's buffers; the commit (which also fetches the
 * entry's next request) is submitted with the rest of the batch. */
static void fuse_ring_commit(struct fuse_context *ctx, uint64_t unique, int error, const void *arg, size_t len)
{
	struct fuse_ring_worker *rw = ctx->ring;
	struct fuse_ring_entry *e = &rw->entries[ctx->entry];
	struct fuse_out_header out = { .error = error, .unique = unique };

	if (error || len > ctx->data_size)
		len = 0;
	if (len && arg != e->payload)
		memcpy(e->payload, arg, len);
	out.len = (uint32_t)(sizeof(out) + len);
	memcpy(e->header->in_out, &out, sizeof(out));
	e->header->ent_in_out.payload_sz = (uint32_t)len;
	fuse_ring_command(rw, ctx->entry, FUSE_TRANSPORT_URING_COMMIT_AND_FETCH, e->header->ent_in_out.commit_id);
}

/* Where the request in `entry` is answered: its own payload buffer. */
static struct fuse_context fuse_ring_context(struct fuse_ring_worker *rw, unsigned entry)
{
	return (struct fuse_context){
		.fuse = rw->fuse,
		.data = rw->entries[entry].payload,
		.data_size = rw->entries[entry].iov[1].iov_len,
		.fd = -1,
		.ring = rw,
		.entry = entry,
	};
}

/* Serve the request in `entry`; returns the bytes it moved. */
static size_t fuse_ring_request(struct fuse_ring_worker *rw, unsigned entry)
{
	struct fuse_ring_entry *e = &rw->entries[entry];
	struct fuse_in_header in;
	struct fuse_context ctx = fuse_ring_context(rw, entry);
	size_t payload_len = e->header->ent_in_out.payload_sz;

	memcpy(&in, e->header->in_out, sizeof(in));
	if (payload_len > ctx.data_size)
		payload_len = ctx.data_size;
	/* Names travel in the payload (the kernel gives name requests an empty
	 * fixed argument); should one come as the fixed argument, take it there. */
	if (in.opcode == FUSE_LOOKUP && payload_len == 0) {
		fuse_dispatch(&ctx, &in, NULL, e->header->op_in,
			      strnlen((const char *)e->header->op_in, sizeof(e->header->op_in) - 1) + 1);
	} else {
		fuse_dispatch(&ctx, &in, e->header->op_in, e->payload, payload_len);
	}
	/* Every request on a ring is answered, or its buffer is lost. */
	if (!ctx.answered)
		fuse_reply_error(&ctx, in.unique, -ENOSYS);
	return payload_len + e->header->ent_in_out.payload_sz;
}

static int fuse_ring_arm_wake(struct fuse_ring_worker *rw)
{
	struct io_uring_sqe *sqe = fuse_ring_sqe(rw);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, rw->wake_fd, &rw->wake_count, sizeof(rw->wake_count), 0);
	sqe->user_data = FUSE_TRANSPORT_RING_WAKE;
	return 0;
}

static int fuse_ring_setup(struct fuse_ring_worker *rw)
{
	struct transport_fuse *fuse = rw->fuse;
	size_t payload_size = fuse->max_write;
	struct io_uring_params params = {
		.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	};
	unsigned depth = 2 * rw->entry_count + 4;
	struct io_uring_sqe *sqe;
	unsigned char *headers;
	int r;

	rw->entries = calloc(rw->entry_count, sizeof(*rw->entries));
	if (!rw->entries)
		return -ENOMEM;
	rw->map_size = rw->entry_count * (payload_size + sizeof(struct fuse_transport_uring_header));
	rw->map = mmap(NULL, rw->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rw->map == MAP_FAILED) {
		rw->map = NULL;
		return -ENOMEM;
	}
	/* Page-aligned payloads: WRITE data is ready for an O_DIRECT backend. */
	headers = rw->map + rw->entry_count * payload_size;
	for (unsigned i = 0; i < rw->entry_count; i++) {
		struct fuse_ring_entry *e = &rw->entries[i];

		e->payload = rw->map + i * payload_size;
		e->header = (struct fuse_transport_uring_header *)(headers + i * sizeof(*e->header));
		e->iov[0] = (struct iovec){ e->header, sizeof(*e->header) };
		e->iov[1] = (struct iovec){ e->payload, payload_size };
		e->qid = (uint16_t)(i / rw->depth);
	}

	/* Deferred task work runs only when this thread asks for completions,
	 * so requests arrive in batches; older kernels lack it. */
	r = io_uring_queue_init_params(depth, &rw->ring, &params);
	if (r == -EINVAL) {
		params = (struct io_uring_params){ .flags = IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN };
		r = io_uring_queue_init_params(depth, &rw->ring, &params);
	}
	if (r < 0)
		return r;
	rw->ring_ready = true;
	for (unsigned i = 0; i < rw->entry_count; i++) {
		r = fuse_ring_command(rw, i, FUSE_TRANSPORT_URING_REGISTER, 0);
		if (r < 0)
			return r;
	}
	sqe = fuse_ring_sqe(rw);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fuse->stop_fd, POLLIN);
	sqe->user_data = FUSE_TRANSPORT_RING_STOP;
	r = fuse_ring_arm_wake(rw);
	if (r < 0)
		return r;
	r = io_uring_submit(&rw->ring);
	return r < 0 ? r : 0;
}

/* Commit the reads that other threads finished for this worker's entries. */
static void fuse_ring_commit_finished(struct fuse_ring_worker *rw)
{
	struct fuse_async_read *read, *next;

	pthread_mutex_lock(&rw->finished_lock);
	read = rw->finished;
	rw->finished = NULL;
	pthread_mutex_unlock(&rw->finished_lock);
	for (; read; read = next) {
		struct fuse_context ctx = fuse_ring_context(rw, read->entry);

		next = read->next;
		fuse_reply(&ctx, read->unique, read->result, ctx.data, read->len);
		free(read);
	}
}

static void *fuse_ring_main(void *opaque)
{
	struct fuse_ring_worker *rw = opaque;
	struct io_uring_cqe *cqe;
	bool stop = false;
	unsigned head, seen, live = rw->entry_count;
	int r;

	r = fuse_ring_setup(rw);
	pthread_mutex_lock(&rw->fuse->lock);
	rw->setup_result = r;
	rw->setup_done = true;
	pthread_cond_broadcast(&rw->fuse->drained);
	pthread_mutex_unlock(&rw->fuse->lock);
	if (r < 0)
		return NULL;

	while (!stop && live) {
		r = io_uring_submit_and_wait(&rw->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			break;
		seen = 0;
		io_uring_for_each_cqe(&rw->ring, head, cqe) {
			seen++;
			if (cqe->user_data == FUSE_TRANSPORT_RING_STOP)
				stop = true;
			else if (cqe->user_data == FUSE_TRANSPORT_RING_WAKE) {
				fuse_ring_commit_finished(rw);
				/* Without this read, finished reads would wait for
				 * the stop: keep it armed unless the ring is closing. */
				if (cqe->res != -ECANCELED && fuse_ring_arm_wake(rw) < 0)
					stop = true;
			}
			else if (cqe->res == -ENOTCONN || cqe->res == -ECONNABORTED || cqe->res == -ECANCELED)
				stop = true; /* the connection is gone */
			else if (cqe->res < 0)
				live--; /* that buffer is out of the game; the others go on */
			else if (cqe->user_data < rw->entry_count &&
				 fuse_ring_request(rw, (unsigned)cqe->user_data) >= FUSE_TRANSPORT_RING_FLUSH_BYTES)
				io_uring_submit(&rw->ring);
		}
		io_uring_cq_advance(&rw->ring, seen);
	}
	/* Answers still queued go out before the ring closes. */
	fuse_ring_commit_finished(rw);
	io_uring_submit(&rw->ring);
	return NULL;
}

/* The kernel has one queue per possible CPU and hands a request to the queue of
 * the CPU it was issued on; it starts using io_uring only when every queue has
 * a buffer registered. */
static unsigned fuse_possible_cpus(void)
{
	unsigned count = 0, first, last;
	char list[256], *p = list;
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");

	if (!f)
		return 0;
	if (!fgets(list, sizeof(list), f))
		list[0] = '\0';
	fclose(f);
	while (*p && *p != '\n') {
		int n = 0;

		if (sscanf(p, "%u-%u%n", &first, &last, &n) == 2 && n > 0)
			count = last + 1;
		else if (sscanf(p, "%u%n", &first, &n) == 1 && n > 0)
			count = first + 1;
		else
			return 0;
		p += n;
		if (*p == ',')
			p++;
	}
	return count;
}

static int fuse_start_rings(struct transport_fuse *fuse, unsigned workers)
{
	unsigned queues = fuse_possible_cpus(), depth;
	int r = 0;

	if (queues == 0 || queues > UINT16_MAX)
		return -EINVAL;
	depth = FUSE_TRANSPORT_RING_BUFFERS / queues / workers;
	depth = depth < 1 ? 1 : depth > FUSE_TRANSPORT_RING_DEPTH ? FUSE_TRANSPORT_RING_DEPTH : depth;
	fuse->queue_count = queues;
	fuse->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fuse->stop_fd < 0)
		return -errno;
	fuse->rings = calloc(workers, sizeof(*fuse->rings));
	if (!fuse->rings)
		return -ENOMEM;
	fuse->ring_count = workers;
	for (unsigned i = 0; i < workers; i++) {
		fuse->rings[i].wake_fd = -1;
		pthread_mutex_init(&fuse->rings[i].finished_lock, NULL);
	}
	for (unsigned i = 0; i < workers; i++) {
		struct fuse_ring_worker *rw = &fuse->rings[i];
		char name[16];

		rw->fuse = fuse;
		rw->depth = depth;
		rw->entry_count = queues * depth;
		rw->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (rw->wake_fd < 0)
			return -errno;
		r = -pthread_create(&rw->thread, NULL, fuse_ring_main, rw);
		if (r < 0)
			return r;
		rw->running = true;
		snprintf(name, sizeof(name), "imdisk-fuser%u", i % 100);
		pthread_setname_np(rw->thread, name);
	}
	/* Wait for every worker to be registered (or to fail). */
	pthread_mutex_lock(&fuse->lock);
	for (unsigned i = 0; i < workers; i++) {
		while (!fuse->rings[i].setup_done)
			pthread_cond_wait(&fuse->drained, &fuse->lock);
		if (fuse->rings[i].setup_result < 0 && r == 0)
			r = fuse->rings[i].setup_result;
	}
	pthread_mutex_unlock(&fuse->lock);
	return r;
}

static void fuse_stop_rings(struct transport_fuse *fuse)
{
	uint64_t one = 1;

	if (fuse->stop_fd >= 0 && write(fuse->stop_fd, &one, sizeof(one)) < 0) {
		/* cannot fail on an eventfd that was never written */
	}
	for (unsigned i = 0; i < fuse->ring_count; i++) {
		struct fuse_ring_worker *rw = &fuse->rings[i];

		if (rw->running) {
			pthread_join(rw->thread, NULL);
			rw->running = false;
		}
		if (rw->ring_ready)
			io_uring_queue_exit(&rw->ring);
		if (rw->map)
			munmap(rw->map, rw->map_size);
		free(rw->entries);
		if (rw->wake_fd >= 0)
			close(rw->wake_fd);
		pthread_mutex_destroy(&rw->finished_lock);
	}
	free(fuse->rings);
	fuse->rings = NULL;
	fuse->ring_count = 0;
	if (fuse->stop_fd >= 0)
		close(fuse->stop_fd);
	fuse->stop_fd = -1;
}

/* ---- start and stop ---- */

static int fuse_clone_fd(int session_fd)
{
	uint32_t master = (uint32_t)session_fd;
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, FUSE_DEV_IOC_CLONE, &master) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static int fuse_mount(struct transport_fuse *fuse)
{
	char options[128];

	/* default_permissions: the kernel checks the 0600/0400 modes itself. */
	snprintf(options, sizeof(options),
		 "fd=%d,rootmode=%o,user_id=0,group_id=0,allow_other,default_permissions", fuse->fd,
		 (unsigned)FUSE_TRANSPORT_ROOT_MODE & S_IFMT);
	if (mount("imdisk", fuse->mountpoint, "fuse.imdisk", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) < 0)
		return -errno;
	fuse->mounted = true;
	return 0;
}

/* The kernel queues INIT at mount time and holds every other request until it
 * is answered, so the first thing on the descriptor is INIT. */
static int fuse_handshake(struct transport_fuse *fuse, struct fuse_worker *w)
{
	const struct fuse_in_header *in = (const void *)w->request;
	ssize_t n;

	for (;;) {
		n = read(fuse->fd, w->request, w->request_size);
		if (n < 0 && (errno == EINTR || errno == ENOENT))
			continue;
		if (n < 0)
			return -errno;
		if ((size_t)n < sizeof(*in))
			return -EPROTO;
		if (in->opcode == FUSE_INIT)
			return fuse_init_reply(fuse, in, in + 1, (size_t)n - sizeof(*in));
		w->ctx.fd = fuse->fd;
		fuse_reply_error(&w->ctx, in->unique, -EIO);
		w->ctx.fd = -1;
	}
}

static void fuse_stop_workers(struct transport_fuse *fuse)
{
	for (unsigned i = 0; i < fuse->worker_count; i++) {
		struct fuse_worker *w = &fuse->workers[i];

		if (w->running) {
			pthread_cancel(w->thread);
			pthread_join(w->thread, NULL);
			w->running = false;
		}
	}
}

void transport_fuse_stop(struct transport_fuse *fuse)
{
	struct fuse_node *node, *next;

	if (!fuse)
		return;
	/* Detach first, while the workers still answer whatever unmounting asks;
	 * closing the last descriptor then aborts the connection, so anything
	 * still holding a file (a loop device) gets errors, not a hang. */
	if (fuse->mounted)
		umount2(fuse->mountpoint, MNT_DETACH);
	fuse_stop_rings(fuse);
	fuse_stop_workers(fuse);
	for (unsigned i = 0; fuse->workers && i < fuse->worker_count; i++) {
		struct fuse_worker *w = &fuse->workers[i];

		if (w->ctx.fd >= 0)
			close(w->ctx.fd);
		if (w->map)
			munmap(w->map, w->map_size);
	}
	if (fuse->fd >= 0)
		close(fuse->fd);
	for (node = fuse->nodes; node; node = next) {
		next = node->next;
		fuse_node_free(node);
	}
	pthread_cond_destroy(&fuse->drained);
	pthread_mutex_destroy(&fuse->lock);
	free(fuse->workers);
	free(fuse->mountpoint);
	free(fuse);
}

int transport_fuse_start(const char *mountpoint, unsigned workers, struct transport_fuse **out)
{
	struct transport_fuse *fuse;
	sigset_t all, old;
	long page_size = sysconf(_SC_PAGESIZE);
	int r;

	*out = NULL;
	if (!mountpoint || !*mountpoint)
		return -EINVAL;
	if (workers == 0)
		workers = 2;
	fuse = calloc(1, sizeof(*fuse));
	if (!fuse)
		return -ENOMEM;
	fuse->fd = -1;
	fuse->stop_fd = -1;
	fuse->page_size = page_size > 0 ? (size_t)page_size : 4096;
	fuse->max_write = FUSE_TRANSPORT_MAX_PAGES * fuse->page_size;
	fuse->next_ino = FUSE_ROOT_ID + 1;
	clock_gettime(CLOCK_REALTIME, &fuse->started);
	pthread_mutex_init(&fuse->lock, NULL);
	pthread_cond_init(&fuse->drained, NULL);
	fuse->worker_count = workers;
	fuse->workers = calloc(workers, sizeof(*fuse->workers));
	fuse->mountpoint = strdup(mountpoint);
	if (!fuse->workers || !fuse->mountpoint) {
		r = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < workers; i++) {
		fuse->workers[i].ctx.fuse = fuse;
		fuse->workers[i].ctx.fd = -1;
		r = fuse_worker_buffer(&fuse->workers[i], fuse->page_size, fuse->max_write);
		if (r < 0)
			goto fail;
	}

	fuse->fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse->fd < 0) {
		r = -errno;
		goto fail;
	}
	r = fuse_mount(fuse);
	if (r < 0)
		goto fail;
	/* The first worker's buffer serves the handshake. */
	r = fuse_handshake(fuse, &fuse->workers[0]);
	if (r < 0)
		goto fail;
	/* With io_uring, /dev/fuse only carries FORGET and INTERRUPT: one worker. */
	if (fuse->use_uring) {
		for (unsigned i = 1; i < workers; i++) {
			munmap(fuse->workers[i].map, fuse->workers[i].map_size);
			fuse->workers[i].map = NULL;
		}
		fuse->worker_count = 1;
	}
	for (unsigned i = 0; i < fuse->worker_count; i++) {
		r = fuse_clone_fd(fuse->fd);
		if (r < 0)
			goto fail;
		fuse->workers[i].ctx.fd = r;
	}

	/* Our threads take no signals: those are the caller's to handle. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < fuse->worker_count; i++) {
		struct fuse_worker *w = &fuse->workers[i];
		char name[16];

		r = -pthread_create(&w->thread, NULL, fuse_worker_main, w);
		if (r < 0)
			break;
		w->running = true;
		snprintf(name, sizeof(name), "imdisk-fuse%u", i % 1000);
		pthread_setname_np(w->thread, name);
	}
	if (r == 0 && fuse->use_uring)
		r = fuse_start_rings(fuse, workers);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto fail;
	*out = fuse;
	return 0;
fail:
	transport_fuse_stop(fuse);
	return r;
}

/* ---- publishing ---- */

static bool fuse_name_valid(const char *name)
{
	size_t len = name ? strlen(name) : 0;

	return len > 0 && len <= NAME_MAX && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

int transport_fuse_add(struct transport_fuse *fuse, const char *name, struct vdisk *disk, char *path,
		       size_t path_size)
{
	struct fuse_node *node, **link;
	size_t name_len;
	int len;

	if (!fuse || !disk || !fuse_name_valid(name))
		return -EINVAL;
	name_len = strlen(name);
	len = snprintf(path, path_size, "%s/%s", fuse->mountpoint, name);
	if (len < 0 || (size_t)len >= path_size)
		return -ENAMETOOLONG;
	node = calloc(1, sizeof(*node) + name_len + 1);
	if (!node)
		return -ENOMEM;
	memcpy(node->name, name, name_len + 1);
	atomic_init(&node->disk, disk);
	atomic_init(&node->inflight, 0);
	pthread_mutex_init(&node->serial, NULL);
	clock_gettime(CLOCK_REALTIME, &node->added);

	pthread_mutex_lock(&fuse->lock);
	if (fuse_node_by_name(fuse, name)) {
		pthread_mutex_unlock(&fuse->lock);
		fuse_node_free(node);
		return -EEXIST;
	}
	node->ino = fuse->next_ino++;
	/* Keep the list in inode order: READDIR offsets depend on it. */
	for (link = &fuse->nodes; *link; link = &(*link)->next)
		;
	*link = node;
	pthread_mutex_unlock(&fuse->lock);
	return 0;
}

static int fuse_notify(struct transport_fuse *fuse, int code, const void *arg, size_t len, const char *name)
{
	struct fuse_out_header out = { .error = code };
	struct iovec iov[3] = {
		{ .iov_base = &out, .iov_len = sizeof(out) },
		{ .iov_base = (void *)arg, .iov_len = len },
		{ .iov_base = (void *)name, .iov_len = name ? strlen(name) + 1 : 0 },
	};

	return fuse_send(fuse->fd, iov, name ? 3 : 2);
}

int transport_fuse_remove(struct transport_fuse *fuse, const char *name)
{
	struct fuse_notify_inval_entry_out inval = { .parent = FUSE_ROOT_ID };
	struct fuse_node *node;

	if (!fuse || !name)
		return -EINVAL;
	pthread_mutex_lock(&fuse->lock);
	node = fuse_node_by_name(fuse, name);
	if (!node) {
		pthread_mutex_unlock(&fuse->lock);
		return -ENOENT;
	}
	node->removed = true;
	atomic_store(&node->disk, NULL);
	while (atomic_load(&node->inflight))
		pthread_cond_wait(&fuse->drained, &fuse->lock);
	/* The node itself stays until the kernel lets go of it. */
	inval.namelen = (uint32_t)strlen(name);
	fuse_node_release_if_unused(fuse, node);
	pthread_mutex_unlock(&fuse->lock);
	/* Outside the lock: the kernel takes the directory's lock for this, and a
	 * LOOKUP holding it may be waiting for ours.  A failure only means the
	 * name lingers in the dentry cache until looked up again (ENOENT then). */
	fuse_notify(fuse, FUSE_NOTIFY_INVAL_ENTRY, &inval, sizeof(inval), name);
	return 0;
}

int transport_fuse_resized(struct transport_fuse *fuse, const char *name)
{
	struct fuse_notify_inval_inode_out inval = { .off = 0, .len = 0 };
	struct fuse_node *node;
	char path[PATH_MAX];
	struct stat st;
	int r;

	if (!fuse || !name)
		return -EINVAL;
	pthread_mutex_lock(&fuse->lock);
	node = fuse_node_by_name(fuse, name);
	if (node)
		inval.ino = node->ino;
	pthread_mutex_unlock(&fuse->lock);
	if (!node)
		return -ENOENT;
	r = fuse_notify(fuse, FUSE_NOTIFY_INVAL_INODE, &inval, sizeof(inval), NULL);
	/* ENOENT: the kernel has no inode for it (never looked up): nothing cached. */
	if (r < 0 && r != -ENOENT)
		return r;
	/* The loop driver reads the inode's cached size on LOOP_SET_CAPACITY; the
	 * notification only marks it stale, a stat() fetches the new one. */
	if (snprintf(path, sizeof(path), "%s/%s", fuse->mountpoint, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) < 0)
		return -errno;
	return 0;
}
