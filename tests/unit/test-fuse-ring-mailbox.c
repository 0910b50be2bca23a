/* The io_uring channel's completion path without FUSE: answers finished on
 * other threads reach a ring's worker through fuse_ring_mailbox, the worker
 * woken by a read of the mailbox's eventfd on an io_uring ring of its own
 * (steps 3 to 5 of fuse_channel_ring.h), with the commit replaced by a
 * record of what would be committed.  Every answer arrives once, none is lost
 * between a take and the next wake-up, and the eventfd is written once per
 * batch.  No root; skipped where io_uring is not allowed. */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport/fuse_ring_mailbox.h"

#define PRODUCERS 4
#define PER_PRODUCER 2000

struct answer {
	struct fuse_ring_letter letter; /* first, as in the ring's fuse_pending */
	unsigned id;
};

struct producer {
	struct fuse_ring_mailbox *mailbox;
	struct answer *answers;
	unsigned first;
};

static void *producer_main(void *opaque)
{
	struct producer *p = opaque;

	for (unsigned i = 0; i < PER_PRODUCER; i++) {
		p->answers[p->first + i].id = p->first + i;
		fuse_ring_mailbox_post(p->mailbox, &p->answers[p->first + i].letter);
		if (i % 64 == 0)
			usleep(100); /* batches of every size */
	}
	return NULL;
}

static void arm_wake(struct io_uring *ring, int fd, uint64_t *count)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	assert_non_null(sqe);
	io_uring_prep_read(sqe, fd, count, sizeof(*count), 0);
	sqe->user_data = 1;
}

static void test_answers_from_many_threads(void **state)
{
	struct fuse_ring_mailbox mailbox;
	struct io_uring ring;
	static struct answer answers[PRODUCERS * PER_PRODUCER];
	static unsigned char committed[PRODUCERS * PER_PRODUCER];
	struct producer producers[PRODUCERS];
	pthread_t threads[PRODUCERS];
	unsigned received = 0, wakeups = 0;
	uint64_t wake_count = 0;

	(void)state;
	if (io_uring_queue_init(8, &ring, 0) < 0)
		skip();
	assert_int_equal(fuse_ring_mailbox_init(&mailbox), 0);
	memset(committed, 0, sizeof(committed));
	arm_wake(&ring, mailbox.wake_fd, &wake_count);
	for (unsigned i = 0; i < PRODUCERS; i++) {
		producers[i] = (struct producer){ &mailbox, answers, i * PER_PRODUCER };
		assert_int_equal(pthread_create(&threads[i], NULL, producer_main, &producers[i]), 0);
	}
	/* The worker's loop: wait for the wake-up, take everything, commit it
	 * (here: note it), re-arm. */
	while (received < PRODUCERS * PER_PRODUCER) {
		struct __kernel_timespec timeout = { .tv_sec = 10 };
		struct io_uring_cqe *cqe;
		struct fuse_ring_letter *letter;

		assert_int_equal(io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &timeout, NULL), 1);
		assert_int_equal(cqe->user_data, 1);
		assert_int_equal(cqe->res, sizeof(uint64_t));
		io_uring_cqe_seen(&ring, cqe);
		wakeups++;
		for (letter = fuse_ring_mailbox_take(&mailbox); letter; letter = letter->next) {
			struct answer *a = (struct answer *)letter;

			assert_true(a->id < PRODUCERS * PER_PRODUCER);
			assert_int_equal(committed[a->id], 0); /* once */
			committed[a->id] = 1;
			received++;
		}
		arm_wake(&ring, mailbox.wake_fd, &wake_count);
	}
	for (unsigned i = 0; i < PRODUCERS; i++)
		pthread_join(threads[i], NULL);
	assert_null(fuse_ring_mailbox_take(&mailbox));
	assert_true(wakeups >= 1 && wakeups <= received);
	io_uring_queue_exit(&ring);
	fuse_ring_mailbox_destroy(&mailbox);
}

/* One write of the eventfd per batch: posts to a non-empty list add none. */
static void test_one_wake_per_batch(void **state)
{
	struct fuse_ring_mailbox mailbox;
	struct answer a[3];
	uint64_t count = 0;

	(void)state;
	assert_int_equal(fuse_ring_mailbox_init(&mailbox), 0);
	assert_null(fuse_ring_mailbox_take(&mailbox));
	assert_int_equal(read(mailbox.wake_fd, &count, sizeof(count)), -1);
	assert_int_equal(errno, EAGAIN);
	for (unsigned i = 0; i < 3; i++)
		fuse_ring_mailbox_post(&mailbox, &a[i].letter);
	assert_int_equal(read(mailbox.wake_fd, &count, sizeof(count)), sizeof(count));
	assert_int_equal(count, 1);
	/* Newest first: the worker commits in any order. */
	assert_ptr_equal(fuse_ring_mailbox_take(&mailbox), &a[2].letter);
	assert_ptr_equal(a[2].letter.next, &a[1].letter);
	assert_ptr_equal(a[1].letter.next, &a[0].letter);
	assert_null(a[0].letter.next);
	/* Taken: the next post wakes again. */
	fuse_ring_mailbox_post(&mailbox, &a[0].letter);
	assert_int_equal(read(mailbox.wake_fd, &count, sizeof(count)), sizeof(count));
	assert_int_equal(count, 1);
	fuse_ring_mailbox_destroy(&mailbox);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_wake_per_batch),
		cmocka_unit_test(test_answers_from_many_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
