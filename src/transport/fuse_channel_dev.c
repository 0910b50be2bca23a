/* The /dev/fuse channel (fuse_channel_dev.h). */
#include "transport/fuse_channel_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/trace.h"
#include "transport/fuse_handlers.h"

/* Where a request is read and its answer built.  A worker has one; a request
 * deferred with its data (done on its disk's own threads) takes it along, and
 * the worker takes another from the channel's spare ones. */
struct dev_buffer {
	struct dev_buffer *next_spare;
	struct dev_buffer *next_made; /* every buffer, to free them at stop */
	unsigned char *map;
	size_t map_size;
	unsigned char *request; /* where read() puts a request */
	size_t request_size;
	unsigned char *data; /* page aligned: READ data and WRITE payloads */
	size_t data_size;
};

struct fuse_dev_worker {
	struct fuse_exchange exchange;
	struct fuse_dev_channel *channel;
	int fd; /* our clone of the session descriptor */
	pthread_t thread;
	bool running;
	struct dev_buffer *buffer;
};

struct fuse_dev_channel {
	struct fuse_channel_config config;
	unsigned worker_count;
	struct fuse_dev_worker *workers;
	atomic_uint reading; /* workers waiting in read() for a request */
	pthread_mutex_t buffers_lock;
	struct dev_buffer *spare, *made;
};

/* A request answered later: the clone it came on, and the buffer it took. */
struct fuse_pending {
	struct fuse_dev_channel *channel;
	int fd;
	uint64_t unique;
	struct dev_buffer *buffer; /* NULL unless deferred with its data */
};

/* One mapping: a page of room in front so that a WRITE payload, which follows
 * fuse_in_header + fuse_write_in, starts on a page boundary (what an O_DIRECT
 * backend needs), and the same page-aligned area for READ data. */
static struct dev_buffer *dev_buffer_get(struct fuse_dev_channel *channel)
{
	size_t page_size = channel->config.page_size, max_write = channel->config.max_write;
	size_t lead = sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in);
	struct dev_buffer *b;

	pthread_mutex_lock(&channel->buffers_lock);
	b = channel->spare;
	if (b)
		channel->spare = b->next_spare;
	pthread_mutex_unlock(&channel->buffers_lock);
	if (b)
		return b;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->map_size = page_size + max_write + page_size;
	b->map = mmap(NULL, b->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->map == MAP_FAILED) {
		free(b);
		return NULL;
	}
	b->request = b->map + page_size - lead;
	b->request_size = b->map_size - (page_size - lead);
	b->data = b->map + page_size;
	b->data_size = max_write + page_size;
	pthread_mutex_lock(&channel->buffers_lock);
	b->next_made = channel->made;
	channel->made = b;
	pthread_mutex_unlock(&channel->buffers_lock);
	return b;
}

static void dev_buffer_put(struct fuse_dev_channel *channel, struct dev_buffer *b)
{
	pthread_mutex_lock(&channel->buffers_lock);
	b->next_spare = channel->spare;
	channel->spare = b;
	pthread_mutex_unlock(&channel->buffers_lock);
}

int fuse_dev_send(int fd, struct iovec *iov, int count)
{
	size_t len = 0;
	ssize_t n;

	for (int i = 0; i < count; i++)
		len += iov[i].iov_len;
	((struct fuse_out_header *)iov[0].iov_base)->len = (uint32_t)len;
	do
		n = writev(fd, iov, count);
	while (n < 0 && errno == EINTR);
	/* ENOENT: the request was interrupted and is gone; nothing to do. */
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	return 0;
}

static void dev_answer(int fd, uint64_t unique, int error, const void *arg, size_t len)
{
	struct fuse_out_header out = { .error = error, .unique = unique };
	struct iovec iov[2] = {
		{ .iov_base = &out, .iov_len = sizeof(out) },
		{ .iov_base = (void *)arg, .iov_len = len },
	};
	int r = fuse_dev_send(fd, iov, error || !len ? 1 : 2);

	/* Nobody to tell: the kernel refused the answer (a connection going away,
	 * or an answer it found malformed). */
	if (r < 0)
		trace_dropped(TRACE_FUSE, "an answer on /dev/fuse", r);
}

static void dev_reply(struct fuse_exchange *exchange, uint64_t unique, int error, const void *arg, size_t len)
{
	struct fuse_dev_worker *w = exchange->channel_state;

	dev_answer(w->fd, unique, error, arg, len);
}

static struct fuse_pending *dev_defer(struct fuse_exchange *exchange, uint64_t unique, bool keep_data)
{
	struct fuse_dev_worker *w = exchange->channel_state;
	struct fuse_pending *pending = malloc(sizeof(*pending));

	if (!pending)
		return NULL;
	*pending = (struct fuse_pending){ .channel = w->channel, .fd = w->fd, .unique = unique };
	if (keep_data) {
		/* The worker reads its next request into another buffer. */
		pending->buffer = w->buffer;
		w->buffer = NULL;
	}
	return pending;
}

static void dev_undefer(struct fuse_exchange *exchange, struct fuse_pending *pending)
{
	struct fuse_dev_worker *w = exchange->channel_state;

	if (pending->buffer)
		w->buffer = pending->buffer;
	free(pending);
}

static void dev_complete(struct fuse_pending *pending, int error, const void *data, size_t len)
{
	dev_answer(pending->fd, pending->unique, error, data, len);
	if (pending->buffer)
		dev_buffer_put(pending->channel, pending->buffer);
	free(pending);
}

/* A worker that waits on a slow disk holds no other request here: the kernel
 * gives requests to whichever worker reads.  So it may, as long as another
 * worker is reading (this one stopped counting itself when its read() ended):
 * then at most all workers but one wait, and requests keep being taken. */
static bool dev_may_wait(struct fuse_exchange *exchange)
{
	struct fuse_dev_worker *w = exchange->channel_state;

	return atomic_load(&w->channel->reading) > 0;
}

const struct fuse_channel_ops fuse_dev_channel_ops = {
	.name = "/dev/fuse",
	.reply = dev_reply,
	.defer = dev_defer,
	.undefer = dev_undefer,
	.complete = dev_complete,
	.may_wait = dev_may_wait,
};

/* Cancellation (from stop) is only allowed while waiting in read(): a request
 * being served always gets its answer. */
static void *dev_worker_main(void *opaque)
{
	struct fuse_dev_worker *w = opaque;
	ssize_t n;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (;;) {
		if (!w->buffer) {
			w->buffer = dev_buffer_get(w->channel);
			if (!w->buffer) {
				trace_dropped(TRACE_FUSE, "a /dev/fuse buffer (retrying)", -ENOMEM);
				pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
				usleep(10000);
				pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
				continue;
			}
		}
		w->exchange.data = w->buffer->data;
		w->exchange.data_size = w->buffer->data_size;
		atomic_fetch_add(&w->channel->reading, 1);
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		n = read(w->fd, w->buffer->request, w->buffer->request_size);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		atomic_fetch_sub(&w->channel->reading, 1);
		if (n < 0) {
			/* ENOENT: the request was interrupted before we read it. */
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			break; /* ENODEV: unmounted or aborted */
		}
		fuse_handle_message(w->channel->config.files, &w->exchange, w->buffer->request, (size_t)n);
	}
	return NULL;
}

static int dev_clone(int session_fd)
{
	uint32_t master = (uint32_t)session_fd;
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, FUSE_DEV_IOC_CLONE, &master) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

int fuse_dev_channel_start(const struct fuse_channel_config *config, unsigned workers,
			   struct fuse_dev_channel **out)
{
	struct fuse_dev_channel *channel = calloc(1, sizeof(*channel));
	int r = 0;

	*out = channel;
	if (!channel)
		return -ENOMEM;
	channel->config = *config;
	pthread_mutex_init(&channel->buffers_lock, NULL);
	channel->workers = calloc(workers, sizeof(*channel->workers));
	if (!channel->workers)
		return -ENOMEM;
	channel->worker_count = workers;
	for (unsigned i = 0; i < workers; i++)
		channel->workers[i].fd = -1;
	for (unsigned i = 0; i < workers; i++) {
		struct fuse_dev_worker *w = &channel->workers[i];
		char name[16];

		w->channel = channel;
		w->exchange.channel = &fuse_dev_channel_ops;
		w->exchange.channel_state = w;
		w->buffer = dev_buffer_get(channel);
		if (!w->buffer)
			return -ENOMEM;
		r = dev_clone(config->session_fd);
		if (r < 0)
			return r;
		w->fd = r;
		r = -pthread_create(&w->thread, NULL, dev_worker_main, w);
		if (r < 0)
			return r;
		w->running = true;
		snprintf(name, sizeof(name), "imdisk-fuse%u", i % 1000);
		pthread_setname_np(w->thread, name);
	}
	return 0;
}

void fuse_dev_channel_stop(struct fuse_dev_channel *channel)
{
	if (!channel)
		return;
	for (unsigned i = 0; i < channel->worker_count; i++) {
		struct fuse_dev_worker *w = &channel->workers[i];

		if (w->running) {
			pthread_cancel(w->thread);
			pthread_join(w->thread, NULL);
			w->running = false;
		}
	}
	for (unsigned i = 0; i < channel->worker_count; i++)
		if (channel->workers[i].fd >= 0)
			close(channel->workers[i].fd);
	/* No request is deferred any more (the disks' threads are drained). */
	for (struct dev_buffer *b = channel->made, *next; b; b = next) {
		next = b->next_made;
		munmap(b->map, b->map_size);
		free(b);
	}
	pthread_mutex_destroy(&channel->buffers_lock);
	free(channel->workers);
	free(channel);
}
