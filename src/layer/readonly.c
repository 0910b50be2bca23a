/* Read-only on top of any disk.  vdisk_write/trim/zero already refuse on the
 * flag; the ops refuse too, for callers that reach them some other way. */
#include "layer/layer.h"
#include "layer/layer_internal.h"

#include <errno.h>

static int readonly_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	(void)disk;
	(void)buf;
	(void)len;
	(void)offset;
	return -EROFS;
}

static int readonly_write_async(struct vdisk *disk, const void *buf, size_t len, uint64_t offset,
				vdisk_write_done_fn done, void *opaque)
{
	(void)disk;
	(void)buf;
	(void)len;
	(void)offset;
	(void)done;
	(void)opaque;
	return -EROFS;
}

static int readonly_discard(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	(void)disk;
	(void)offset;
	(void)len;
	return -EROFS;
}

static int readonly_resize(struct vdisk *disk, uint64_t new_size)
{
	(void)disk;
	(void)new_size;
	return -EROFS;
}

/* Reads, views and flushes pass through. */
static const struct vdisk_ops readonly_ops = {
	.name = "readonly",
	.write = readonly_write,
	.write_async = readonly_write_async,
	.trim = readonly_discard,
	.zero = readonly_discard,
	.resize = readonly_resize,
};

int layer_readonly_open(struct vdisk *lower, struct vdisk **out)
{
	struct vdisk *disk;

	if (!lower)
		return -EINVAL;
	disk = layer_new(&readonly_ops, lower, sizeof(struct layer));
	if (!disk)
		return -ENOMEM;
	/* Nothing can be trimmed, zeroed or written: do not let a frontend
	 * advertise it, nor prepare an asynchronous write. */
	disk->flags = (lower->flags | VDISK_READ_ONLY) &
		      ~(VDISK_CAN_TRIM | VDISK_CAN_ZERO | VDISK_TRIM_ZEROES | VDISK_ASYNC_WRITE);
	*out = disk;
	return 0;
}
