/* -e: change an existing disk.  -o sets or clears the flags ImDisk lets change
 * (ro rw rem fix sparse saved); -s grows the disk by that much.  A file system
 * on the disk is left as it is: growing it is the user's step (resize2fs...). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/actions.h"
#include "cli/daemon_start.h"
#include "cli/failure.h"
#include "cli/image.h"
#include "cli/lookup.h"
#include "cli/mounttab.h"
#include "common/log.h"
#include "common/size.h"
#include "imdisk.h"

static const struct {
	uint32_t word;
	uint32_t flag;
	bool set;
	const char *name;
} flag_words[] = {
	{WORD_RO, IMDISK_OPTION_RO, true, "ro"},
	{WORD_RW, IMDISK_OPTION_RO, false, "rw"},
	{WORD_REM, IMDISK_OPTION_REMOVABLE, true, "rem"},
	{WORD_FIX, IMDISK_OPTION_REMOVABLE, false, "fix"},
	{WORD_SPARSE, IMDISK_OPTION_SPARSE_FILE, true, "sparse"},
	{WORD_SAVED, IMDISK_IMAGE_MODIFIED, false, "saved"},
};

static int change_flags(struct imdisk_client *client, const struct imdisk_device *dev,
			uint32_t words)
{
	uint32_t mask = 0, values = 0, not_changed = 0;
	char refused[64] = "";
	size_t used = 0;
	int err;

	for (size_t i = 0; i < sizeof(flag_words) / sizeof(flag_words[0]); i++) {
		if (!(words & flag_words[i].word))
			continue;
		mask |= flag_words[i].flag;
		if (flag_words[i].set)
			values |= flag_words[i].flag;
	}
	err = imdisk_set_flags(client, dev->unit, mask, values, &not_changed);
	if (err == -EPERM)
		return fail_not_owner(client, STEP_EDIT, err);
	if (err < 0)
		return fail_daemon(client, STEP_EDIT, err, "cannot change the flags of device %u",
				   dev->unit);
	if (!not_changed)
		return 0;
	for (size_t i = 0; i < sizeof(flag_words) / sizeof(flag_words[0]); i++)
		if ((words & flag_words[i].word) && (not_changed & flag_words[i].flag))
			used += (size_t)snprintf(refused + used, sizeof(refused) - used, "%s%s",
						 used ? ", " : "", flag_words[i].name);
	/* EINVAL: the disk is there but refuses this change (exit 2). */
	return fail_plain(STEP_EDIT, -EINVAL, "device %u (%s) cannot be changed to -o %s",
			  dev->unit, dev->device, refused);
}

static int grow_amount(const struct size_request *request, uint64_t *bytes)
{
	uint64_t free_bytes = 0;
	int err;

	if (request->kind != SIZE_BYTES && (err = size_free_memory(&free_bytes)) < 0)
		return fail(STEP_MEMORY, err, "cannot read the amount of free memory");
	err = size_resolve(request, free_bytes, bytes);
	if (err == -ENOMEM)
		return fail_plain(STEP_MEMORY, err, "not enough free memory to grow by that much");
	if (err < 0)
		return fail_plain(STEP_SIZE, err, "-e -s: the amount to grow by comes to zero");
	return 0;
}

/* A file disk's image is extended here, on our own descriptor and with our
 * rights, before imdiskd is asked: the daemon only checks that the image is long
 * enough, so quotas and reserved blocks hold for the caller as they would for any
 * write of its own.  The descriptor also serves a daemon that lost its own (after
 * a restart): it checks that it is the same file. */
static int grow_file(struct imdisk_client *client, const struct imdisk_device *dev, uint64_t bytes)
{
	uint64_t end;
	int fd, err;

	if (__builtin_add_overflow(dev->image_offset, dev->size, &end) ||
	    __builtin_add_overflow(end, bytes, &end))
		return fail_plain(STEP_SIZE, -ERANGE, "device %u cannot grow by that much", dev->unit);
	fd = open(dev->image, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(STEP_EDIT, -errno, "cannot open image %s to grow it", dev->image);
	err = image_extend(fd, dev->image, end, dev->flags & IMDISK_OPTION_SPARSE_FILE, STEP_EDIT);
	if (err == 0)
		err = imdisk_grow(client, dev->unit, bytes, fd);
	close(fd);
	return err;
}

static bool is_image_file_disk(const struct imdisk_device *dev)
{
	return IMDISK_TYPE(dev->flags) == IMDISK_TYPE_FILE &&
	       IMDISK_FILE_TYPE(dev->flags) != IMDISK_FILE_TYPE_AWEALLOC && dev->image[0] &&
	       !(dev->flags & IMDISK_OPTION_RO) && dev->transport != IMDISK_TRANSPORT_FUSE;
}

static int grow(struct imdisk_client *client, const struct imdisk_device *dev, uint64_t bytes)
{
	int err = is_image_file_disk(dev) ? grow_file(client, dev, bytes)
					  : imdisk_grow(client, dev->unit, bytes, -1);

	if (err < 0 && failure_recorded())
		return err; /* ours, not the daemon's: already said */
	if (err == -EPERM)
		return fail_not_owner(client, STEP_EDIT, err);
	if (err == -ENOMEM || err == -EDQUOT)
		return fail_daemon(client, STEP_EDIT, err, "cannot grow device %u", dev->unit);
	if (err < 0)
		return fail_daemon(client, STEP_EDIT, err, "cannot grow device %u (%s)", dev->unit,
				   dev->device);
	return 0;
}

static void note_file_systems(const struct imdisk_device *dev)
{
	struct mount_points mounts;

	if (mounttab_targets_of(dev->device, &mounts) < 0)
		return;
	if (mounts.count)
		log_info("note: the file system on %s keeps its size: grow it with its own tool "
			 "(resize2fs, xfs_growfs...)",
			 mounts.targets[0]);
	mount_points_free(&mounts);
}

int edit(const struct cli_options *o)
{
	struct imdisk_client *client;
	struct imdisk_device dev;
	char human[32];
	uint64_t bytes = 0;
	int err;

	if (o->has_size && (err = grow_amount(&o->size, &bytes)) < 0)
		return err;
	if ((err = daemon_connect(o->socket, &client)) < 0)
		return err;
	if ((err = lookup_disk_to_change(client, o, &dev, STEP_EDIT)) < 0)
		goto out;
	/* Flags first: "-o rw -s 1G" must make the disk writable before growing it. */
	if (o->words && (err = change_flags(client, &dev, o->words)) < 0)
		goto out;
	if (bytes && (err = grow(client, &dev, bytes)) < 0)
		goto out;
	if (imdisk_query(client, dev.unit, &dev) < 0)
		goto out; /* done; the disk just cannot be described now */
	size_format(dev.size, human, sizeof(human));
	printf("Changed device %u: %s (%s%s%s)\n", dev.unit, dev.device, human,
	       dev.flags & IMDISK_OPTION_RO ? ", read-only" : "",
	       dev.flags & IMDISK_OPTION_REMOVABLE ? ", removable" : "");
	if (bytes)
		note_file_systems(&dev);
out:
	imdisk_disconnect(client);
	return err;
}
