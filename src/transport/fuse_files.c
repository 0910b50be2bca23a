/* The namespace of published disks (fuse_files.h). */
#include "transport/fuse_files.h"

#include "common/trace.h"
#include "transport/fuse_disk_queue.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuse_files_init(struct fuse_files *files)
{
	memset(files, 0, sizeof(*files));
	pthread_mutex_init(&files->lock, NULL);
	pthread_cond_init(&files->drained, NULL);
	files->next_ino = FUSE_ROOT_ID + 1;
	clock_gettime(CLOCK_REALTIME, &files->started);
}

void fuse_files_destroy(struct fuse_files *files)
{
	struct fuse_node *node, *next;

	for (node = files->nodes; node; node = next) {
		next = node->next;
		fuse_disk_queue_stop(node->queue);
		free(node);
	}
	files->nodes = NULL;
	pthread_cond_destroy(&files->drained);
	pthread_mutex_destroy(&files->lock);
}

struct fuse_node *fuse_files_node_by_ino(struct fuse_files *files, uint64_t ino)
{
	for (struct fuse_node *node = files->nodes; node; node = node->next)
		if (node->ino == ino)
			return node;
	return NULL;
}

struct fuse_node *fuse_files_node_by_name(struct fuse_files *files, const char *name)
{
	for (struct fuse_node *node = files->nodes; node; node = node->next)
		if (!node->removed && strcmp(node->name, name) == 0)
			return node;
	return NULL;
}

void fuse_files_release_if_unused(struct fuse_files *files, struct fuse_node *node)
{
	struct fuse_node **link;

	if (!node->removed || node->lookups || node->opens)
		return;
	for (link = &files->nodes; *link; link = &(*link)->next) {
		if (*link == node) {
			*link = node->next;
			free(node);
			return;
		}
	}
}

static void fuse_files_root_attr(const struct fuse_files *files, struct fuse_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	attr->ino = FUSE_ROOT_ID;
	attr->atime = attr->mtime = attr->ctime = (uint64_t)files->started.tv_sec;
	attr->atimensec = attr->mtimensec = attr->ctimensec = (uint32_t)files->started.tv_nsec;
	attr->mode = FUSE_ABI_ROOT_MODE;
	attr->nlink = 2;
	attr->blksize = 4096;
}

void fuse_files_node_attr(const struct fuse_node *node, const struct vdisk *disk, struct fuse_attr *attr)
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

int fuse_files_attr_of(struct fuse_files *files, uint64_t ino, struct fuse_attr *attr)
{
	struct fuse_node *node;

	if (ino == FUSE_ROOT_ID) {
		fuse_files_root_attr(files, attr);
		return 0;
	}
	node = fuse_files_node_by_ino(files, ino);
	if (!node)
		return -ENOENT;
	fuse_files_node_attr(node, atomic_load(&node->disk), attr);
	return 0;
}

struct vdisk *fuse_files_disk_get(struct fuse_node *node)
{
	/* Sequentially consistent on both sides: either remove() sees our count
	 * or we see its NULL. */
	atomic_fetch_add(&node->inflight, 1);
	return atomic_load(&node->disk);
}

void fuse_files_disk_put(struct fuse_files *files, struct fuse_node *node)
{
	if (atomic_fetch_sub(&node->inflight, 1) == 1 && !atomic_load(&node->disk)) {
		/* remove() may be waiting for this last request. */
		pthread_mutex_lock(&files->lock);
		pthread_cond_broadcast(&files->drained);
		pthread_mutex_unlock(&files->lock);
	}
}

bool fuse_files_name_valid(const char *name)
{
	size_t len = name ? strlen(name) : 0;

	return len > 0 && len <= NAME_MAX && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

/* A disk whose bottom is memory answers from memory: it cannot wait on
 * anything but the CPU, so a channel's thread may serve it itself and save the
 * hand-over.  Every other disk (a file, a server) may wait for long. */
static bool disk_never_waits(const struct vdisk *disk)
{
	while (disk->lower)
		disk = disk->lower;
	return strcmp(disk->ops->name, "memory") == 0;
}

void fuse_files_drain_queues(struct fuse_files *files)
{
	struct fuse_disk_queue *queues[64];
	unsigned count;
	struct fuse_node *node;

	/* In rounds, outside the lock: a job's end takes it (fuse_files_disk_put). */
	do {
		count = 0;
		pthread_mutex_lock(&files->lock);
		for (node = files->nodes; node && count < 64; node = node->next) {
			if (node->queue && !node->removed && !node->queue_drained) {
				node->queue_drained = true;
				queues[count++] = node->queue;
			}
		}
		pthread_mutex_unlock(&files->lock);
		for (unsigned i = 0; i < count; i++)
			fuse_disk_queue_drain(queues[i]);
	} while (count == 64);
}

int fuse_files_add(struct fuse_files *files, const char *name, struct vdisk *disk)
{
	size_t name_len = strlen(name);
	struct fuse_node *node = calloc(1, sizeof(*node) + name_len + 1), **link;
	int r;

	if (!node)
		return -ENOMEM;
	if (files->disk_threads && !disk_never_waits(disk)) {
		char thread_name[16];

		snprintf(thread_name, sizeof(thread_name), "imdisk-io-%.5s", name);
		r = fuse_disk_queue_start(files->disk_threads, thread_name, &node->queue);
		if (r < 0) {
			free(node);
			return r;
		}
	}
	trace(TRACE_FUSE, "%s: %s disk, served on %s", name, disk->ops->name,
	      node->queue ? "threads of its own" : "the channel's threads (it never waits)");
	memcpy(node->name, name, name_len + 1);
	atomic_init(&node->disk, disk);
	atomic_init(&node->inflight, 0);
	clock_gettime(CLOCK_REALTIME, &node->added);

	pthread_mutex_lock(&files->lock);
	if (fuse_files_node_by_name(files, name)) {
		pthread_mutex_unlock(&files->lock);
		fuse_disk_queue_stop(node->queue);
		free(node);
		return -EEXIST;
	}
	node->ino = files->next_ino++;
	/* Keep the list in inode order: READDIR offsets depend on it. */
	for (link = &files->nodes; *link; link = &(*link)->next)
		;
	*link = node;
	pthread_mutex_unlock(&files->lock);
	return 0;
}

int fuse_files_remove(struct fuse_files *files, const char *name)
{
	struct fuse_disk_queue *queue;
	struct fuse_node *node;

	pthread_mutex_lock(&files->lock);
	node = fuse_files_node_by_name(files, name);
	if (!node) {
		pthread_mutex_unlock(&files->lock);
		return -ENOENT;
	}
	node->removed = true;
	atomic_store(&node->disk, NULL);
	while (atomic_load(&node->inflight))
		pthread_cond_wait(&files->drained, &files->lock);
	/* Nothing holds the queue now: requests see no disk and never reach it. */
	queue = node->queue;
	node->queue = NULL;
	/* The node itself stays until the kernel lets go of it. */
	fuse_files_release_if_unused(files, node);
	pthread_mutex_unlock(&files->lock);
	/* Outside the lock, which the last job's end may still be taking. */
	fuse_disk_queue_stop(queue);
	return 0;
}

int fuse_files_ino(struct fuse_files *files, const char *name, uint64_t *ino)
{
	struct fuse_node *node;

	pthread_mutex_lock(&files->lock);
	node = fuse_files_node_by_name(files, name);
	if (node)
		*ino = node->ino;
	pthread_mutex_unlock(&files->lock);
	return node ? 0 : -ENOENT;
}
