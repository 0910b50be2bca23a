/* The io_uring channel: FUSE over io_uring (kernel 6.14+, offered only while
 * root has set /sys/module/fuse/parameters/enable_uring, see
 * fuse_uring_switch.h).
 *
 * N workers, each a thread with its own ring and buffers ("entries")
 * registered on every kernel queue (the kernel has one queue per possible CPU
 * and hands a request to the queue of the CPU it was issued on), so one CPU
 * issuing all requests (one loop device) still keeps several workers busy.
 * The kernel writes a request into an entry's buffers and completes that
 * entry's command; we answer by committing the reply and fetching the entry's
 * next request in one SQE (COMMIT_AND_FETCH), and one io_uring_enter() carries
 * a whole batch of them.  An entry holds its request until its answer is
 * committed.  FORGET and INTERRUPT still come through /dev/fuse, so one
 * /dev/fuse worker stays (fuse_channel_dev.h).
 *
 * A request answered from another thread (a proxy disk's reads finish on that
 * disk's reader threads; every request on a disk that may wait is done on the
 * disk's own threads, fuse_disk_queue.h), step by step:
 *
 *  1. The ring's worker serves the request in entry E; the handler calls
 *     defer(), which returns E's own completion state (struct fuse_pending,
 *     inside the entry: no allocation) and starts the read (or queues the
 *     job on the disk's threads).  The worker goes on with the rest of its
 *     batch; E stays out of the kernel's hands.
 *  2. The disk's thread has the bytes and calls complete(E, result, data):
 *     the data is copied into E's payload buffer (unless the disk read into
 *     it already) and the result noted in E, while the disk is still held by
 *     the handler, so a removal of the disk waits for this.
 *  3. Still on the disk's thread: E is pushed on the worker's `finished` list
 *     (fuse_ring_mailbox.h: under its lock, the only lock between the two
 *     threads); if the list was empty, its eventfd `wake_fd` is written once.
 *     The disk's thread never touches the ring: a ring has a single submitter
 *     (IORING_SETUP_SINGLE_ISSUER), and the kernel would refuse it.
 *  4. The worker always has a read of `wake_fd` in flight on its own ring;
 *     its completion (RING_WAKE) wakes io_uring_submit_and_wait().
 *  5. The worker takes the whole `finished` list at once, and for each entry
 *     writes the answer header and queues COMMIT_AND_FETCH, like any answer
 *     of its own; then it re-arms the read of `wake_fd` (step 4).
 *  6. The next io_uring_enter() commits them; the kernel puts E's next request
 *     into E's buffers.
 * At stop, answers still on the list are committed before the ring closes. */
#ifndef IMDISK_TRANSPORT_FUSE_CHANNEL_RING_H
#define IMDISK_TRANSPORT_FUSE_CHANNEL_RING_H

#include <stdbool.h>

#include "transport/fuse_channel.h"

struct fuse_ring_channel;

extern const struct fuse_channel_ops fuse_ring_channel_ops;

/* Once INIT accepts io_uring, the kernel holds every request until our
 * buffers are registered: accept it only if this process can make the rings
 * it needs (io_uring may be disabled by kernel.io_uring_disabled or a seccomp
 * policy). */
bool fuse_ring_usable(void);

/* Start `workers` ring threads and wait until each has registered its entries
 * (or failed); *out is set even on failure, for fuse_ring_channel_stop. */
int fuse_ring_channel_start(const struct fuse_channel_config *config, unsigned workers,
			    struct fuse_ring_channel **out);
void fuse_ring_channel_stop(struct fuse_ring_channel *channel);

#endif
