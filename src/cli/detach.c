/* -d, -D, -R: unmount the disk everywhere (never for -R), then have imdiskd
 * remove it.  -d stops at the first mount that is busy and keeps the disk; -D
 * detaches mounts lazily and removes the disk even while it is in use; -R removes
 * at once without unmounting or flushing, for disks whose server hangs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/actions.h"
#include "cli/daemon_start.h"
#include "cli/failure.h"
#include "cli/lookup.h"
#include "cli/mount.h"
#include "cli/mounttab.h"
#include "cli/persist.h"
#include "common/log.h"
#include "imdisk.h"

static int unmount_all(const struct imdisk_device *dev, bool lazy)
{
	struct mount_points points;
	int err;

	if ((err = mounttab_targets_of(dev->device, &points)) < 0)
		return fail(STEP_UNMOUNT, err, "cannot read the mount table");
	/* Newest first: a later mount may sit inside an earlier one. */
	for (size_t i = points.count; i-- > 0;) {
		err = unmount_target(points.targets[i], lazy);
		if (err < 0 && !lazy)
			break;
		if (err < 0)
			log_warning("could not detach %s: %s", points.targets[i], strerror(-err));
		err = 0;
	}
	mount_points_free(&points);
	return err;
}

static int remove_disk(struct imdisk_client *client, const struct imdisk_device *dev,
		       enum imdisk_remove_mode mode)
{
	int err = imdisk_remove(client, dev->unit, mode);

	if (err == -EBUSY)
		return fail_plain(STEP_REMOVE, err,
				  "device %u (%s) is busy: a program has it open (remove anyway "
				  "with -D)",
				  dev->unit, dev->device);
	if (err == -ENOENT || err == -ENODEV || err == -ENXIO)
		return fail_plain(STEP_REMOVE, err, "no virtual disk has unit %u", dev->unit);
	if (err == -EPERM)
		return fail_not_owner(client, STEP_REMOVE, err);
	if (err < 0)
		return fail_daemon(client, STEP_REMOVE, err, "cannot remove device %u (%s)",
				   dev->unit, dev->device);
	return 0;
}

int detach(const struct cli_options *o)
{
	struct imdisk_client *client = NULL;
	struct imdisk_device dev;
	int err;

	if ((err = daemon_connect(o->socket, &client)) < 0)
		return err;
	if ((err = lookup_disk_to_change(client, o, &dev, STEP_REMOVE)) < 0)
		goto out;
	if (o->remove_mode != IMDISK_REMOVE_EMERGENCY &&
	    (err = unmount_all(&dev, o->remove_mode == IMDISK_REMOVE_FORCE)) < 0)
		goto out;
	if ((err = remove_disk(client, &dev, o->remove_mode)) < 0)
		goto out;
	printf("Removed device %u: %s\n", dev.unit, dev.device);
	if (o->persist)
		err = persist_forget(dev.unit);
out:
	imdisk_disconnect(client);
	return err;
}
