/* A layer's pass-throughs: each operation as the lower disk's entry point, with
 * the same arguments (the lower disk checks them against its own size too). */
#include "layer/layer_internal.h"

#include <errno.h>
#include <stdlib.h>

static int pass_read(struct vdisk *layer, void *buf, size_t len, uint64_t offset)
{
	return vdisk_read(layer->lower, buf, len, offset);
}

static int pass_write(struct vdisk *layer, const void *buf, size_t len, uint64_t offset)
{
	return vdisk_write(layer->lower, buf, len, offset);
}

static int pass_flush(struct vdisk *layer)
{
	return vdisk_flush(layer->lower);
}

static int pass_trim(struct vdisk *layer, uint64_t offset, uint64_t len)
{
	return vdisk_try_trim(layer->lower, offset, len);
}

static int pass_zero(struct vdisk *layer, uint64_t offset, uint64_t len)
{
	return vdisk_zero(layer->lower, offset, len);
}

static const void *pass_view(struct vdisk *layer, size_t len, uint64_t offset)
{
	return vdisk_view(layer->lower, len, offset);
}

static void pass_view_end(struct vdisk *layer)
{
	vdisk_view_end(layer->lower);
}

static int pass_read_async(struct vdisk *layer, size_t len, uint64_t offset,
			   vdisk_read_done_fn done, void *opaque)
{
	return vdisk_read_async(layer->lower, len, offset, done, opaque);
}

static int pass_write_async(struct vdisk *layer, const void *buf, size_t len, uint64_t offset,
			    vdisk_write_done_fn done, void *opaque)
{
	return vdisk_write_async(layer->lower, buf, len, offset, done, opaque);
}

/* The layer keeps the lower disk's size: it follows a grow. */
static int pass_resize(struct vdisk *layer, uint64_t new_size)
{
	int r = vdisk_resize(layer->lower, new_size);

	if (r == 0)
		layer->size = layer->lower->size;
	return r;
}

static void pass_close(struct vdisk *layer)
{
	vdisk_close(layer->lower);
	free(layer);
}

const void *layer_no_view(struct vdisk *layer, size_t len, uint64_t offset)
{
	(void)layer;
	(void)len;
	(void)offset;
	return NULL;
}

int layer_no_read_async(struct vdisk *layer, size_t len, uint64_t offset, vdisk_read_done_fn done,
			void *opaque)
{
	(void)layer;
	(void)len;
	(void)offset;
	(void)done;
	(void)opaque;
	return -EOPNOTSUPP;
}

int layer_no_write_async(struct vdisk *layer, const void *buf, size_t len, uint64_t offset,
			 vdisk_write_done_fn done, void *opaque)
{
	(void)layer;
	(void)buf;
	(void)len;
	(void)offset;
	(void)done;
	(void)opaque;
	return -EOPNOTSUPP;
}

int layer_no_resize(struct vdisk *layer, uint64_t new_size)
{
	(void)layer;
	(void)new_size;
	return -EOPNOTSUPP;
}

struct vdisk *layer_new(const struct vdisk_ops *own, struct vdisk *lower, size_t struct_size)
{
	struct layer *layer;

	if (struct_size < sizeof(*layer))
		return NULL;
	layer = calloc(1, struct_size);
	if (!layer)
		return NULL;
	layer->ops = *own;
#define PASS(op) if (!layer->ops.op) layer->ops.op = pass_##op
	PASS(read);
	PASS(write);
	PASS(flush);
	PASS(trim);
	PASS(zero);
	PASS(view);
	PASS(view_end);
	PASS(read_async);
	PASS(write_async);
	PASS(resize);
	PASS(close);
#undef PASS
	layer->disk.ops = &layer->ops;
	layer->disk.size = lower->size;
	layer->disk.flags = lower->flags;
	layer->disk.lower = lower;
	return &layer->disk;
}
