/* The kernel's switch for FUSE over io_uring,
 * /sys/module/fuse/parameters/enable_uring: machine-wide and off by default.
 * A connection made while it is on keeps io_uring, so it is turned on only
 * around the making of our connection (transport_fuse_start), then set back.
 * A lock file serializes imdiskd instances flipping it, so that none takes
 * another's "on" for the machine's setting and leaves it on for good.
 * Silent: results are returned, the caller reports them. */
#ifndef IMDISK_TRANSPORT_FUSE_URING_SWITCH_H
#define IMDISK_TRANSPORT_FUSE_URING_SWITCH_H

#define FUSE_URING_SWITCH_PATH "/sys/module/fuse/parameters/enable_uring"

struct fuse_uring_switch {
	int fd;      /* the switch, while held */
	int lock_fd; /* the lock file, while held */
	char before; /* 'Y' or 'N', as found */
};

/* Take the lock and turn the switch on.  -ENOENT: this kernel has no FUSE over
 * io_uring; another negative errno: the switch could not be turned on.  Either
 * way the switch is released (nothing to restore). */
int fuse_uring_switch_on(struct fuse_uring_switch *sw);

/* Set the switch back as found and drop the lock; -errno if it could not be
 * set back. */
int fuse_uring_switch_restore(struct fuse_uring_switch *sw);

#endif
