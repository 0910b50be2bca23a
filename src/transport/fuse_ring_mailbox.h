/* How answers finished on other threads reach a ring's worker (steps 3 to 5 of
 * fuse_channel_ring.h): a list under a lock, and an eventfd that the worker
 * reads through its own ring.  The eventfd is written only when the list goes
 * from empty to not empty: the worker takes the whole list at each wake-up, so
 * one write per batch is enough and none is lost. */
#ifndef IMDISK_TRANSPORT_FUSE_RING_MAILBOX_H
#define IMDISK_TRANSPORT_FUSE_RING_MAILBOX_H

#include <pthread.h>

struct fuse_ring_letter {
	struct fuse_ring_letter *next;
};

struct fuse_ring_mailbox {
	pthread_mutex_t lock;
	struct fuse_ring_letter *letters;
	int wake_fd; /* eventfd, non-blocking */
};

int fuse_ring_mailbox_init(struct fuse_ring_mailbox *mailbox);
void fuse_ring_mailbox_destroy(struct fuse_ring_mailbox *mailbox);
/* From any thread. */
void fuse_ring_mailbox_post(struct fuse_ring_mailbox *mailbox, struct fuse_ring_letter *letter);
/* On the worker: everything posted so far (newest first), or NULL. */
struct fuse_ring_letter *fuse_ring_mailbox_take(struct fuse_ring_mailbox *mailbox);

#endif
