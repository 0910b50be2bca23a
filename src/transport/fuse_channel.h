/* How a request reaches the handlers and how its answer goes back: the channel.
 *
 * A channel owns its threads and its buffers.  It receives requests its own way
 * (read() on /dev/fuse, completions on an io_uring ring), hands each one to
 * fuse_handle_request() (fuse_handlers.h) with a struct fuse_exchange that says
 * where the answer goes, and the handlers answer through the exchange's
 * channel operations below.  The handlers never know which channel they serve.
 *
 * An answer is given in one of two ways:
 * - now, from the thread serving the request: reply();
 * - later, from any thread (a disk that finishes a read on a thread of its own):
 *   defer() takes the request out of the serving thread's hands and returns
 *   the channel's own completion state for it; complete() sends the answer.
 *   Each channel keeps what it needs there (the /dev/fuse clone to write to; the
 *   ring entry that holds the request).
 *
 * Every request except FORGET, BATCH_FORGET and INTERRUPT gets exactly one
 * answer. */
#ifndef IMDISK_TRANSPORT_FUSE_CHANNEL_H
#define IMDISK_TRANSPORT_FUSE_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuse_exchange;
/* A request to be answered later: defined by each channel. */
struct fuse_pending;

struct fuse_channel_ops {
	const char *name; /* "/dev/fuse", "io_uring": for traces */
	/* Answer the request `unique`: an error, or `len` bytes of `arg` (which may
	 * be the exchange's own data area). */
	void (*reply)(struct fuse_exchange *exchange, uint64_t unique, int error, const void *arg, size_t len);
	/* The answer comes later through complete(); NULL if the channel cannot keep
	 * the request (out of memory): the caller then answers now.  With
	 * `keep_data`, the exchange's data area and the request's payload stay
	 * valid until complete() (the work is done later, on another thread, in
	 * them); without, they are the serving thread's again at once. */
	struct fuse_pending *(*defer)(struct fuse_exchange *exchange, uint64_t unique, bool keep_data);
	/* Undo a defer() whose work could not start: nothing was sent, the request
	 * is the serving thread's again, to answer with reply(). */
	void (*undefer)(struct fuse_exchange *exchange, struct fuse_pending *pending);
	/* The later answer, from any thread, once: `data` (valid during the call)
	 * is sent or copied before it returns. */
	void (*complete)(struct fuse_pending *pending, int error, const void *data, size_t len);
	/* Optional: may the serving thread itself wait on a slow disk, without
	 * holding any other request?  (Yes on /dev/fuse while another worker is
	 * reading requests; never on a ring, whose other entries would wait with
	 * it.)  NULL: never. */
	bool (*may_wait)(struct fuse_exchange *exchange);
};

/* One request being served: where its answer goes and where to build it.
 * The handlers do not keep it past their return. */
struct fuse_exchange {
	const struct fuse_channel_ops *channel;
	void *channel_state; /* the channel's: its worker, its ring entry */
	unsigned char *data; /* page aligned; READ and READDIR answers are built here */
	size_t data_size;
	bool answered; /* set by the handlers once the request is answered or deferred */
};

/* What a channel is started with. */
struct fuse_files;
struct fuse_channel_config {
	int session_fd;           /* the connection's /dev/fuse descriptor */
	struct fuse_files *files; /* what the handlers serve */
	size_t page_size;
	size_t max_write;         /* the largest payload, as announced at INIT */
};

static inline void fuse_exchange_reply(struct fuse_exchange *exchange, uint64_t unique, int error, const void *arg,
				       size_t len)
{
	exchange->answered = true;
	exchange->channel->reply(exchange, unique, error, arg, len);
}

static inline void fuse_exchange_error(struct fuse_exchange *exchange, uint64_t unique, int error)
{
	fuse_exchange_reply(exchange, unique, error, NULL, 0);
}

#endif
