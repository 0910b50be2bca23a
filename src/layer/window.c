/* A window onto the lower disk: an image offset, a partition, or both. */
#include "layer/layer.h"
#include "layer/layer_internal.h"

#include <errno.h>

struct window_layer {
	struct layer layer;
	uint64_t offset; /* where the window starts on the lower disk */
};

static uint64_t lower_offset(struct vdisk *disk, uint64_t offset)
{
	return ((struct window_layer *)disk)->offset + offset;
}

static int window_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	return vdisk_read(disk->lower, buf, len, lower_offset(disk, offset));
}

static int window_read_async(struct vdisk *disk, size_t len, uint64_t offset, vdisk_read_done_fn done,
			   void *opaque)
{
	return vdisk_read_async(disk->lower, len, lower_offset(disk, offset), done, opaque);
}

static const void *window_view(struct vdisk *disk, size_t len, uint64_t offset)
{
	return vdisk_view(disk->lower, len, lower_offset(disk, offset));
}

static int window_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	return vdisk_write(disk->lower, buf, len, lower_offset(disk, offset));
}

static int window_write_async(struct vdisk *disk, const void *buf, size_t len, uint64_t offset,
			      vdisk_write_done_fn done, void *opaque)
{
	return vdisk_write_async(disk->lower, buf, len, lower_offset(disk, offset), done, opaque);
}

static int window_trim(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	return vdisk_try_trim(disk->lower, lower_offset(disk, offset), len);
}

static int window_zero(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	return vdisk_zero(disk->lower, lower_offset(disk, offset), len);
}

/* Every operation with an offset moves it; flush and view_end pass through.  No
 * resize: a window's end is a partition boundary or a size the user gave. */
static const struct vdisk_ops window_ops = {
	.name = "window",
	.read = window_read,
	.read_async = window_read_async,
	.view = window_view,
	.write = window_write,
	.write_async = window_write_async,
	.trim = window_trim,
	.zero = window_zero,
	.resize = layer_no_resize,
};

int layer_window_open(struct vdisk *lower, uint64_t offset, uint64_t size, struct vdisk **out)
{
	struct window_layer *window;

	if (!lower || offset > lower->size || size > lower->size - offset)
		return -EINVAL;
	window = (struct window_layer *)layer_new(&window_ops, lower, sizeof(*window));
	if (!window)
		return -ENOMEM;
	window->offset = offset;
	window->layer.disk.size = size;
	*out = &window->layer.disk;
	return 0;
}
