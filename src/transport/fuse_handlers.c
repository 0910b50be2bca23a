/* The request handlers (fuse_handlers.h): one flat directory of disks, and I/O
 * on them.  Every vdisk takes parallel callers (vdisk.h), so requests on one
 * disk run on whichever threads the channel serves them from, at the same time. */
#include "transport/fuse_handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/trace.h"
#include "transport/fuse_disk_queue.h"

/* A read answered later, from the disk's own thread (vdisk_read_async): what
 * the handlers need to finish it; the channel keeps its own state in
 * `pending`. */
struct pending_read {
	struct fuse_files *files;
	struct fuse_node *node;
	const struct fuse_channel_ops *channel;
	struct fuse_pending *pending;
};

/* The disk is put only once the answer is handed to the channel, so a disk
 * removal (and so a transport stop) cannot overtake it. */
static void pending_read_done(void *opaque, int result, const void *data, size_t len)
{
	struct pending_read *read = opaque;

	read->channel->complete(read->pending, result, data, len);
	fuse_files_disk_put(read->files, read->node);
	free(read);
}

/* 0 when the disk took the read to answer later; else the caller reads. */
static int read_async(struct fuse_files *files, struct fuse_exchange *ex, struct fuse_node *node, struct vdisk *disk,
		      uint64_t unique, size_t len, uint64_t offset)
{
	struct pending_read *read;

	if (!(disk->flags & VDISK_ASYNC_READ) || len == 0)
		return -EOPNOTSUPP;
	read = malloc(sizeof(*read));
	if (!read)
		return -ENOMEM;
	*read = (struct pending_read){ .files = files, .node = node, .channel = ex->channel };
	read->pending = ex->channel->defer(ex, unique, false);
	if (!read->pending) {
		free(read);
		return -ENOMEM;
	}
	if (vdisk_read_async(disk, len, offset, pending_read_done, read) < 0) {
		ex->channel->undefer(ex, read->pending);
		free(read);
		return -EAGAIN;
	}
	ex->answered = true;
	return 0;
}

/* A write answered later, from the disk's own thread (vdisk_write_async).
 * The request's payload is the disk's until then (deferred with keep_data). */
struct pending_write {
	struct fuse_files *files;
	struct fuse_node *node;
	const struct fuse_channel_ops *channel;
	struct fuse_pending *pending;
	struct fuse_write_out out;
};

static void pending_write_done(void *opaque, int result)
{
	struct pending_write *write = opaque;

	if (result < 0)
		write->channel->complete(write->pending, result, NULL, 0);
	else
		write->channel->complete(write->pending, 0, &write->out, sizeof(write->out));
	fuse_files_disk_put(write->files, write->node);
	free(write);
}

/* 0 when the disk took the write to answer later; else the caller writes. */
static int write_async(struct fuse_files *files, struct fuse_exchange *ex, struct fuse_node *node,
		       struct vdisk *disk, uint64_t unique, const void *payload, size_t len, uint64_t offset)
{
	struct pending_write *write;

	if (!(disk->flags & VDISK_ASYNC_WRITE) || (disk->flags & VDISK_READ_ONLY) || len == 0)
		return -EOPNOTSUPP;
	write = malloc(sizeof(*write));
	if (!write)
		return -ENOMEM;
	*write = (struct pending_write){ .files = files, .node = node, .channel = ex->channel,
					 .out.size = (uint32_t)len };
	write->pending = ex->channel->defer(ex, unique, true);
	if (!write->pending) {
		free(write);
		return -ENOMEM;
	}
	if (vdisk_write_async(disk, payload, len, offset, pending_write_done, write) < 0) {
		ex->channel->undefer(ex, write->pending);
		free(write);
		return -EAGAIN;
	}
	ex->answered = true;
	return 0;
}

/* ---- the I/O path: no lock, only the node's in-flight count ---- */

/* One data request, decoded and range-checked: what the disk is asked. */
struct disk_io {
	uint32_t opcode; /* FUSE_READ, FUSE_WRITE, FUSE_FSYNC or FUSE_FALLOCATE */
	uint64_t unique;
	uint64_t offset, len; /* READ: cut at the disk's end */
	uint32_t mode;        /* FALLOCATE */
	const void *payload;  /* WRITE data */
};

struct disk_io_answer {
	const void *data;
	size_t len;
	bool viewed; /* data is the disk's own (vdisk_view): end the view once sent */
	struct fuse_write_out write_out;
};

/* The loop driver turns discard (and unmapping write-zeroes) into
 * PUNCH_HOLE|KEEP_SIZE and write-zeroes into ZERO_RANGE|KEEP_SIZE: those become
 * the disk's punch (a trim where that leaves zeroes) and zero. */
static int disk_io_do(struct vdisk *disk, const struct disk_io *io, unsigned char *data, struct disk_io_answer *a)
{
	switch (io->opcode) {
	case FUSE_READ:
		a->len = (size_t)io->len;
		/* Straight from where the disk keeps the bytes when it can. */
		a->data = vdisk_view(disk, a->len, io->offset);
		a->viewed = a->data != NULL;
		if (a->viewed)
			return 0;
		a->data = data;
		return vdisk_read(disk, data, a->len, io->offset);
	case FUSE_WRITE:
		a->write_out.size = (uint32_t)io->len;
		a->data = &a->write_out;
		a->len = sizeof(a->write_out);
		return vdisk_write(disk, io->payload, (size_t)io->len, io->offset);
	case FUSE_FSYNC:
		return vdisk_flush(disk);
	default: /* FUSE_FALLOCATE */
		if (io->mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
			return vdisk_punch(disk, io->offset, io->len); /* must read back as zeroes */
		if ((io->mode & ~FALLOC_FL_KEEP_SIZE) == FALLOC_FL_ZERO_RANGE)
			return vdisk_zero(disk, io->offset, io->len);
		if ((io->mode & ~FALLOC_FL_KEEP_SIZE) == 0)
			return (disk->flags & VDISK_READ_ONLY) ? -EROFS : 0; /* inside the disk: allocated */
		return -EOPNOTSUPP;
	}
}

/* A request on a disk with threads of its own, on its way there.  It holds
 * the disk (the serving thread's in-flight count, handed over) until its
 * answer is handed to the channel. */
struct disk_io_job {
	struct fuse_disk_job job; /* first: the queue hands this back */
	struct fuse_files *files;
	struct fuse_node *node;
	struct vdisk *disk;
	const struct fuse_channel_ops *channel;
	struct fuse_pending *pending;
	unsigned char *data; /* the request's answer area, kept by the channel */
	struct disk_io io;
};

static void disk_io_job_run(struct fuse_disk_job *job)
{
	struct disk_io_job *j = (struct disk_io_job *)job;
	struct disk_io_answer a = { 0 };
	int r = disk_io_do(j->disk, &j->io, j->data, &a);

	j->channel->complete(j->pending, r, r < 0 ? NULL : a.data, r < 0 ? 0 : a.len);
	if (a.viewed)
		vdisk_view_end(j->disk);
	fuse_files_disk_put(j->files, j->node);
	free(j);
}

/* Hand `io` to the disk's own threads; 0 when they took it (and will answer). */
static int disk_io_queue(struct fuse_files *files, struct fuse_exchange *ex, struct fuse_node *node,
			 struct vdisk *disk, const struct disk_io *io)
{
	struct disk_io_job *j = malloc(sizeof(*j));

	if (!j)
		return -ENOMEM;
	*j = (struct disk_io_job){ .job.run = disk_io_job_run, .files = files, .node = node, .disk = disk,
				   .channel = ex->channel, .data = ex->data, .io = *io };
	j->pending = ex->channel->defer(ex, io->unique, true);
	if (!j->pending) {
		free(j);
		return -ENOMEM;
	}
	/* One more count, this thread's, until the push returns: the job may be
	 * done (and its count gone) before that, and a removal waiting for the
	 * last count frees the queue. */
	atomic_fetch_add(&node->inflight, 1);
	if (!fuse_disk_queue_push(node->queue, &j->job)) {
		ex->channel->undefer(ex, j->pending);
		fuse_files_disk_put(files, node);
		free(j);
		return -ESHUTDOWN; /* the transport is stopping: serve it here */
	}
	ex->answered = true;
	fuse_files_disk_put(files, node);
	return 0;
}

/* Serve `io` on `disk`, which the caller holds (fuse_files_disk_get) and this
 * puts: on the disk's own threads when it has them (a disk that may wait
 * holds only those), unless the channel says this thread may wait on it
 * (which saves the hand-over); else here. */
static void disk_io_serve(struct fuse_files *files, struct fuse_exchange *ex, struct fuse_node *node,
			  struct vdisk *disk, const struct disk_io *io)
{
	struct disk_io_answer a = { 0 };
	int r;

	if (node->queue && !(ex->channel->may_wait && ex->channel->may_wait(ex)) &&
	    disk_io_queue(files, ex, node, disk, io) == 0)
		return; /* the caller's count went with the job */
	r = disk_io_do(disk, io, ex->data, &a);
	if (r < 0)
		fuse_exchange_error(ex, io->unique, r);
	else
		fuse_exchange_reply(ex, io->unique, 0, a.data, a.len);
	if (a.viewed)
		vdisk_view_end(disk);
	fuse_files_disk_put(files, node);
}

/* Refuse a request on a held disk (or none: NULL). */
static void disk_io_refuse(struct fuse_files *files, struct fuse_exchange *ex, struct fuse_node *node,
			   uint64_t unique, int error)
{
	fuse_exchange_error(ex, unique, error);
	if (node)
		fuse_files_disk_put(files, node);
}

static void handle_read(struct fuse_files *files, struct fuse_exchange *ex, const struct fuse_in_header *in,
			const void *op)
{
	const struct fuse_read_in *read_in = op;
	struct fuse_node *node = fuse_files_node_of_fh(read_in->fh);
	struct vdisk *disk = fuse_files_disk_get(node);
	struct disk_io io = { .opcode = FUSE_READ, .unique = in->unique, .offset = read_in->offset,
			      .len = read_in->size };

	if (!disk)
		return disk_io_refuse(files, ex, node, in->unique, -EIO);
	if (io.len > ex->data_size)
		return disk_io_refuse(files, ex, node, in->unique, -EINVAL);
	/* A file read past the end is short, not an error. */
	if (io.offset >= disk->size)
		io.len = 0;
	else if (io.len > disk->size - io.offset)
		io.len = disk->size - io.offset;
	if (read_async(files, ex, node, disk, in->unique, (size_t)io.len, io.offset) == 0)
		return; /* answered by pending_read_done, which also puts the disk */
	disk_io_serve(files, ex, node, disk, &io);
}

static void handle_write(struct fuse_files *files, struct fuse_exchange *ex, const struct fuse_in_header *in,
			 const void *op, const void *data, size_t data_len)
{
	const struct fuse_write_in *write_in = op;
	struct fuse_node *node = fuse_files_node_of_fh(write_in->fh);
	struct disk_io io = { .opcode = FUSE_WRITE, .unique = in->unique, .offset = write_in->offset,
			      .len = write_in->size, .payload = data };
	struct vdisk *disk;

	if (write_in->size > data_len)
		return disk_io_refuse(files, ex, NULL, in->unique, -EINVAL);
	disk = fuse_files_disk_get(node);
	if (!disk)
		return disk_io_refuse(files, ex, node, in->unique, -EIO);
	/* A disk does not grow by writing past its end. */
	if (io.offset > disk->size || io.len > disk->size - io.offset)
		return disk_io_refuse(files, ex, node, in->unique, -ENOSPC);
	if (write_async(files, ex, node, disk, in->unique, data, (size_t)io.len, io.offset) == 0)
		return; /* answered by pending_write_done, which also puts the disk */
	disk_io_serve(files, ex, node, disk, &io);
}

static void handle_fsync(struct fuse_files *files, struct fuse_exchange *ex, const struct fuse_in_header *in,
			 const void *op)
{
	const struct fuse_fsync_in *fsync_in = op;
	struct fuse_node *node = fuse_files_node_of_fh(fsync_in->fh);
	struct vdisk *disk = fuse_files_disk_get(node);
	struct disk_io io = { .opcode = FUSE_FSYNC, .unique = in->unique };

	if (!disk)
		return disk_io_refuse(files, ex, node, in->unique, -EIO);
	disk_io_serve(files, ex, node, disk, &io);
}

static void handle_fallocate(struct fuse_files *files, struct fuse_exchange *ex, const struct fuse_in_header *in,
			     const void *op)
{
	const struct fuse_fallocate_in *fallocate_in = op;
	struct fuse_node *node = fuse_files_node_of_fh(fallocate_in->fh);
	struct vdisk *disk = fuse_files_disk_get(node);
	struct disk_io io = { .opcode = FUSE_FALLOCATE, .unique = in->unique, .offset = fallocate_in->offset,
			      .len = fallocate_in->length, .mode = fallocate_in->mode };

	if (!disk)
		return disk_io_refuse(files, ex, node, in->unique, -EIO);
	if (io.offset > disk->size || io.len > disk->size - io.offset)
		return disk_io_refuse(files, ex, node, in->unique, (io.mode & FALLOC_FL_KEEP_SIZE) ? -EINVAL : -EFBIG);
	disk_io_serve(files, ex, node, disk, &io);
}

/* ---- the namespace: one flat directory ---- */

static void handle_lookup(struct fuse_files *files, struct fuse_exchange *ex,
		          const struct fuse_in_header *in, const char *name)
{
	struct fuse_entry_out entry = { 0 };
	struct fuse_node *node;

	if (in->nodeid != FUSE_ROOT_ID) {
		fuse_exchange_error(ex, in->unique, -ENOTDIR);
		return;
	}
	pthread_mutex_lock(&files->lock);
	node = fuse_files_node_by_name(files, name);
	if (node) {
		node->lookups++;
		entry.nodeid = node->ino;
		entry.generation = 1;
		entry.entry_valid = entry.attr_valid = FUSE_ABI_TIMEOUT;
		fuse_files_node_attr(node, atomic_load(&node->disk), &entry.attr);
	}
	pthread_mutex_unlock(&files->lock);
	/* An error, not a zero node id: the kernel keeps no negative entry, so a
	 * disk added later under this name is found at once. */
	if (!node)
		fuse_exchange_error(ex, in->unique, -ENOENT);
	else
		fuse_exchange_reply(ex, in->unique, 0, &entry, sizeof(entry));
}

static void forget_node(struct fuse_files *files, uint64_t ino, uint64_t count)
{
	struct fuse_node *node = fuse_files_node_by_ino(files, ino);

	if (!node)
		return;
	node->lookups = count < node->lookups ? node->lookups - count : 0;
	fuse_files_release_if_unused(files, node);
}

static void handle_forget(struct fuse_files *files, const struct fuse_in_header *in, const void *op)
{
	const struct fuse_forget_in *forget_in = op;

	pthread_mutex_lock(&files->lock);
	forget_node(files, in->nodeid, forget_in->nlookup);
	pthread_mutex_unlock(&files->lock);
}

static void handle_batch_forget(struct fuse_files *files, const void *op, const void *list, size_t list_len)
{
	const struct fuse_batch_forget_in *batch = op;
	const struct fuse_forget_one *one = list;
	size_t count = batch->count;

	if (count > list_len / sizeof(*one))
		count = list_len / sizeof(*one);
	pthread_mutex_lock(&files->lock);
	for (size_t i = 0; i < count; i++)
		forget_node(files, one[i].nodeid, one[i].nlookup);
	pthread_mutex_unlock(&files->lock);
}

static void handle_getattr(struct fuse_files *files, struct fuse_exchange *ex, const struct fuse_in_header *in)
{
	struct fuse_attr_out attr_out = { .attr_valid = FUSE_ABI_TIMEOUT };
	int r;

	pthread_mutex_lock(&files->lock);
	r = fuse_files_attr_of(files, in->nodeid, &attr_out.attr);
	pthread_mutex_unlock(&files->lock);
	if (r < 0)
		fuse_exchange_error(ex, in->unique, r);
	else
		fuse_exchange_reply(ex, in->unique, 0, &attr_out, sizeof(attr_out));
}

/* A disk's size, owner and mode are the daemon's business: only no-op changes
 * (and times, which are not kept) are accepted. */
static void handle_setattr(struct fuse_files *files, struct fuse_exchange *ex,
		           const struct fuse_in_header *in, const void *op)
{
	const struct fuse_setattr_in *setattr_in = op;
	struct fuse_attr_out attr_out = { .attr_valid = FUSE_ABI_TIMEOUT };
	struct fuse_attr *attr = &attr_out.attr;
	int r;

	pthread_mutex_lock(&files->lock);
	r = fuse_files_attr_of(files, in->nodeid, attr);
	pthread_mutex_unlock(&files->lock);
	if (r == 0 && (setattr_in->valid & FATTR_SIZE) && setattr_in->size != attr->size)
		r = -EPERM;
	if (r == 0 && (setattr_in->valid & FATTR_MODE) && (setattr_in->mode & 07777) != (attr->mode & 07777))
		r = -EPERM;
	if (r == 0 && (setattr_in->valid & FATTR_UID) && setattr_in->uid != attr->uid)
		r = -EPERM;
	if (r == 0 && (setattr_in->valid & FATTR_GID) && setattr_in->gid != attr->gid)
		r = -EPERM;
	if (r < 0)
		fuse_exchange_error(ex, in->unique, r);
	else
		fuse_exchange_reply(ex, in->unique, 0, &attr_out, sizeof(attr_out));
}

static void handle_open(struct fuse_files *files, struct fuse_exchange *ex,
		        const struct fuse_in_header *in, const void *op)
{
	const struct fuse_open_in *open_in = op;
	struct fuse_open_out open_out = { .open_flags = files->open_flags };
	struct fuse_node *node;
	struct vdisk *disk;
	int r = 0;

	pthread_mutex_lock(&files->lock);
	node = fuse_files_node_by_ino(files, in->nodeid);
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
	pthread_mutex_unlock(&files->lock);
	if (r < 0)
		fuse_exchange_error(ex, in->unique, r);
	else
		fuse_exchange_reply(ex, in->unique, 0, &open_out, sizeof(open_out));
}

static void handle_release(struct fuse_files *files, struct fuse_exchange *ex,
		           const struct fuse_in_header *in, const void *op)
{
	const struct fuse_release_in *release_in = op;
	struct fuse_node *node = fuse_files_node_of_fh(release_in->fh);

	pthread_mutex_lock(&files->lock);
	if (node && node->opens) {
		node->opens--;
		fuse_files_release_if_unused(files, node);
	}
	pthread_mutex_unlock(&files->lock);
	fuse_exchange_error(ex, in->unique, 0);
}

static void handle_opendir(struct fuse_exchange *ex, const struct fuse_in_header *in)
{
	struct fuse_open_out open_out = { 0 };

	if (in->nodeid != FUSE_ROOT_ID)
		fuse_exchange_error(ex, in->unique, -ENOTDIR);
	else
		fuse_exchange_reply(ex, in->unique, 0, &open_out, sizeof(open_out));
}

/* Append one entry to a READDIR answer; false when it does not fit. */
static bool dirent_add(unsigned char *buf, size_t size, size_t *used, uint64_t ino, uint64_t next,
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
static void handle_readdir(struct fuse_files *files, struct fuse_exchange *ex,
		           const struct fuse_in_header *in, const void *op)
{
	const struct fuse_read_in *read_in = op;
	size_t size = read_in->size < ex->data_size ? read_in->size : ex->data_size;
	uint64_t offset = read_in->offset;
	size_t used = 0;

	if (in->nodeid != FUSE_ROOT_ID) {
		fuse_exchange_error(ex, in->unique, -ENOTDIR);
		return;
	}
	if (offset < 1 && !dirent_add(ex->data, size, &used, FUSE_ROOT_ID, 1, S_IFDIR >> 12, "."))
		goto out;
	if (offset < 2 && !dirent_add(ex->data, size, &used, FUSE_ROOT_ID, 2, S_IFDIR >> 12, ".."))
		goto out;
	pthread_mutex_lock(&files->lock);
	for (struct fuse_node *node = files->nodes; node; node = node->next) {
		if (node->removed || node->ino + 1 <= offset)
			continue;
		if (!dirent_add(ex->data, size, &used, node->ino, node->ino + 1, S_IFREG >> 12, node->name))
			break;
	}
	pthread_mutex_unlock(&files->lock);
out:
	fuse_exchange_reply(ex, in->unique, 0, ex->data, used);
}

static void handle_statfs(struct fuse_files *files, struct fuse_exchange *ex, const struct fuse_in_header *in)
{
	struct fuse_statfs_out statfs_out = { 0 };
	struct fuse_kstatfs *st = &statfs_out.st;
	uint64_t bytes = 0, count = 0;

	pthread_mutex_lock(&files->lock);
	for (struct fuse_node *node = files->nodes; node; node = node->next) {
		struct vdisk *disk = atomic_load(&node->disk);

		if (!node->removed && disk) {
			bytes += disk->size;
			count++;
		}
	}
	pthread_mutex_unlock(&files->lock);
	/* The loop driver takes its discard granularity from f_bsize. */
	st->bsize = st->frsize = 4096;
	st->blocks = bytes / 4096;
	st->files = count;
	st->namelen = NAME_MAX;
	fuse_exchange_reply(ex, in->unique, 0, &statfs_out, sizeof(statfs_out));
}

static void handle_access(struct fuse_files *files, struct fuse_exchange *ex,
		          const struct fuse_in_header *in, const void *op)
{
	const struct fuse_access_in *access_in = op;
	struct fuse_attr attr;
	int r;

	pthread_mutex_lock(&files->lock);
	r = fuse_files_attr_of(files, in->nodeid, &attr);
	pthread_mutex_unlock(&files->lock);
	if (r == 0 && (access_in->mask & W_OK) && S_ISREG(attr.mode) && !(attr.mode & 0200))
		r = -EROFS;
	if (r == 0 && in->uid != 0)
		r = -EACCES; /* everything here belongs to root, mode 0600 or 0400 */
	fuse_exchange_error(ex, in->unique, r);
}

void fuse_handle_request(struct fuse_files *files, struct fuse_exchange *ex, const struct fuse_in_header *in,
			 const void *op, const void *payload, size_t payload_len)
{
	ex->answered = false;
	switch (in->opcode) {
	case FUSE_READ:
		handle_read(files, ex, in, op);
		break;
	case FUSE_WRITE:
		handle_write(files, ex, in, op, payload, payload_len);
		break;
	case FUSE_FSYNC:
		handle_fsync(files, ex, in, op);
		break;
	case FUSE_FALLOCATE:
		handle_fallocate(files, ex, in, op);
		break;
	case FUSE_LOOKUP:
		if (payload_len < 2 || ((const char *)payload)[payload_len - 1] != '\0')
			fuse_exchange_error(ex, in->unique, -EINVAL);
		else
			handle_lookup(files, ex, in, payload);
		break;
	case FUSE_FORGET: /* no answer */
		handle_forget(files, in, op);
		break;
	case FUSE_BATCH_FORGET: /* no answer */
		handle_batch_forget(files, op, payload, payload_len);
		break;
	case FUSE_GETATTR:
		handle_getattr(files, ex, in);
		break;
	case FUSE_SETATTR:
		handle_setattr(files, ex, in, op);
		break;
	case FUSE_OPEN:
		handle_open(files, ex, in, op);
		break;
	case FUSE_RELEASE:
		handle_release(files, ex, in, op);
		break;
	case FUSE_FLUSH: /* close(), not a cache flush: FSYNC is that */
	case FUSE_RELEASEDIR:
	case FUSE_FSYNCDIR:
	case FUSE_DESTROY:
		fuse_exchange_error(ex, in->unique, 0);
		break;
	case FUSE_OPENDIR:
		handle_opendir(ex, in);
		break;
	case FUSE_READDIR:
		handle_readdir(files, ex, in, op);
		break;
	case FUSE_STATFS:
		handle_statfs(files, ex, in);
		break;
	case FUSE_ACCESS:
		handle_access(files, ex, in, op);
		break;
	case FUSE_INTERRUPT: /* requests here finish quickly: no answer, nothing to stop */
		break;
	default:
		trace(TRACE_FUSE, "opcode %u not supported: ENOSYS", in->opcode);
		fuse_exchange_error(ex, in->unique, -ENOSYS);
		break;
	}
}

size_t fuse_request_op_size(uint32_t opcode)
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

int fuse_handle_message(struct fuse_files *files, struct fuse_exchange *ex, const void *message, size_t len)
{
	const struct fuse_in_header *in = message;
	const unsigned char *op = (const unsigned char *)(in + 1);
	size_t arg_len, op_len;

	ex->answered = false;
	if (len < sizeof(*in))
		return -EPROTO; /* no request to answer */
	arg_len = len - sizeof(*in);
	op_len = fuse_request_op_size(in->opcode);
	if (arg_len < op_len) {
		if (in->opcode != FUSE_FORGET && in->opcode != FUSE_BATCH_FORGET && in->opcode != FUSE_INTERRUPT)
			fuse_exchange_error(ex, in->unique, -EINVAL);
		return 0;
	}
	fuse_handle_request(files, ex, in, op, op + op_len, arg_len - op_len);
	return 0;
}
