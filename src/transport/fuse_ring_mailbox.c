/* Answers on their way to a ring's worker (fuse_ring_mailbox.h). */
#include "transport/fuse_ring_mailbox.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/trace.h"

int fuse_ring_mailbox_init(struct fuse_ring_mailbox *mailbox)
{
	mailbox->letters = NULL;
	mailbox->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (mailbox->wake_fd < 0)
		return -errno;
	pthread_mutex_init(&mailbox->lock, NULL);
	return 0;
}

void fuse_ring_mailbox_destroy(struct fuse_ring_mailbox *mailbox)
{
	if (mailbox->wake_fd < 0)
		return;
	close(mailbox->wake_fd);
	mailbox->wake_fd = -1;
	pthread_mutex_destroy(&mailbox->lock);
}

void fuse_ring_mailbox_post(struct fuse_ring_mailbox *mailbox, struct fuse_ring_letter *letter)
{
	uint64_t one = 1;
	bool was_empty;

	pthread_mutex_lock(&mailbox->lock);
	was_empty = !mailbox->letters;
	letter->next = mailbox->letters;
	mailbox->letters = letter;
	pthread_mutex_unlock(&mailbox->lock);
	/* An eventfd's counter does not overflow from one write per batch; should
	 * the write fail anyway, the answer waits for the next wake-up. */
	if (was_empty && write(mailbox->wake_fd, &one, sizeof(one)) < 0)
		trace_dropped(TRACE_FUSE, "waking a ring's worker", -errno);
}

struct fuse_ring_letter *fuse_ring_mailbox_take(struct fuse_ring_mailbox *mailbox)
{
	struct fuse_ring_letter *letters;

	pthread_mutex_lock(&mailbox->lock);
	letters = mailbox->letters;
	mailbox->letters = NULL;
	pthread_mutex_unlock(&mailbox->lock);
	return letters;
}
