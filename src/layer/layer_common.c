#include "layer/layer_internal.h"

#include <stdlib.h>

struct vdisk *layer_new(const struct vdisk_ops *ops, struct vdisk *lower, size_t struct_size)
{
	struct vdisk *layer = calloc(1, struct_size);

	if (!layer)
		return NULL;
	layer->ops = ops;
	layer->size = lower->size;
	layer->flags = lower->flags;
	layer->lower = lower;
	return layer;
}

int layer_flush(struct vdisk *layer)
{
	return vdisk_flush(layer->lower);
}

void layer_view_end(struct vdisk *layer)
{
	vdisk_view_end(layer->lower);
}

void layer_close(struct vdisk *layer)
{
	vdisk_close(layer->lower);
	free(layer);
}
