/* A disk's own threads: the I/O of requests on a disk that may wait (on a
 * server, on a file system) runs here, never on a channel's threads, so that a
 * slow disk holds only its own threads and every other disk's requests go on.
 * A plain queue of jobs and a few threads taking them in order. */
#ifndef IMDISK_TRANSPORT_FUSE_DISK_QUEUE_H
#define IMDISK_TRANSPORT_FUSE_DISK_QUEUE_H

#include <stdbool.h>

struct fuse_disk_queue;

struct fuse_disk_job {
	struct fuse_disk_job *next;
	void (*run)(struct fuse_disk_job *job); /* on one of the queue's threads; frees the job */
};

/* `threads` threads named `name` (at most 15 characters), with no signals. */
int fuse_disk_queue_start(unsigned threads, const char *name, struct fuse_disk_queue **out);
/* Queue `job`; false (job not taken) once the queue is stopping. */
bool fuse_disk_queue_push(struct fuse_disk_queue *queue, struct fuse_disk_job *job);
/* Run what is queued, then end the threads; later pushes are refused, so a
 * caller still holding the queue falls back to doing the job itself. */
void fuse_disk_queue_drain(struct fuse_disk_queue *queue);
/* Drain, and free: nobody may hold the queue any more. */
void fuse_disk_queue_stop(struct fuse_disk_queue *queue);

#endif
