/* The /dev/fuse channel (fuse_channel_dev.h). */
#include "transport/fuse_channel_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/trace.h"
#include "transport/fuse_handlers.h"

struct fuse_dev_worker {
	struct fuse_exchange exchange;
	struct fuse_files *files;
	int fd; /* our clone of the session descriptor */
	pthread_t thread;
	bool running;
	unsigned char *map; /* the buffer mapping */
	size_t map_size;
	unsigned char *request; /* where read() puts a request */
	size_t request_size;
};

struct fuse_dev_channel {
	unsigned worker_count;
	struct fuse_dev_worker *workers;
};

/* A request answered later: the clone it came on. */
struct fuse_pending {
	int fd;
	uint64_t unique;
};

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

static struct fuse_pending *dev_defer(struct fuse_exchange *exchange, uint64_t unique)
{
	struct fuse_dev_worker *w = exchange->channel_state;
	struct fuse_pending *pending = malloc(sizeof(*pending));

	if (pending)
		*pending = (struct fuse_pending){ .fd = w->fd, .unique = unique };
	return pending;
}

static void dev_undefer(struct fuse_exchange *exchange, struct fuse_pending *pending)
{
	(void)exchange;
	free(pending);
}

static void dev_complete(struct fuse_pending *pending, int error, const void *data, size_t len)
{
	dev_answer(pending->fd, pending->unique, error, data, len);
	free(pending);
}

const struct fuse_channel_ops fuse_dev_channel_ops = {
	.name = "/dev/fuse",
	.reply = dev_reply,
	.defer = dev_defer,
	.undefer = dev_undefer,
	.complete = dev_complete,
};

/* Cancellation (from stop) is only allowed while waiting in read(): a request
 * being served always gets its answer. */
static void *dev_worker_main(void *opaque)
{
	struct fuse_dev_worker *w = opaque;
	ssize_t n;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (;;) {
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		n = read(w->fd, w->request, w->request_size);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (n < 0) {
			/* ENOENT: the request was interrupted before we read it. */
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			break; /* ENODEV: unmounted or aborted */
		}
		fuse_handle_message(w->files, &w->exchange, w->request, (size_t)n);
	}
	return NULL;
}

/* One mapping per worker: a page of room in front so that a WRITE payload,
 * which follows fuse_in_header + fuse_write_in, starts on a page boundary (what
 * an O_DIRECT backend needs), and the same page-aligned area for READ data. */
static int dev_worker_buffer(struct fuse_dev_worker *w, size_t page_size, size_t max_write)
{
	size_t lead = sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in);

	w->map_size = page_size + max_write + page_size;
	w->map = mmap(NULL, w->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->map == MAP_FAILED) {
		w->map = NULL;
		return -ENOMEM;
	}
	w->request = w->map + page_size - lead;
	w->request_size = w->map_size - (page_size - lead);
	w->exchange.data = w->map + page_size;
	w->exchange.data_size = max_write + page_size;
	return 0;
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
	channel->workers = calloc(workers, sizeof(*channel->workers));
	if (!channel->workers)
		return -ENOMEM;
	channel->worker_count = workers;
	for (unsigned i = 0; i < workers; i++)
		channel->workers[i].fd = -1;
	for (unsigned i = 0; i < workers; i++) {
		struct fuse_dev_worker *w = &channel->workers[i];
		char name[16];

		w->files = config->files;
		w->exchange.channel = &fuse_dev_channel_ops;
		w->exchange.channel_state = w;
		r = dev_worker_buffer(w, config->page_size, config->max_write);
		if (r < 0)
			return r;
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
	for (unsigned i = 0; i < channel->worker_count; i++) {
		struct fuse_dev_worker *w = &channel->workers[i];

		if (w->fd >= 0)
			close(w->fd);
		if (w->map)
			munmap(w->map, w->map_size);
	}
	free(channel->workers);
	free(channel);
}
