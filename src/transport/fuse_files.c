/* The namespace of published disks (fuse_files.h). */
#include "transport/fuse_files.h"

#include <errno.h>
#include <limits.h>
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

int fuse_files_add(struct fuse_files *files, const char *name, struct vdisk *disk)
{
	size_t name_len = strlen(name);
	struct fuse_node *node = calloc(1, sizeof(*node) + name_len + 1), **link;

	if (!node)
		return -ENOMEM;
	memcpy(node->name, name, name_len + 1);
	atomic_init(&node->disk, disk);
	atomic_init(&node->inflight, 0);
	clock_gettime(CLOCK_REALTIME, &node->added);

	pthread_mutex_lock(&files->lock);
	if (fuse_files_node_by_name(files, name)) {
		pthread_mutex_unlock(&files->lock);
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
	/* The node itself stays until the kernel lets go of it. */
	fuse_files_release_if_unused(files, node);
	pthread_mutex_unlock(&files->lock);
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
