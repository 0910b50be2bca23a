/* The /dev/fuse channel: N workers, each with its own clone of the session
 * descriptor (FUSE_DEV_IOC_CLONE) and its own buffer.  A worker read()s one
 * request, the handlers work straight in / out of that buffer (WRITE data is
 * laid out to start page aligned; READ data is produced in place) and the
 * answer is one writev() of header + data: two system calls per request.
 *
 * A request answered later (fuse_channel.h's defer) is answered with its own
 * writev() on the clone it came on, from whichever thread finishes it: the
 * kernel matches an answer to its request on that clone. */
#ifndef IMDISK_TRANSPORT_FUSE_CHANNEL_DEV_H
#define IMDISK_TRANSPORT_FUSE_CHANNEL_DEV_H

#include <sys/uio.h>

#include "transport/fuse_channel.h"

struct fuse_dev_channel;

extern const struct fuse_channel_ops fuse_dev_channel_ops;

/* Start `workers` threads (the caller has blocked the signals they must not
 * take); *out is set even on failure, for fuse_dev_channel_stop. */
int fuse_dev_channel_start(const struct fuse_channel_config *config, unsigned workers,
			   struct fuse_dev_channel **out);
/* Stop the workers (cancelled while they wait for a request, never while they
 * serve one) and close their clones. */
void fuse_dev_channel_stop(struct fuse_dev_channel *channel);

/* One message to the kernel: iov[0] is a fuse_out_header whose len this sets.
 * An answer to a request that was interrupted and is gone (ENOENT) is 0. */
int fuse_dev_send(int fd, struct iovec *iov, int count);

#endif
