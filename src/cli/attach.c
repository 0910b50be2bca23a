/* -a: prepare the image (or memory, or proxy connection) with the caller's
 * rights, have imdiskd create the disk, then format and mount it as asked.  A
 * failure after the disk exists removes it again (and an image this run
 * created), so a failed -a leaves nothing behind. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/actions.h"
#include "cli/daemon_start.h"
#include "cli/failure.h"
#include "cli/format.h"
#include "cli/image.h"
#include "cli/mount.h"
#include "cli/nbd.h"
#include "cli/persist.h"
#include "cli/proxy.h"
#include "common/log.h"
#include "common/nbd_uri.h"
#include "common/size.h"
#include "image/geometry.h"
#include "image/image_format.h"
#include "imdisk.h"

/* -o awe: RAM that is never swapped out, loaded from -f when one is given.
 * ImDisk's own numbers: a file disk whose "file" is the AWE allocator. */
#define AWE_BACKING (IMDISK_TYPE_FILE | IMDISK_FILE_TYPE_AWEALLOC)

static bool is_memory(uint32_t flags)
{
	return IMDISK_TYPE(flags) == IMDISK_TYPE_VM ||
	       (IMDISK_TYPE(flags) == IMDISK_TYPE_FILE &&
		IMDISK_FILE_TYPE(flags) == IMDISK_FILE_TYPE_AWEALLOC);
}

struct attach_plan {
	struct imdisk_device device;
	struct image image;       /* file disks and preloaded RAM disks */
	int proxy_fd;             /* proxy disks: the connected server */
	bool memory;              /* vm or awe: size is checked against free memory */
	bool has_size;            /* -s given (and not 0, ImDisk's "automatic") */
	uint64_t size;            /* -s resolved, when has_size */
};

static uint32_t requested_device_type(uint32_t words)
{
	if (words & WORD_HD)
		return IMDISK_DEVICE_TYPE_HD;
	if (words & WORD_FD)
		return IMDISK_DEVICE_TYPE_FD;
	if (words & WORD_CD)
		return IMDISK_DEVICE_TYPE_CD;
	if (words & WORD_RAW)
		return IMDISK_DEVICE_TYPE_RAW;
	return IMDISK_DEVICE_TYPE_AUTO;
}

static uint32_t backing_flags(const struct cli_options *o)
{
	if (o->words & WORD_AWE)
		return AWE_BACKING;
	switch (o->kind) {
	case DISK_KIND_PROXY:
		if (o->words & WORD_IP)
			return IMDISK_TYPE_PROXY | IMDISK_PROXY_TYPE_TCP;
		if (o->words & WORD_COMM)
			return IMDISK_TYPE_PROXY | IMDISK_PROXY_TYPE_COMM;
		if (o->words & WORD_SHM)
			return IMDISK_TYPE_PROXY | IMDISK_PROXY_TYPE_SHM;
		return IMDISK_TYPE_PROXY | IMDISK_PROXY_TYPE_DIRECT;
	case DISK_KIND_FILE:
		if (o->words & WORD_PAR)
			return IMDISK_TYPE_FILE | IMDISK_FILE_TYPE_PARALLEL_IO;
		if (o->words & WORD_BUF)
			return IMDISK_TYPE_FILE | IMDISK_FILE_TYPE_BUFFERED_IO;
		return IMDISK_TYPE_FILE | IMDISK_FILE_TYPE_QUEUED_IO;
	default:
		return IMDISK_TYPE_VM;
	}
}

/* -s against free memory where it asks for N% or "free minus N"; then up to a
 * whole sector, since "-s 4m" (4,000,000 bytes) is what a user naturally types. */
static int resolve_size(const struct size_request *request, uint32_t sector_size, uint64_t *bytes)
{
	uint64_t free_bytes = 0;
	char human[32];
	int err;

	if (request->kind != SIZE_BYTES && (err = size_free_memory(&free_bytes)) < 0)
		return fail(STEP_MEMORY, err, "cannot read the amount of free memory");
	err = size_resolve(request, free_bytes, bytes);
	if (err == -ENOMEM) {
		size_format(free_bytes, human, sizeof(human));
		return fail_plain(STEP_MEMORY, err, "not enough memory: only %s is free", human);
	}
	if (err < 0)
		return fail_plain(STEP_SIZE, err, "the size comes to zero bytes");
	if (*bytes % sector_size) {
		uint64_t rounded = *bytes + (sector_size - *bytes % sector_size);

		if (rounded < *bytes)
			return fail_plain(STEP_SIZE, -ERANGE, "the size is too large");
		log_info("note: size rounded up from %llu to %llu bytes (a multiple of %u)",
			 (unsigned long long)*bytes, (unsigned long long)rounded, sector_size);
		*bytes = rounded;
	}
	return 0;
}

static int check_free_memory(uint64_t size)
{
	char want[32], have[32];
	uint64_t free_bytes;

	/* When the amount cannot be read the daemon still answers -ENOMEM. */
	if (size_free_memory(&free_bytes) < 0 || size <= free_bytes)
		return 0;
	size_format(size, want, sizeof(want));
	size_format(free_bytes, have, sizeof(have));
	return fail_plain(STEP_MEMORY, -ENOMEM, "not enough memory for a %s RAM disk: %s is free",
			  want, have);
}

static bool is_cd(const struct cli_options *o)
{
	uint32_t type = requested_device_type(o->words);

	if (type == IMDISK_DEVICE_TYPE_CD)
		return true;
	return type == IMDISK_DEVICE_TYPE_AUTO && o->image && o->kind != DISK_KIND_PROXY &&
	       geometry_name_is_cd(o->image);
}

/* A qcow2, VMDK, VHDX, VDI or QED file attached as raw would show its metadata as
 * disk content without a word; until those formats are served, say what it is. */
static int refuse_container_formats(const struct image *img)
{
	uint8_t head[IMAGE_FORMAT_PROBE_SIZE];
	ssize_t got = pread(img->fd, head, sizeof(head), 0);
	enum image_format format;

	if (got <= 0)
		return 0;
	format = image_format_detect(head, (size_t)got);
	if (format == IMAGE_FORMAT_RAW || format == IMAGE_FORMAT_VHD)
		return 0;
	return fail_plain(STEP_UNSUPPORTED, -ENOTSUP,
			  "%s is a %s image, which imdisk cannot serve yet: convert it to raw "
			  "(qemu-img convert -O raw)",
			  img->path, image_format_name(format));
}

/* The image's window: -b, -b auto, -v; then the size the disk gets. */
static int locate_window(const struct cli_options *o, struct attach_plan *plan)
{
	struct image *img = &plan->image;
	uint64_t offset = o->offset, window = 0;
	uint32_t table_sector = o->sector_size && o->sector_size != 2048 ? o->sector_size : 512;
	char human[32];
	int err;

	if (o->offset_auto && (err = image_auto_offset(img, &offset, &window)) < 0)
		return err;
	if (o->partition &&
	    (err = image_partition(img, offset, table_sector, o->partition, &offset, &window)) < 0)
		return err;
	if (offset > img->size || (offset == img->size && !plan->has_size)) {
		size_format(img->size, human, sizeof(human));
		return fail_plain(STEP_IMAGE, -EINVAL,
				  "offset %llu is past the end of image %s (%llu bytes, %s)",
				  (unsigned long long)offset, img->path,
				  (unsigned long long)img->size, human);
	}
	plan->device.image_offset = offset;
	if (plan->has_size)
		plan->device.size = plan->size;
	else
		plan->device.size = window ? window : img->size - offset;
	/* A file disk larger than its image grows the image (as ImDisk does), here with
	 * our rights: imdiskd never extends a caller's file. */
	if (!plan->memory && plan->has_size && !img->read_only && !img->block_device) {
		if (plan->device.size > UINT64_MAX - offset)
			return fail_plain(STEP_SIZE, -ERANGE, "offset and size are too large");
		err = image_extend(img->fd, img->path, offset + plan->device.size,
				   o->words & WORD_SPARSE, STEP_IMAGE);
		if (err < 0)
			return err;
	}
	return 0;
}

static int prepare_image(const struct cli_options *o, struct attach_plan *plan, bool read_only)
{
	struct stat st;
	int err;

	/* A missing image is created when -s says how large (and nothing has to be
	 * found inside it). */
	if (!plan->memory && plan->has_size && !read_only && !o->offset_auto && !o->partition &&
	    stat(o->image, &st) < 0 && errno == ENOENT) {
		if (plan->size > UINT64_MAX - o->offset)
			return fail_plain(STEP_SIZE, -ERANGE, "offset and size are too large");
		err = image_create(&plan->image, o->image, o->offset + plan->size,
				   o->words & WORD_SPARSE);
	} else {
		/* RAM disks only read their image; so do CDs and -o ro. */
		err = image_open(&plan->image, o->image, plan->memory || read_only, true);
	}
	if (err < 0)
		return err;
	if ((err = refuse_container_formats(&plan->image)) < 0)
		return err;
	if (!plan->memory && plan->image.read_only)
		plan->device.flags |= IMDISK_OPTION_RO;
	snprintf(plan->device.image, sizeof(plan->device.image), "%s", plan->image.path);
	return locate_window(o, plan);
}

static int prepare(const struct cli_options *o, struct attach_plan *plan)
{
	struct imdisk_device *dev = &plan->device;
	bool cd = is_cd(o);
	bool read_only = (o->words & WORD_RO) || cd;
	int err;

	dev->unit = o->has_unit ? o->unit : IMDISK_AUTO_UNIT;
	dev->transport = o->transport;
	/* Device type and geometry by ImDisk's rules are imdiskd's (it reads the boot
	 * sector through the descriptor): only what was asked for is passed on. */
	dev->sector_size = o->sector_size;
	dev->sectors_per_track = o->sectors_per_track;
	dev->tracks_per_cylinder = o->tracks_per_cylinder;
	dev->flags = backing_flags(o) | requested_device_type(o->words);
	if (cd)
		dev->flags = (dev->flags & ~IMDISK_DEVICE_TYPE_MASK) | IMDISK_DEVICE_TYPE_CD;
	if (read_only)
		dev->flags |= IMDISK_OPTION_RO;
	if (o->words & WORD_REM)
		dev->flags |= IMDISK_OPTION_REMOVABLE;
	/* Only imdiskd knows whether the disk ends up a floppy (removable by default). */
	if (o->words & WORD_FIX)
		dev->flags |= IMDISK_OPTION_FIXED_MEDIA;
	if (o->words & WORD_BSWAP)
		dev->flags |= IMDISK_OPTION_BYTE_SWAP;
	if (o->words & WORD_SPARSE)
		dev->flags |= IMDISK_OPTION_SPARSE_FILE;
	if (o->words & WORD_SHARED)
		dev->flags |= IMDISK_SHARED_IMAGE;
	plan->memory = is_memory(dev->flags);
	plan->has_size = o->has_size && !(o->size.kind == SIZE_BYTES && o->size.value == 0);
	if (plan->has_size && (err = resolve_size(&o->size, o->sector_size ? o->sector_size : 512, &plan->size)) < 0)
		return err;

	if (IMDISK_TYPE(dev->flags) == IMDISK_TYPE_PROXY) {
		/* The server knows its size and geometry; the daemon asks it (INFO). */
		snprintf(dev->image, sizeof(dev->image), "%s", o->image);
		dev->image_offset = o->offset;
		dev->size = plan->has_size ? plan->size : 0;
		/* A shared-memory server has no stream: imdiskd attaches to the section
		 * by name, checking access with our identity. */
		if (IMDISK_PROXY_TYPE(dev->flags) == IMDISK_PROXY_TYPE_SHM)
			return 0;
		if (nbd_uri_is_nbd(o->image)) {
			uint32_t kind = 0;

			/* The same role for an NBD server; imdiskd knows the disk for an
			 * NBD one by its URI. */
			plan->proxy_fd = nbd_connect_uri(o->image, &kind);
			dev->flags = (dev->flags & ~IMDISK_PROXY_TYPE_MASK) | kind;
			return plan->proxy_fd < 0 ? plan->proxy_fd : 0;
		}
		/* ImDisk's proxy service role: the connection is opened with our rights. */
		plan->proxy_fd = proxy_connect(o->image, IMDISK_PROXY_TYPE(dev->flags));
		return plan->proxy_fd < 0 ? plan->proxy_fd : 0;
	}
	if (o->image) {
		if ((err = prepare_image(o, plan, read_only)) < 0)
			return err;
	} else {
		dev->size = plan->size;
	}
	if (plan->memory && (err = check_free_memory(dev->size)) < 0)
		return err;
	return 0;
}

static int create_failed(struct imdisk_client *client, const struct cli_options *o, int err)
{
	if (err == -EEXIST && o->has_unit)
		return fail_plain(STEP_CREATE, err, "unit %u is already in use", o->unit);
	if (err == -ENOSPC)
		return fail_daemon(client, STEP_CREATE, err, "no free unit or loop device");
	if (err == -ENOMEM)
		return fail_daemon(client, STEP_CREATE, err, "not enough memory for the disk");
	return fail_daemon(client, STEP_CREATE, err, "cannot create the disk");
}

/* Undo a create whose format or mount failed; the failure that led here is
 * already recorded, so problems here are only warnings. */
static void remove_again(struct imdisk_client *client, uint32_t unit)
{
	int err = imdisk_remove(client, unit, IMDISK_REMOVE_NORMAL);

	if (err == -EBUSY)
		err = imdisk_remove(client, unit, IMDISK_REMOVE_FORCE);
	if (err < 0)
		log_warning("could not remove unit %u again: %s", unit, strerror(-err));
}

static int finish(const struct cli_options *o, struct attach_plan *plan, char *mounted_on)
{
	const struct imdisk_device *dev = &plan->device;
	struct made_dir made;
	int err;

	/* A RAM disk not preloaded from an image was just made from fresh memory: it
	 * reads all zeroes, which spares mkfs some work (and the disk its memory). */
	if (o->format && (err = format_device(dev->device, o->format, plan->memory && !o->image)) < 0)
		return err;
	if (!o->mount_point)
		return 0;
	if ((err = mount_make_dir(o->mount_point, &made)) < 0)
		return err;
	if (!realpath(o->mount_point, mounted_on))
		err = fail(STEP_MOUNT_POINT, -errno, "bad mount point %s", o->mount_point);
	else
		err = mount_device(dev->device, mounted_on, dev->flags & IMDISK_OPTION_RO, o->mount_options);
	if (err < 0)
		mount_unmake_dir(&made);
	return err;
}

static void report(const struct cli_options *o, const struct imdisk_device *dev,
		   const char *mounted_on)
{
	char human[32];

	if (o->numeric) {
		printf("%u\n", dev->unit);
		return;
	}
	size_format(dev->size, human, sizeof(human));
	printf("Created device %u: %s (%s)", dev->unit, dev->device, human);
	if (*mounted_on)
		printf(" mounted on %s", mounted_on);
	printf("\n");
}

int attach(const struct cli_options *o)
{
	struct attach_plan plan = {.image = IMAGE_CLOSED, .proxy_fd = -1};
	struct imdisk_client *client = NULL;
	char mounted_on[PATH_MAX] = "";
	int fd, err;

	/* Everything that can fail locally fails before imdiskd is bothered. */
	if (o->mount_point && (err = mount_check_dir(o->mount_point)) < 0)
		return err;
	if ((err = prepare(o, &plan)) < 0)
		goto out;
	if ((err = daemon_connect(o->socket, &client)) < 0)
		goto out;
	fd = plan.proxy_fd >= 0 ? plan.proxy_fd : plan.image.fd;
	err = imdisk_create(client, &plan.device, fd);
	if (err < 0) {
		create_failed(client, o, err);
		goto out;
	}
	/* imdiskd holds its own copies now. */
	image_close(&plan.image);
	if ((err = finish(o, &plan, mounted_on)) < 0) {
		remove_again(client, plan.device.unit);
		goto out;
	}
	report(o, &plan.device, mounted_on);
	if (o->persist)
		err = persist_save(o, plan.device.unit); /* the disk stays either way */
out:
	if (err < 0)
		image_discard(&plan.image);
	else
		image_close(&plan.image);
	if (plan.proxy_fd >= 0)
		close(plan.proxy_fd);
	if (client)
		imdisk_disconnect(client);
	return err;
}
