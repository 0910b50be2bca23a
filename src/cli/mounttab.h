/* Where disks are mounted, read from /proc/self/mountinfo each time (never from
 * stored state: only the kernel knows what is mounted right now). */
#ifndef IMDISK_CLI_MOUNTTAB_H
#define IMDISK_CLI_MOUNTTAB_H

#include <stddef.h>
#include <sys/types.h>

/* The mount points of one device, in mount order (oldest first). */
struct mount_points {
	size_t count;
	char **targets;
};

/* Every mount of block device `device` (a /dev/loopN path).  Returns 0 (count 0
 * when it is not mounted) or negative errno. */
int mounttab_targets_of(const char *device, struct mount_points *out);
void mount_points_free(struct mount_points *points);

/* What is mounted on `dir` (the topmost mount there): its device number and
 * source (as mountinfo spells it; "" if none).  -ENOENT when `dir` is no mount
 * point, or the errno of resolving `dir`. */
int mounttab_device_at(const char *dir, dev_t *devno, char *source, size_t source_size);

#endif
