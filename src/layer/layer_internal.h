/* What every layer shares: making a layer disk on a lower one, passing flush
 * down, and closing both. */
#ifndef IMDISK_LAYER_LAYER_INTERNAL_H
#define IMDISK_LAYER_LAYER_INTERNAL_H

#include <stddef.h>

#include "vdisk/vdisk.h"

/* A zeroed layer of struct_size bytes (a struct vdisk first) on lower, with lower's
 * size and flags; NULL when out of memory.  The layer owns lower from then on. */
struct vdisk *layer_new(const struct vdisk_ops *ops, struct vdisk *lower, size_t struct_size);

int layer_flush(struct vdisk *layer);
void layer_view_end(struct vdisk *layer);
void layer_close(struct vdisk *layer);

#endif
