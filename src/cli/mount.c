#include "cli/mount.h"

#include <blkid.h>
#include <errno.h>
#include <libmount.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/failure.h"

int mount_check_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		if (errno == ENOENT)
			return 0; /* made after the disk exists */
		return fail(STEP_MOUNT_POINT, -errno, "bad mount point %s", dir);
	}
	if (!S_ISDIR(st.st_mode))
		return fail(STEP_MOUNT_POINT, -ENOTDIR, "bad mount point %s", dir);
	return 0;
}

int mount_make_dir(const char *dir, struct made_dir *made)
{
	char *path = made->path;
	size_t len = strlen(dir), parent = 0;
	bool making = false;
	struct stat st;
	int err = 0;

	made->path[0] = '\0';
	made->kept = 0;
	if (len == 0 || len >= sizeof(made->path))
		return fail(STEP_MOUNT_POINT, -ENAMETOOLONG, "bad mount point %s", dir);
	memcpy(path, dir, len + 1);
	/* Each prefix in turn; the last round (i == len) is the whole path. */
	for (size_t i = 1; i <= len && !err; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0755) == 0) {
			if (!making)
				made->kept = parent;
			making = true;
		} else if (errno != EEXIST) {
			err = fail(STEP_MOUNT_POINT, -errno, "cannot create mount point %s", path);
		}
		if (!err && stat(path, &st) < 0)
			err = fail(STEP_MOUNT_POINT, -errno, "bad mount point %s", path);
		else if (!err && !S_ISDIR(st.st_mode))
			err = fail(STEP_MOUNT_POINT, -ENOTDIR, "bad mount point %s", path);
		path[i] = dir[i];
		parent = i;
	}
	if (!making)
		made->kept = len;
	if (err < 0)
		mount_unmake_dir(made);
	return err;
}

void mount_unmake_dir(struct made_dir *made)
{
	size_t len = strlen(made->path);

	/* Trailing slashes name no folder of their own. */
	while (len > 1 && made->path[len - 1] == '/')
		made->path[--len] = '\0';
	while (len > made->kept) {
		char *slash;

		if (rmdir(made->path) < 0)
			break;
		slash = strrchr(made->path, '/');
		if (!slash || slash == made->path)
			break;
		*slash = '\0';
		len = (size_t)(slash - made->path);
	}
	made->kept = strlen(made->path);
}

int mount_detect(const char *device, char *fstype, size_t size)
{
	const char *type = NULL;
	blkid_probe probe;
	int rc;

	probe = blkid_new_probe_from_filename(device);
	if (!probe)
		return fail(STEP_MOUNT_POINT, errno ? -errno : -EIO, "cannot probe %s", device);
	blkid_probe_enable_superblocks(probe, 1);
	blkid_probe_set_superblocks_flags(probe, BLKID_SUBLKS_TYPE);
	rc = blkid_do_safeprobe(probe);
	if (rc == 0 && blkid_probe_lookup_value(probe, "TYPE", &type, NULL) == 0 && type)
		snprintf(fstype, size, "%s", type);
	blkid_free_probe(probe);
	if (rc == -2)
		return fail_plain(STEP_MOUNT_POINT, -EINVAL,
				  "%s holds signatures of more than one file system: cannot tell "
				  "which to mount",
				  device);
	if (rc < 0)
		return fail(STEP_MOUNT_POINT, -EIO, "cannot probe %s", device);
	if (rc == 1 || !type)
		return fail_plain(STEP_MOUNT_POINT, -ENOENT,
				  "no file system on %s to mount (format it with -p)", device);
	return 0;
}

int mount_device(const char *device, const char *dir, bool read_only, const char *options)
{
	struct libmnt_context *cxt;
	char fstype[64];
	char detail[512] = "";
	int rc;

	if ((rc = mount_detect(device, fstype, sizeof(fstype))) < 0)
		return rc;
	cxt = mnt_new_context();
	if (!cxt)
		return fail(STEP_MOUNT_POINT, -ENOMEM, "cannot mount %s on %s", device, dir);
	mnt_context_set_source(cxt, device);
	mnt_context_set_target(cxt, dir);
	mnt_context_set_fstype(cxt, fstype);
	if (read_only)
		mnt_context_set_mflags(cxt, MS_RDONLY);
	/* libmount splits them as mount -o does: flags (noatime) from data (uid=). */
	if (options && mnt_context_set_options(cxt, options) != 0) {
		mnt_free_context(cxt);
		return fail_plain(STEP_MOUNT_POINT, -EINVAL, "bad mount options '%s'", options);
	}
	rc = mnt_context_mount(cxt);
	if (rc != 0) {
		int err = mnt_context_syscall_called(cxt) ? -mnt_context_get_syscall_errno(cxt)
							   : (rc < 0 ? rc : -EIO);

		mnt_context_get_excode(cxt, rc, detail, sizeof(detail));
		mnt_free_context(cxt);
		if (err == 0 || err < -4095)
			err = -EIO;
		if (*detail)
			return fail_plain(STEP_MOUNT_POINT, err, "cannot mount %s (%s) on %s: %s",
					  device, fstype, dir, detail);
		return fail(STEP_MOUNT_POINT, err, "cannot mount %s (%s) on %s", device, fstype,
			    dir);
	}
	mnt_free_context(cxt);
	return 0;
}

int unmount_target(const char *target, bool lazy)
{
	struct libmnt_context *cxt = mnt_new_context();
	char detail[512] = "";
	int rc, err;

	if (!cxt)
		return fail(STEP_UNMOUNT, -ENOMEM, "cannot unmount %s", target);
	mnt_context_set_target(cxt, target);
	if (lazy)
		mnt_context_enable_lazy(cxt, 1);
	rc = mnt_context_umount(cxt);
	if (rc == 0) {
		mnt_free_context(cxt);
		return 0;
	}
	err = mnt_context_syscall_called(cxt) ? -mnt_context_get_syscall_errno(cxt)
					      : (rc < 0 && rc > -4096 ? rc : -EIO);
	mnt_context_get_excode(cxt, rc, detail, sizeof(detail));
	mnt_free_context(cxt);
	if (err == 0)
		err = -EIO;
	if (err == -EBUSY)
		return fail_plain(STEP_UNMOUNT, err,
				  "%s is busy (a program uses it): close it, or remove with -D",
				  target);
	if (*detail)
		return fail_plain(STEP_UNMOUNT, err, "cannot unmount %s: %s", target, detail);
	return fail(STEP_UNMOUNT, err, "cannot unmount %s", target);
}
