/* The user-space transport: disks served by our own code appear as regular files
 * in imdiskd's private FUSE mount; the kernel loop driver (direct I/O) on such a
 * file gives the user a /dev/loopN. */
#ifndef IMDISK_TRANSPORT_FUSE_H
#define IMDISK_TRANSPORT_FUSE_H

#include <stddef.h>

#include "vdisk/vdisk.h"

struct transport_fuse;

/* Mount at `mountpoint` (an existing empty directory) and start `workers` threads. */
int transport_fuse_start(const char *mountpoint, unsigned workers, struct transport_fuse **out);

/* Publish `disk` as the file `name`; its full path goes to path[].  The transport
 * does not own the disk: remove it before closing the disk. */
int transport_fuse_add(struct transport_fuse *fuse, const char *name, struct vdisk *disk, char *path,
		       size_t path_size);

/* Unpublish (waits for requests in flight on that disk); -ENOENT if not there. */
int transport_fuse_remove(struct transport_fuse *fuse, const char *name);

/* Tell the kernel the file's size changed (after vdisk_resize). */
int transport_fuse_resized(struct transport_fuse *fuse, const char *name);

/* Unmount and stop the workers. */
void transport_fuse_stop(struct transport_fuse *fuse);

#endif
