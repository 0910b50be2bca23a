/* Layers: a vdisk on top of another vdisk (like nbdkit's filters).  Each takes
 * ownership of `lower` on success (closing the layer closes it); on failure the
 * caller still owns it.  Flags follow the lower disk's. */
#ifndef IMDISK_LAYER_LAYER_H
#define IMDISK_LAYER_LAYER_H

#include <stdint.h>

#include "vdisk/vdisk.h"

/* Bytes [offset, offset+size) of lower; -EINVAL when the window does not fit. */
int layer_window_open(struct vdisk *lower, uint64_t offset, uint64_t size, struct vdisk **out);
/* Refuses writes, trims and zeroes with -EROFS. */
int layer_readonly_open(struct vdisk *lower, struct vdisk **out);
/* Swaps each byte pair on the way in and out (ImDisk's -o bswap). */
int layer_byteswap_open(struct vdisk *lower, struct vdisk **out);

#endif
