#include "cli/mounttab.h"

#include <errno.h>
#include <libmount.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int read_table(struct libmnt_table **out)
{
	struct libmnt_table *table = mnt_new_table_from_file("/proc/self/mountinfo");

	if (!table)
		return errno ? -errno : -ENOMEM;
	*out = table;
	return 0;
}

/* A mount is of `device` when its device number is the device's (what the kernel
 * says), or, for file systems with anonymous device numbers, by its source path. */
static bool mount_is_of(struct libmnt_fs *fs, dev_t rdev, const char *device)
{
	dev_t devno = mnt_fs_get_devno(fs);

	if (rdev && devno == rdev)
		return true;
	return mnt_fs_streq_srcpath(fs, device) != 0;
}

int mounttab_targets_of(const char *device, struct mount_points *out)
{
	struct libmnt_table *table = NULL;
	struct libmnt_iter *iter;
	struct libmnt_fs *fs;
	struct stat st;
	dev_t rdev = 0;
	int err;

	out->count = 0;
	out->targets = NULL;
	if (stat(device, &st) == 0 && S_ISBLK(st.st_mode))
		rdev = st.st_rdev;
	if ((err = read_table(&table)) < 0)
		return err;
	iter = mnt_new_iter(MNT_ITER_FORWARD);
	if (!iter) {
		mnt_unref_table(table);
		return -ENOMEM;
	}
	while (mnt_table_next_fs(table, iter, &fs) == 0) {
		const char *target = mnt_fs_get_target(fs);
		char **grown;

		if (!target || !mount_is_of(fs, rdev, device))
			continue;
		grown = realloc(out->targets, (out->count + 1) * sizeof(*grown));
		if (!grown || !(grown[out->count] = strdup(target))) {
			if (grown)
				out->targets = grown;
			err = -ENOMEM;
			break;
		}
		out->targets = grown;
		out->count++;
	}
	mnt_free_iter(iter);
	mnt_unref_table(table);
	if (err < 0)
		mount_points_free(out);
	return err;
}

void mount_points_free(struct mount_points *points)
{
	for (size_t i = 0; i < points->count; i++)
		free(points->targets[i]);
	free(points->targets);
	points->targets = NULL;
	points->count = 0;
}

int mounttab_device_at(const char *dir, dev_t *devno, char *source, size_t source_size)
{
	struct libmnt_table *table = NULL;
	struct libmnt_fs *fs;
	char path[PATH_MAX];
	int err;

	/* mountinfo holds canonical paths: "/mnt/x/" and "./x" must match too. */
	if (!realpath(dir, path))
		return -errno;
	if ((err = read_table(&table)) < 0)
		return err;
	fs = mnt_table_find_target(table, path, MNT_ITER_BACKWARD);
	if (fs && strcmp(mnt_fs_get_target(fs), path) == 0) {
		const char *src = mnt_fs_get_srcpath(fs);

		*devno = mnt_fs_get_devno(fs);
		snprintf(source, source_size, "%s", src ? src : "");
	} else
		err = -ENOENT;
	mnt_unref_table(table);
	return err;
}
