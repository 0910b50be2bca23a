#include "cli/lookup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/failure.h"
#include "cli/mounttab.h"
#include "common/ownership.h"

int lookup_units(struct imdisk_client *client, uint32_t **units, size_t *count)
{
	size_t capacity = 64;

	/* The list may grow between two calls: ask again until it fits. */
	for (;;) {
		uint32_t *buf = malloc(capacity * sizeof(*buf));
		int total;

		if (!buf)
			return fail(STEP_QUERY, -ENOMEM, "cannot list disks");
		total = imdisk_list(client, buf, capacity);
		if (total < 0) {
			free(buf);
			return fail_daemon(client, STEP_QUERY, total, "cannot list disks");
		}
		if ((size_t)total <= capacity) {
			*units = buf;
			*count = (size_t)total;
			return 0;
		}
		free(buf);
		capacity = (size_t)total + 16;
	}
}

static int lookup_unit(struct imdisk_client *client, uint32_t unit, struct imdisk_device *device)
{
	int err = imdisk_query(client, unit, device);

	if (err == -ENOENT || err == -ENODEV || err == -ENXIO)
		return fail_plain(STEP_FIND, err, "no virtual disk has unit %u", unit);
	if (err < 0)
		return fail_daemon(client, STEP_FIND, err, "cannot query unit %u", unit);
	return 0;
}

static bool device_matches(const struct imdisk_device *device, dev_t devno, const char *source)
{
	struct stat st;

	if (device->device[0] == '\0')
		return false;
	if (stat(device->device, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == devno)
		return true;
	return *source && strcmp(source, device->device) == 0;
}

static int lookup_mount_point(struct imdisk_client *client, const char *dir,
			      struct imdisk_device *device)
{
	char source[4096];
	uint32_t *units;
	size_t count;
	dev_t devno;
	int err;

	err = mounttab_device_at(dir, &devno, source, sizeof(source));
	if (err == -ENOENT && access(dir, F_OK) == 0)
		return fail_plain(STEP_FIND, err, "%s is not a mount point", dir);
	if (err < 0)
		return fail(STEP_FIND, err, "no virtual disk is mounted on %s", dir);
	if ((err = lookup_units(client, &units, &count)) < 0)
		return err;
	for (size_t i = 0; i < count; i++) {
		/* A disk removed meanwhile is simply not the one. */
		if (imdisk_query(client, units[i], device) == 0 &&
		    device_matches(device, devno, source)) {
			free(units);
			return 0;
		}
	}
	free(units);
	return fail_plain(STEP_FIND, -ENOENT, "no virtual disk is mounted on %s (%s is)", dir,
			  *source ? source : "another file system");
}

int lookup_disk(struct imdisk_client *client, const struct cli_options *o,
		struct imdisk_device *device)
{
	if (o->has_unit)
		return lookup_unit(client, o->unit, device);
	return lookup_mount_point(client, o->mount_point, device);
}

int lookup_disk_to_change(struct imdisk_client *client, const struct cli_options *o,
			  struct imdisk_device *device, enum cli_step step)
{
	struct imdisk_owner owner;
	char refusal[512];
	uid_t self = geteuid();
	int err;

	if ((err = lookup_disk(client, o, device)) < 0)
		return err;
	/* A daemon that names no owner, or a disk gone meanwhile: the request itself
	 * gets the daemon's answer. */
	if (self == 0 || imdisk_query_owner(client, device->unit, NULL, &owner) < 0 || owner.uid == self)
		return 0;
	ownership_refusal(refusal, sizeof(refusal), device->unit, owner.uid);
	return fail_plain(step, -EPERM, "%s", refusal);
}

int fail_not_owner(const struct imdisk_client *client, enum cli_step step, int err)
{
	const char *message = imdisk_error_message(client);

	return fail_plain(step, err, "%s", *message ? message : "only the disk's owner or root may change it");
}
