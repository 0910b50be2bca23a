/* A disk's own threads (fuse_disk_queue.h). */
#include "transport/fuse_disk_queue.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

struct fuse_disk_queue {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct fuse_disk_job *head, **tail;
	bool stopping;
	unsigned thread_count;
	pthread_t threads[];
};

static void *queue_main(void *opaque)
{
	struct fuse_disk_queue *queue = opaque;
	struct fuse_disk_job *job;

	pthread_mutex_lock(&queue->lock);
	for (;;) {
		while (!queue->head && !queue->stopping)
			pthread_cond_wait(&queue->work, &queue->lock);
		job = queue->head;
		if (!job)
			break; /* stopping, and nothing left */
		queue->head = job->next;
		if (!queue->head)
			queue->tail = &queue->head;
		pthread_mutex_unlock(&queue->lock);
		job->run(job);
		pthread_mutex_lock(&queue->lock);
	}
	pthread_mutex_unlock(&queue->lock);
	return NULL;
}

int fuse_disk_queue_start(unsigned threads, const char *name, struct fuse_disk_queue **out)
{
	struct fuse_disk_queue *queue = calloc(1, sizeof(*queue) + threads * sizeof(queue->threads[0]));
	sigset_t all, old;
	int r = 0;

	*out = NULL;
	if (!queue)
		return -ENOMEM;
	pthread_mutex_init(&queue->lock, NULL);
	pthread_cond_init(&queue->work, NULL);
	queue->tail = &queue->head;
	/* Our threads take no signals: those are the caller's to handle. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < threads; i++) {
		r = -pthread_create(&queue->threads[i], NULL, queue_main, queue);
		if (r < 0)
			break;
		queue->thread_count++;
		pthread_setname_np(queue->threads[i], name);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		fuse_disk_queue_stop(queue);
		return r;
	}
	*out = queue;
	return 0;
}

bool fuse_disk_queue_push(struct fuse_disk_queue *queue, struct fuse_disk_job *job)
{
	bool taken;

	job->next = NULL;
	pthread_mutex_lock(&queue->lock);
	taken = !queue->stopping;
	if (taken) {
		*queue->tail = job;
		queue->tail = &job->next;
		pthread_cond_signal(&queue->work);
	}
	pthread_mutex_unlock(&queue->lock);
	return taken;
}

void fuse_disk_queue_drain(struct fuse_disk_queue *queue)
{
	pthread_mutex_lock(&queue->lock);
	queue->stopping = true;
	pthread_cond_broadcast(&queue->work);
	pthread_mutex_unlock(&queue->lock);
	for (unsigned i = 0; i < queue->thread_count; i++)
		pthread_join(queue->threads[i], NULL);
	queue->thread_count = 0;
}

void fuse_disk_queue_stop(struct fuse_disk_queue *queue)
{
	if (!queue)
		return;
	fuse_disk_queue_drain(queue);
	pthread_cond_destroy(&queue->work);
	pthread_mutex_destroy(&queue->lock);
	free(queue);
}
