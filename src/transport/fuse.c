/* The FUSE transport: every published disk is a regular file in a private FUSE
 * mount, and the kernel loop driver (direct I/O) on that file is the block device.
 *
 * We speak the kernel protocol (linux/fuse.h) on /dev/fuse ourselves instead of
 * running libfuse's session loop: on this project's test machine libfuse 3.14's
 * request loop topped out at 61-79k IOPS (4k random reads, queue depth 32, loop
 * with direct I/O on top) while a bare request loop like this one reaches more
 * than twice that; its loop, not FUSE, was the limit (docs/performance.md).
 *
 * Shape of the fast path: N workers, each with its own clone of the session
 * descriptor (FUSE_DEV_IOC_CLONE) and its own buffer.  A worker read()s one
 * request, calls the disk straight into / out of that buffer (WRITE data is
 * laid out to start page aligned; READ data is produced in place) and answers
 * with one writev() of header + data.  No locks on the I/O path: the open file
 * handle is the node itself, and a per-node in-flight count lets remove() wait
 * for requests on a disk without stopping the others.
 */
#include "transport/fuse.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif

/* 256 pages (1 MiB on 4 KiB pages) per request: the kernel's default
 * fs.fuse.max_pages_limit, and what lets a 1 MiB loop request travel as one
 * FUSE request. */
#define FUSE_TRANSPORT_MAX_PAGES 256u

/* Requests the kernel may keep in flight for asynchronous direct I/O (the loop
 * driver's path).  The kernel default is 12, far below the queue depths a
 * block device sees. */
#define FUSE_TRANSPORT_MAX_BACKGROUND 512u

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

struct fuse_worker {
	struct transport_fuse *fuse;
	pthread_t thread;
	bool running;
	int fd;                   /* clone of the session descriptor */
	unsigned char *map;       /* the buffer mapping */
	size_t map_size;
	unsigned char *request;   /* where read() puts a request */
	size_t request_size;
	unsigned char *data;      /* page aligned: WRITE payloads and READ replies */
	size_t data_size;
};

struct transport_fuse {
	int fd; /* the session descriptor (INIT and notifications) */
	char *mountpoint;
	bool mounted;
	size_t page_size;
	size_t max_write;
	uint32_t proto_minor;
	uint32_t open_flags; /* FOPEN_* for disk files */

	pthread_mutex_t lock;
	pthread_cond_t drained; /* a removed disk's last request finished */
	struct fuse_node *nodes;
	uint64_t next_ino;

	unsigned worker_count;
	struct fuse_worker *workers;
};

/* ---- replies ---- */

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

static void fuse_reply(struct fuse_worker *w, uint64_t unique, int error, const void *arg, size_t len)
{
	struct fuse_out_header out = { .error = error, .unique = unique };
	struct iovec iov[2] = {
		{ .iov_base = &out, .iov_len = sizeof(out) },
		{ .iov_base = (void *)arg, .iov_len = len },
	};

	fuse_send(w->fd, iov, error || !len ? 1 : 2);
}

static void fuse_reply_error(struct fuse_worker *w, uint64_t unique, int error)
{
	fuse_reply(w, unique, error, NULL, 0);
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

static void fuse_root_attr(struct fuse_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	attr->ino = FUSE_ROOT_ID;
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
		fuse_root_attr(attr);
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

static void fuse_do_read(struct fuse_worker *w, const struct fuse_in_header *in, const void *arg)
{
	const struct fuse_read_in *read_in = arg;
	struct fuse_node *node = fuse_node_of_fh(read_in->fh);
	struct fuse_out_header out = { .unique = in->unique };
	struct iovec iov[2] = { { .iov_base = &out, .iov_len = sizeof(out) } };
	struct vdisk *disk = fuse_disk_get(node);
	size_t len = read_in->size;
	int r = 0;

	if (!disk) {
		r = -EIO;
	} else if (len > w->data_size) {
		r = -EINVAL;
	} else {
		/* A file read past the end is short, not an error. */
		if (read_in->offset >= disk->size)
			len = 0;
		else if (len > disk->size - read_in->offset)
			len = (size_t)(disk->size - read_in->offset);
		r = vdisk_read(disk, w->data, len, read_in->offset);
	}
	fuse_disk_put(w->fuse, node, disk);
	if (r < 0) {
		out.error = r;
		fuse_send(w->fd, iov, 1);
		return;
	}
	iov[1].iov_base = w->data;
	iov[1].iov_len = len;
	fuse_send(w->fd, iov, len ? 2 : 1);
}

static void fuse_do_write(struct fuse_worker *w, const struct fuse_in_header *in, const void *arg,
			  size_t arg_len)
{
	const struct fuse_write_in *write_in = arg;
	struct fuse_node *node = fuse_node_of_fh(write_in->fh);
	struct fuse_write_out write_out = { .size = write_in->size };
	struct vdisk *disk;
	int r;

	if (arg_len < sizeof(*write_in) || write_in->size > arg_len - sizeof(*write_in)) {
		fuse_reply_error(w, in->unique, -EINVAL);
		return;
	}
	disk = fuse_disk_get(node);
	if (!disk)
		r = -EIO;
	else if (write_in->offset > disk->size || write_in->size > disk->size - write_in->offset)
		r = -ENOSPC; /* a disk does not grow by writing past its end */
	else
		r = vdisk_write(disk, (const unsigned char *)arg + sizeof(*write_in), write_in->size,
				write_in->offset);
	fuse_disk_put(w->fuse, node, disk);
	if (r < 0)
		fuse_reply_error(w, in->unique, r);
	else
		fuse_reply(w, in->unique, 0, &write_out, sizeof(write_out));
}

static void fuse_do_fsync(struct fuse_worker *w, const struct fuse_in_header *in, const void *arg)
{
	const struct fuse_fsync_in *fsync_in = arg;
	struct fuse_node *node = fuse_node_of_fh(fsync_in->fh);
	struct vdisk *disk = fuse_disk_get(node);
	int r = disk ? vdisk_flush(disk) : -EIO;

	fuse_disk_put(w->fuse, node, disk);
	fuse_reply_error(w, in->unique, r);
}

/* The loop driver turns discard into PUNCH_HOLE|KEEP_SIZE and write-zeroes into
 * ZERO_RANGE|KEEP_SIZE: those become the disk's trim and zero. */
static void fuse_do_fallocate(struct fuse_worker *w, const struct fuse_in_header *in, const void *arg)
{
	const struct fuse_fallocate_in *fallocate_in = arg;
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
		r = vdisk_trim(disk, offset, len);
	else if ((mode & ~FALLOC_FL_KEEP_SIZE) == FALLOC_FL_ZERO_RANGE)
		r = vdisk_zero(disk, offset, len);
	else if ((mode & ~FALLOC_FL_KEEP_SIZE) == 0)
		r = (disk->flags & VDISK_READ_ONLY) ? -EROFS : 0; /* inside the disk: allocated */
	else
		r = -EOPNOTSUPP;
	fuse_disk_put(w->fuse, node, disk);
	fuse_reply_error(w, in->unique, r);
}

/* ---- the namespace: one flat directory ---- */

static void fuse_do_lookup(struct fuse_worker *w, const struct fuse_in_header *in, const char *name)
{
	struct transport_fuse *fuse = w->fuse;
	struct fuse_entry_out entry = { 0 };
	struct fuse_node *node;

	if (in->nodeid != FUSE_ROOT_ID) {
		fuse_reply_error(w, in->unique, -ENOTDIR);
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
		fuse_reply_error(w, in->unique, -ENOENT);
	else
		fuse_reply(w, in->unique, 0, &entry, sizeof(entry));
}

static void fuse_forget(struct transport_fuse *fuse, uint64_t ino, uint64_t count)
{
	struct fuse_node *node = fuse_node_by_ino(fuse, ino);

	if (!node)
		return;
	node->lookups = count < node->lookups ? node->lookups - count : 0;
	fuse_node_release_if_unused(fuse, node);
}

static void fuse_do_forget(struct fuse_worker *w, const struct fuse_in_header *in, const void *arg)
{
	const struct fuse_forget_in *forget_in = arg;

	pthread_mutex_lock(&w->fuse->lock);
	fuse_forget(w->fuse, in->nodeid, forget_in->nlookup);
	pthread_mutex_unlock(&w->fuse->lock);
}

static void fuse_do_batch_forget(struct fuse_worker *w, const void *arg, size_t arg_len)
{
	const struct fuse_batch_forget_in *batch = arg;
	const struct fuse_forget_one *one = (const void *)(batch + 1);
	size_t count = batch->count;

	if (count > (arg_len - sizeof(*batch)) / sizeof(*one))
		count = (arg_len - sizeof(*batch)) / sizeof(*one);
	pthread_mutex_lock(&w->fuse->lock);
	for (size_t i = 0; i < count; i++)
		fuse_forget(w->fuse, one[i].nodeid, one[i].nlookup);
	pthread_mutex_unlock(&w->fuse->lock);
}

static void fuse_do_getattr(struct fuse_worker *w, const struct fuse_in_header *in)
{
	struct fuse_attr_out attr_out = { .attr_valid = FUSE_TRANSPORT_TIMEOUT };
	int r;

	pthread_mutex_lock(&w->fuse->lock);
	r = fuse_attr_of(w->fuse, in->nodeid, &attr_out.attr);
	pthread_mutex_unlock(&w->fuse->lock);
	if (r < 0)
		fuse_reply_error(w, in->unique, r);
	else
		fuse_reply(w, in->unique, 0, &attr_out, sizeof(attr_out));
}

/* A disk's size, owner and mode are the daemon's business: only no-op changes
 * (and times, which are not kept) are accepted. */
static void fuse_do_setattr(struct fuse_worker *w, const struct fuse_in_header *in, const void *arg)
{
	const struct fuse_setattr_in *setattr_in = arg;
	struct fuse_attr_out attr_out = { .attr_valid = FUSE_TRANSPORT_TIMEOUT };
	struct fuse_attr *attr = &attr_out.attr;
	int r;

	pthread_mutex_lock(&w->fuse->lock);
	r = fuse_attr_of(w->fuse, in->nodeid, attr);
	pthread_mutex_unlock(&w->fuse->lock);
	if (r == 0 && (setattr_in->valid & FATTR_SIZE) && setattr_in->size != attr->size)
		r = -EPERM;
	if (r == 0 && (setattr_in->valid & FATTR_MODE) && (setattr_in->mode & 07777) != (attr->mode & 07777))
		r = -EPERM;
	if (r == 0 && (setattr_in->valid & FATTR_UID) && setattr_in->uid != attr->uid)
		r = -EPERM;
	if (r == 0 && (setattr_in->valid & FATTR_GID) && setattr_in->gid != attr->gid)
		r = -EPERM;
	if (r < 0)
		fuse_reply_error(w, in->unique, r);
	else
		fuse_reply(w, in->unique, 0, &attr_out, sizeof(attr_out));
}

static void fuse_do_open(struct fuse_worker *w, const struct fuse_in_header *in, const void *arg)
{
	const struct fuse_open_in *open_in = arg;
	struct transport_fuse *fuse = w->fuse;
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
		fuse_reply_error(w, in->unique, r);
	else
		fuse_reply(w, in->unique, 0, &open_out, sizeof(open_out));
}

static void fuse_do_release(struct fuse_worker *w, const struct fuse_in_header *in, const void *arg)
{
	const struct fuse_release_in *release_in = arg;
	struct fuse_node *node = fuse_node_of_fh(release_in->fh);

	pthread_mutex_lock(&w->fuse->lock);
	if (node && node->opens) {
		node->opens--;
		fuse_node_release_if_unused(w->fuse, node);
	}
	pthread_mutex_unlock(&w->fuse->lock);
	fuse_reply_error(w, in->unique, 0);
}

static void fuse_do_opendir(struct fuse_worker *w, const struct fuse_in_header *in)
{
	struct fuse_open_out open_out = { 0 };

	if (in->nodeid != FUSE_ROOT_ID)
		fuse_reply_error(w, in->unique, -ENOTDIR);
	else
		fuse_reply(w, in->unique, 0, &open_out, sizeof(open_out));
}

/* Append one entry to a READDIR reply; false when it does not fit. */
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
static void fuse_do_readdir(struct fuse_worker *w, const struct fuse_in_header *in, const void *arg)
{
	const struct fuse_read_in *read_in = arg;
	struct transport_fuse *fuse = w->fuse;
	size_t size = read_in->size < w->data_size ? read_in->size : w->data_size;
	uint64_t offset = read_in->offset;
	size_t used = 0;

	if (in->nodeid != FUSE_ROOT_ID) {
		fuse_reply_error(w, in->unique, -ENOTDIR);
		return;
	}
	if (offset < 1 && !fuse_dirent_add(w->data, size, &used, FUSE_ROOT_ID, 1, S_IFDIR >> 12, "."))
		goto out;
	if (offset < 2 && !fuse_dirent_add(w->data, size, &used, FUSE_ROOT_ID, 2, S_IFDIR >> 12, ".."))
		goto out;
	pthread_mutex_lock(&fuse->lock);
	for (struct fuse_node *node = fuse->nodes; node; node = node->next) {
		if (node->removed || node->ino + 1 <= offset)
			continue;
		if (!fuse_dirent_add(w->data, size, &used, node->ino, node->ino + 1, S_IFREG >> 12, node->name))
			break;
	}
	pthread_mutex_unlock(&fuse->lock);
out:
	fuse_reply(w, in->unique, 0, w->data, used);
}

static void fuse_do_statfs(struct fuse_worker *w, const struct fuse_in_header *in)
{
	struct fuse_statfs_out statfs_out = { 0 };
	struct fuse_kstatfs *st = &statfs_out.st;
	uint64_t bytes = 0, files = 0;

	pthread_mutex_lock(&w->fuse->lock);
	for (struct fuse_node *node = w->fuse->nodes; node; node = node->next) {
		struct vdisk *disk = atomic_load(&node->disk);

		if (!node->removed && disk) {
			bytes += disk->size;
			files++;
		}
	}
	pthread_mutex_unlock(&w->fuse->lock);
	/* The loop driver takes its discard granularity from f_bsize. */
	st->bsize = st->frsize = 4096;
	st->blocks = bytes / 4096;
	st->files = files;
	st->namelen = NAME_MAX;
	fuse_reply(w, in->unique, 0, &statfs_out, sizeof(statfs_out));
}

static void fuse_do_access(struct fuse_worker *w, const struct fuse_in_header *in, const void *arg)
{
	const struct fuse_access_in *access_in = arg;
	struct fuse_attr attr;
	int r;

	pthread_mutex_lock(&w->fuse->lock);
	r = fuse_attr_of(w->fuse, in->nodeid, &attr);
	pthread_mutex_unlock(&w->fuse->lock);
	if (r == 0 && (access_in->mask & W_OK) && S_ISREG(attr.mode) && !(attr.mode & 0200))
		r = -EROFS;
	if (r == 0 && in->uid != 0)
		r = -EACCES; /* everything here belongs to root, mode 0600 or 0400 */
	fuse_reply_error(w, in->unique, r);
}

/* ---- INIT ---- */

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
			  FUSE_ASYNC_DIO;
	int r;

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
	r = fuse_send(fuse->fd, iov, 2);
	return r;
}

/* ---- workers ---- */

static void fuse_dispatch(struct fuse_worker *w, const struct fuse_in_header *in, size_t len)
{
	const void *arg = in + 1;
	size_t arg_len = len - sizeof(*in);

	switch (in->opcode) {
	case FUSE_READ:
		if (arg_len < sizeof(struct fuse_read_in))
			break;
		fuse_do_read(w, in, arg);
		return;
	case FUSE_WRITE:
		fuse_do_write(w, in, arg, arg_len);
		return;
	case FUSE_FSYNC:
		if (arg_len < sizeof(struct fuse_fsync_in))
			break;
		fuse_do_fsync(w, in, arg);
		return;
	case FUSE_FALLOCATE:
		if (arg_len < sizeof(struct fuse_fallocate_in))
			break;
		fuse_do_fallocate(w, in, arg);
		return;
	case FUSE_LOOKUP:
		if (arg_len < 2 || ((const char *)arg)[arg_len - 1] != '\0')
			break;
		fuse_do_lookup(w, in, arg);
		return;
	case FUSE_FORGET: /* no reply */
		if (arg_len >= sizeof(struct fuse_forget_in))
			fuse_do_forget(w, in, arg);
		return;
	case FUSE_BATCH_FORGET: /* no reply */
		if (arg_len >= sizeof(struct fuse_batch_forget_in))
			fuse_do_batch_forget(w, arg, arg_len);
		return;
	case FUSE_GETATTR:
		fuse_do_getattr(w, in);
		return;
	case FUSE_SETATTR:
		if (arg_len < sizeof(struct fuse_setattr_in))
			break;
		fuse_do_setattr(w, in, arg);
		return;
	case FUSE_OPEN:
		if (arg_len < sizeof(struct fuse_open_in))
			break;
		fuse_do_open(w, in, arg);
		return;
	case FUSE_RELEASE:
		if (arg_len < sizeof(struct fuse_release_in))
			break;
		fuse_do_release(w, in, arg);
		return;
	case FUSE_FLUSH: /* close(), not a cache flush: FSYNC is that */
	case FUSE_RELEASEDIR:
	case FUSE_FSYNCDIR:
		fuse_reply_error(w, in->unique, 0);
		return;
	case FUSE_OPENDIR:
		fuse_do_opendir(w, in);
		return;
	case FUSE_READDIR:
		if (arg_len < sizeof(struct fuse_read_in))
			break;
		fuse_do_readdir(w, in, arg);
		return;
	case FUSE_STATFS:
		fuse_do_statfs(w, in);
		return;
	case FUSE_ACCESS:
		if (arg_len < sizeof(struct fuse_access_in))
			break;
		fuse_do_access(w, in, arg);
		return;
	case FUSE_INTERRUPT: /* requests here finish quickly: no reply, nothing to stop */
		return;
	case FUSE_DESTROY:
		fuse_reply_error(w, in->unique, 0);
		return;
	default:
		fuse_reply_error(w, in->unique, -ENOSYS);
		return;
	}
	fuse_reply_error(w, in->unique, -EINVAL);
}

/* Cancellation (from stop) is only allowed while waiting in read(): a request
 * being served always gets its reply. */
static void *fuse_worker_main(void *opaque)
{
	struct fuse_worker *w = opaque;
	ssize_t n;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (;;) {
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		n = read(w->fd, w->request, w->request_size);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (n < 0) {
			/* ENOENT: the request was interrupted before we read it. */
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			break; /* ENODEV: unmounted or aborted */
		}
		if ((size_t)n < sizeof(struct fuse_in_header))
			continue;
		fuse_dispatch(w, (const struct fuse_in_header *)w->request, (size_t)n);
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
	w->data = w->map + page_size;
	w->data_size = max_write + page_size;
	return 0;
}

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
		fuse_reply_error(w, in->unique, -EIO);
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
	fuse_stop_workers(fuse);
	for (unsigned i = 0; fuse->workers && i < fuse->worker_count; i++) {
		struct fuse_worker *w = &fuse->workers[i];

		if (w->fd >= 0)
			close(w->fd);
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
	fuse->page_size = page_size > 0 ? (size_t)page_size : 4096;
	fuse->max_write = FUSE_TRANSPORT_MAX_PAGES * fuse->page_size;
	fuse->next_ino = FUSE_ROOT_ID + 1;
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
		fuse->workers[i].fuse = fuse;
		fuse->workers[i].fd = -1;
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
	/* The first worker's buffer and descriptor serve the handshake. */
	fuse->workers[0].fd = fuse->fd;
	r = fuse_handshake(fuse, &fuse->workers[0]);
	fuse->workers[0].fd = -1;
	if (r < 0)
		goto fail;
	for (unsigned i = 0; i < workers; i++) {
		r = fuse_clone_fd(fuse->fd);
		if (r < 0)
			goto fail;
		fuse->workers[i].fd = r;
	}

	/* Workers take no signals: those are the caller's to handle. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < workers; i++) {
		struct fuse_worker *w = &fuse->workers[i];
		char name[16];

		r = -pthread_create(&w->thread, NULL, fuse_worker_main, w);
		if (r < 0)
			break;
		w->running = true;
		snprintf(name, sizeof(name), "imdisk-fuse%u", i % 1000);
		pthread_setname_np(w->thread, name);
	}
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
	struct fuse_node *node;
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
	struct fuse_node **link = &fuse->nodes;
	while (*link)
		link = &(*link)->next;
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
