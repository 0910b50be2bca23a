/* What every layer shares.  A layer defines in its vdisk_ops only the operations
 * it changes; layer_new fills in every one it leaves NULL with a pass-through to
 * the lower disk, at the same offset (as nbdkit's filters pass on what they do not
 * change).  A layer that must not pass an operation on (byte swap may not show
 * the lower disk's bytes in place) sets one of the layer_no_* operations. */
#ifndef IMDISK_LAYER_LAYER_INTERNAL_H
#define IMDISK_LAYER_LAYER_INTERNAL_H

#include <stddef.h>

#include "vdisk/vdisk.h"

/* The start of every layer's struct: a vdisk, and its operations (the layer's
 * own and the pass-throughs) kept with it. */
struct layer {
	struct vdisk disk;
	struct vdisk_ops ops;
};

/* A zeroed layer of struct_size bytes (a struct layer first) on lower, with
 * lower's size and flags and the operations of own filled in as above; NULL when
 * out of memory.  The layer owns lower from then on. */
struct vdisk *layer_new(const struct vdisk_ops *own, struct vdisk *lower, size_t struct_size);

/* Operations a layer does not have (what vdisk.c does without them): no view
 * (callers read), no asynchronous read (callers read), no resize. */
const void *layer_no_view(struct vdisk *layer, size_t len, uint64_t offset);
int layer_no_read_async(struct vdisk *layer, size_t len, uint64_t offset, vdisk_read_done_fn done,
			void *opaque);
int layer_no_write_async(struct vdisk *layer, const void *buf, size_t len, uint64_t offset,
			 vdisk_write_done_fn done, void *opaque);
int layer_no_resize(struct vdisk *layer, uint64_t new_size);

#endif
