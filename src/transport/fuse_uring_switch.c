/* The enable_uring switch (fuse_uring_switch.h). */
#include "transport/fuse_uring_switch.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/trace.h"

#define FUSE_URING_SWITCH_LOCK "/run/imdisk-fuse-uring.lock"

static void release(struct fuse_uring_switch *sw)
{
	if (sw->fd >= 0)
		close(sw->fd);
	if (sw->lock_fd >= 0)
		close(sw->lock_fd); /* and with it the lock */
	sw->fd = sw->lock_fd = -1;
}

int fuse_uring_switch_on(struct fuse_uring_switch *sw)
{
	int r = 0;

	sw->fd = sw->lock_fd = -1;
	sw->before = 'N';
	if (access(FUSE_URING_SWITCH_PATH, F_OK) < 0)
		return -errno;
	/* Without the lock (an unwritable /run) we still go on: the lock only
	 * protects against another instance flipping it at the same moment. */
	sw->lock_fd = open(FUSE_URING_SWITCH_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (sw->lock_fd < 0) {
		trace_dropped(TRACE_FUSE, "opening " FUSE_URING_SWITCH_LOCK, -errno);
	} else if (flock(sw->lock_fd, LOCK_EX) < 0) {
		trace_dropped(TRACE_FUSE, "locking " FUSE_URING_SWITCH_LOCK, -errno);
		close(sw->lock_fd);
		sw->lock_fd = -1;
	}
	sw->fd = open(FUSE_URING_SWITCH_PATH, O_RDWR | O_CLOEXEC);
	if (sw->fd < 0)
		r = -errno;
	else if (pread(sw->fd, &sw->before, 1, 0) != 1)
		r = -EIO;
	else if (pwrite(sw->fd, "Y", 1, 0) != 1)
		r = errno ? -errno : -EIO;
	trace(TRACE_FUSE, "enable_uring was %c: %s", sw->before, r < 0 ? "cannot turn it on" : "turned on");
	if (r < 0)
		release(sw);
	return r;
}

int fuse_uring_switch_restore(struct fuse_uring_switch *sw)
{
	int r = 0;

	if (sw->fd >= 0 && sw->before != 'Y' && pwrite(sw->fd, &sw->before, 1, 0) != 1)
		r = -EIO;
	trace(TRACE_FUSE, "enable_uring set back to %c%s", sw->before, r < 0 ? ": failed" : "");
	release(sw);
	return r;
}
