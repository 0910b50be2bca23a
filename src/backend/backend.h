/* Where bytes live: each backend returns a struct vdisk (see vdisk/vdisk.h). */
#ifndef IMDISK_BACKEND_BACKEND_H
#define IMDISK_BACKEND_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "vdisk/vdisk.h"

/* RAM: an anonymous memory file (memfd) of `size` bytes, mapped; trim punches holes
 * so the memory goes back to the system. */
int backend_memory_open(uint64_t size, struct vdisk **out);

/* An open image file or block device; takes ownership of fd.  read_only follows the
 * descriptor's access mode when false is not possible.  Trim punches holes
 * (FALLOC_FL_PUNCH_HOLE), zero uses FALLOC_FL_ZERO_RANGE (or BLKZEROOUT on devices). */
int backend_file_open(int fd, bool read_only, struct vdisk **out);

#endif
