/* Mounting a disk's file system (detected with libblkid, mounted with libmount)
 * and unmounting it.  These record their own failures: mount problems as
 * STEP_MOUNT_POINT, unmount problems as STEP_UNMOUNT. */
#ifndef IMDISK_CLI_MOUNT_H
#define IMDISK_CLI_MOUNT_H

#include <stdbool.h>
#include <limits.h>
#include <stddef.h>

/* Before creating anything: `dir` must be a directory or not exist yet. */
int mount_check_dir(const char *dir);

/* What mount_make_dir() created: `path` down from its first `kept` bytes. */
struct made_dir {
	char path[PATH_MAX];
	size_t kept; /* length of the part that existed before */
};

/* mkdir -p `dir` (mode 0755), remembering what it made in *made. */
int mount_make_dir(const char *dir, struct made_dir *made);

/* Remove again (deepest first) the folders mount_make_dir() made. */
void mount_unmake_dir(struct made_dir *made);

/* The file system type on `device` ("ext4"); -ENOENT when none is recognised. */
int mount_detect(const char *device, char *fstype, size_t size);

/* Mount `device` on `dir`: the file system found there, read-only if asked, with
 * `options` (mount(8)'s -o text, or NULL) as libmount parses them. */
int mount_device(const char *device, const char *dir, bool read_only, const char *options);

/* Unmount `target`; lazy detaches it even while busy (umount -l). */
int unmount_target(const char *target, bool lazy);

#endif
