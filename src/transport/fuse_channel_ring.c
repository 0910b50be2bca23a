/* The io_uring channel (fuse_channel_ring.h). */
#include "transport/fuse_channel_ring.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/trace.h"
#include "transport/fuse_handlers.h"
#include "transport/fuse_ring_mailbox.h"

/* Buffers each ring worker registers on each kernel queue at the start: how
 * many requests of one queue it can take in one batch.  Few: the kernel hands
 * a request to the buffer freed last, so with many buffers one worker's take
 * most of a queue's requests (32 instead of 4 took a proxy disk's 1 MiB
 * writes from 1.6 to 0.9 x nbdfuse, when writes still waited on the ring's
 * worker).  Requests that wait hold their buffers; a queue whose buffers are
 * all held gets more (RING_DEPTH_MAX).  Every buffer can hold a whole 1 MiB
 * request, and there is one kernel queue per possible CPU, so on big
 * machines the depth shrinks to keep all buffers together within
 * RING_BUFFERS (each becomes resident once a request used it), but never
 * below one. */
#define RING_DEPTH 4u
#define RING_BUFFERS 128u

/* Requests that wait (on a slow disk's threads, on a proxy's pipes) hold
 * their entries until answered, and a queue whose entries are all held takes
 * no request of any other disk.  So when all but one of a queue's entries
 * are held, the worker registers one more there, up to this many per queue
 * and RING_BUFFERS more in all: a stalled disk cannot take the last entry. */
#define RING_DEPTH_MAX 32u
#define RING_STOP UINT64_MAX       /* user_data of the stop poll */
#define RING_WAKE (UINT64_MAX - 1) /* ... of the read of `wake_fd` */

/* Answers to requests moving at least this many bytes are sent at once rather
 * than with the rest of the batch: the copying dominates there, and holding a
 * finished 1 MiB answer until its neighbours are done only adds latency. */
#define RING_FLUSH_BYTES (64u << 10)

struct fuse_ring_worker;

/* An entry's answer, given later from another thread (steps 2-5 of the
 * header's description). */
struct fuse_pending {
	struct fuse_ring_letter letter; /* first: in the worker's mailbox */
	struct fuse_ring_worker *worker;
	unsigned entry;
	uint64_t unique;
	int result;
	size_t len;
};

struct fuse_ring_entry {
	struct fuse_abi_uring_header *header;
	unsigned char *payload;
	struct iovec iov[2]; /* header, payload */
	uint16_t qid;        /* the kernel queue it is registered on */
	bool held;           /* deferred: answered later, from another thread */
	unsigned char *own_map; /* an entry added later has a mapping of its own */
	size_t own_map_size;
	struct fuse_pending pending;
};

/* What the worker knows of one kernel queue (only it touches this). */
struct ring_queue {
	unsigned registered; /* this worker's entries there */
	unsigned held;       /* ... of them held by deferred requests */
};

struct fuse_ring_worker {
	struct fuse_ring_channel *channel;
	unsigned index;
	pthread_t thread;
	bool running;
	struct io_uring ring;
	bool ring_ready;
	unsigned char *map; /* payload buffers, then headers */
	size_t map_size;
	unsigned depth; /* buffers per kernel queue, at the start */
	unsigned entry_count; /* entries in use (registered, or being) */
	unsigned entry_max;   /* room in `entries` */
	unsigned live;        /* entries the kernel still has */
	struct fuse_ring_entry *entries;
	struct ring_queue *queues;
	int setup_result; /* from the thread: ring and registration */
	bool setup_done;
	/* Answers other threads finished for this worker's entries (step 3). */
	struct fuse_ring_mailbox finished;
	uint64_t wake_count;
};

struct fuse_ring_channel {
	struct fuse_channel_config config;
	pthread_mutex_t lock;
	pthread_cond_t set_up; /* a worker's setup_done */
	unsigned queue_count;  /* the kernel's queues: one per possible CPU */
	unsigned ring_count;
	struct fuse_ring_worker *rings;
	int stop_fd; /* eventfd: tells the ring workers to finish */
};

bool fuse_ring_usable(void)
{
	struct io_uring probe;

	if (io_uring_queue_init(2, &probe, IORING_SETUP_SQE128) < 0)
		return false;
	io_uring_queue_exit(&probe);
	return true;
}

static struct io_uring_sqe *ring_sqe(struct fuse_ring_worker *rw)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rw->ring);

	/* The ring has room for every entry's one command and the stop poll. */
	if (!sqe) {
		int r = io_uring_submit(&rw->ring);

		if (r < 0)
			trace_dropped(TRACE_FUSE, "submitting a full ring's commands", r);
		sqe = io_uring_get_sqe(&rw->ring);
	}
	if (sqe)
		memset(sqe, 0, 2 * sizeof(*sqe)); /* a 128-byte SQE */
	return sqe;
}

static int ring_command(struct fuse_ring_worker *rw, unsigned entry, uint32_t cmd_op, uint64_t commit_id)
{
	struct io_uring_sqe *sqe = ring_sqe(rw);
	struct fuse_abi_uring_cmd *cmd;

	if (!sqe)
		return -EBUSY;
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = rw->channel->config.session_fd;
	sqe->cmd_op = cmd_op;
	sqe->user_data = entry;
	if (cmd_op == FUSE_ABI_URING_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)rw->entries[entry].iov;
		sqe->len = 2;
	}
	cmd = (struct fuse_abi_uring_cmd *)sqe->cmd;
	cmd->commit_id = commit_id;
	cmd->qid = rw->entries[entry].qid;
	return 0;
}

/* The answer goes into the entry's buffers; the commit (which also fetches the
 * entry's next request) is submitted with the rest of the batch. */
static void ring_commit(struct fuse_ring_worker *rw, unsigned entry, uint64_t unique, int error, const void *arg,
			size_t len)
{
	struct fuse_ring_entry *e = &rw->entries[entry];
	struct fuse_out_header out = { .error = error, .unique = unique };
	int r;

	if (error || len > e->iov[1].iov_len)
		len = 0;
	if (len && arg != e->payload)
		memcpy(e->payload, arg, len);
	out.len = (uint32_t)(sizeof(out) + len);
	memcpy(e->header->in_out, &out, sizeof(out));
	e->header->ent_in_out.payload_sz = (uint32_t)len;
	r = ring_command(rw, entry, FUSE_ABI_URING_COMMIT_AND_FETCH, e->header->ent_in_out.commit_id);
	/* Without its commit the entry never comes back: one buffer fewer. */
	if (r < 0)
		trace_dropped(TRACE_FUSE, "a ring commit (its entry is lost)", r);
}

static void ring_reply(struct fuse_exchange *exchange, uint64_t unique, int error, const void *arg, size_t len)
{
	struct fuse_ring_entry *e = exchange->channel_state;

	ring_commit(e->pending.worker, e->pending.entry, unique, error, arg, len);
}

/* Step 1: the entry is its own completion state. */
static struct fuse_pending *ring_defer(struct fuse_exchange *exchange, uint64_t unique, bool keep_data)
{
	struct fuse_ring_entry *e = exchange->channel_state;

	(void)keep_data; /* the entry's buffers are the request's until its commit */
	if (!e->held) {
		e->held = true;
		e->pending.worker->queues[e->qid].held++;
	}
	e->pending.unique = unique;
	e->pending.result = 0;
	e->pending.len = 0;
	return &e->pending;
}

static void ring_undefer(struct fuse_exchange *exchange, struct fuse_pending *pending)
{
	struct fuse_ring_entry *e = exchange->channel_state;

	(void)pending; /* nothing was queued */
	if (e->held) {
		e->held = false;
		e->pending.worker->queues[e->qid].held--;
	}
}

/* Steps 2 and 3, on the thread that finished the request. */
static void ring_complete(struct fuse_pending *pending, int result, const void *data, size_t len)
{
	struct fuse_ring_worker *rw = pending->worker;
	struct fuse_ring_entry *e = &rw->entries[pending->entry];

	if (result == 0 && len > e->iov[1].iov_len)
		result = -EIO;
	if (result == 0 && len && data != e->payload)
		memcpy(e->payload, data, len);
	pending->result = result;
	pending->len = result ? 0 : len;
	fuse_ring_mailbox_post(&rw->finished, &pending->letter);
}

const struct fuse_channel_ops fuse_ring_channel_ops = {
	.name = "io_uring",
	.reply = ring_reply,
	.defer = ring_defer,
	.undefer = ring_undefer,
	.complete = ring_complete,
};

/* One more entry on queue `qid`, when all but one there are held (see
 * RING_DEPTH_MAX); it takes requests once its REGISTER is submitted. */
static void ring_grow(struct fuse_ring_worker *rw, uint16_t qid)
{
	struct ring_queue *q = &rw->queues[qid];
	size_t payload_size = rw->channel->config.max_write;
	struct fuse_ring_entry *e;
	unsigned i = rw->entry_count;

	if (q->held + 1 < q->registered || q->registered >= RING_DEPTH_MAX || i >= rw->entry_max)
		return;
	e = &rw->entries[i];
	e->own_map_size = payload_size + sizeof(struct fuse_abi_uring_header);
	e->own_map = mmap(NULL, e->own_map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e->own_map == MAP_FAILED) {
		e->own_map = NULL;
		trace_dropped(TRACE_FUSE, "a ring entry for a queue whose entries are all held", -ENOMEM);
		return;
	}
	e->payload = e->own_map;
	e->header = (struct fuse_abi_uring_header *)(e->own_map + payload_size);
	e->iov[0] = (struct iovec){ e->header, sizeof(*e->header) };
	e->iov[1] = (struct iovec){ e->payload, payload_size };
	e->qid = qid;
	e->pending.worker = rw;
	e->pending.entry = i;
	if (ring_command(rw, i, FUSE_ABI_URING_REGISTER, 0) < 0) {
		trace_dropped(TRACE_FUSE, "registering a ring entry", -EBUSY);
		munmap(e->own_map, e->own_map_size);
		e->own_map = NULL;
		return;
	}
	rw->entry_count++;
	rw->live++;
	q->registered++;
	trace(TRACE_FUSE, "ring %u: queue %u has %u of its entries held by waiting requests: now %u", rw->index,
	      qid, q->held, q->registered);
}

/* Serve the request in `entry`; returns the bytes it moved. */
static size_t ring_request(struct fuse_ring_worker *rw, unsigned entry)
{
	struct fuse_ring_entry *e = &rw->entries[entry];
	struct fuse_in_header in;
	struct fuse_exchange exchange = {
		.channel = &fuse_ring_channel_ops,
		.channel_state = e,
		.data = e->payload,
		.data_size = e->iov[1].iov_len,
	};
	struct fuse_files *files = rw->channel->config.files;
	size_t payload_len = e->header->ent_in_out.payload_sz;

	memcpy(&in, e->header->in_out, sizeof(in));
	if (payload_len > exchange.data_size)
		payload_len = exchange.data_size;
	/* Names travel in the payload (the kernel gives name requests an empty
	 * fixed argument); should one come as the fixed argument, take it there. */
	if (in.opcode == FUSE_LOOKUP && payload_len == 0) {
		fuse_handle_request(files, &exchange, &in, NULL, e->header->op_in,
				    strnlen((const char *)e->header->op_in, sizeof(e->header->op_in) - 1) + 1);
	} else {
		fuse_handle_request(files, &exchange, &in, e->header->op_in, e->payload, payload_len);
	}
	/* Every request on a ring is answered, or its buffer is lost. */
	if (!exchange.answered)
		fuse_exchange_error(&exchange, in.unique, -ENOSYS);
	if (e->held)
		ring_grow(rw, e->qid);
	return payload_len + e->header->ent_in_out.payload_sz;
}

static int ring_arm_wake(struct fuse_ring_worker *rw)
{
	struct io_uring_sqe *sqe = ring_sqe(rw);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, rw->finished.wake_fd, &rw->wake_count, sizeof(rw->wake_count), 0);
	sqe->user_data = RING_WAKE;
	return 0;
}

static int ring_setup(struct fuse_ring_worker *rw)
{
	struct fuse_ring_channel *channel = rw->channel;
	size_t payload_size = channel->config.max_write;
	struct io_uring_params params = {
		.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	};
	unsigned depth = 2 * rw->entry_max + 4;
	struct io_uring_sqe *sqe;
	unsigned char *headers;
	int r;

	rw->entries = calloc(rw->entry_max, sizeof(*rw->entries));
	rw->queues = calloc(rw->channel->queue_count, sizeof(*rw->queues));
	if (!rw->entries || !rw->queues)
		return -ENOMEM;
	rw->map_size = rw->entry_count * (payload_size + sizeof(struct fuse_abi_uring_header));
	rw->map = mmap(NULL, rw->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rw->map == MAP_FAILED) {
		rw->map = NULL;
		return -ENOMEM;
	}
	/* Page-aligned payloads: WRITE data is ready for an O_DIRECT backend. */
	headers = rw->map + rw->entry_count * payload_size;
	for (unsigned i = 0; i < rw->entry_count; i++) {
		struct fuse_ring_entry *e = &rw->entries[i];

		e->payload = rw->map + i * payload_size;
		e->header = (struct fuse_abi_uring_header *)(headers + i * sizeof(*e->header));
		e->iov[0] = (struct iovec){ e->header, sizeof(*e->header) };
		e->iov[1] = (struct iovec){ e->payload, payload_size };
		e->qid = (uint16_t)(i / rw->depth);
		e->pending.worker = rw;
		e->pending.entry = i;
		rw->queues[e->qid].registered++;
	}
	rw->live = rw->entry_count;

	/* Deferred task work runs only when this thread asks for completions,
	 * so requests arrive in batches; older kernels lack it. */
	r = io_uring_queue_init_params(depth, &rw->ring, &params);
	if (r == -EINVAL) {
		trace(TRACE_FUSE, "ring %u: no IORING_SETUP_DEFER_TASKRUN, using COOP_TASKRUN", rw->index);
		params = (struct io_uring_params){ .flags = IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN };
		r = io_uring_queue_init_params(depth, &rw->ring, &params);
	}
	if (r < 0)
		return r;
	rw->ring_ready = true;
	for (unsigned i = 0; i < rw->entry_count; i++) {
		r = ring_command(rw, i, FUSE_ABI_URING_REGISTER, 0);
		if (r < 0)
			return r;
	}
	sqe = ring_sqe(rw);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, channel->stop_fd, POLLIN);
	sqe->user_data = RING_STOP;
	r = ring_arm_wake(rw);
	if (r < 0)
		return r;
	r = io_uring_submit(&rw->ring);
	return r < 0 ? r : 0;
}

/* Step 5: commit the answers other threads finished for this worker's entries. */
static void ring_commit_finished(struct fuse_ring_worker *rw)
{
	struct fuse_ring_letter *letter, *next;

	for (letter = fuse_ring_mailbox_take(&rw->finished); letter; letter = next) {
		struct fuse_pending *pending = (struct fuse_pending *)letter;
		struct fuse_ring_entry *e = &rw->entries[pending->entry];

		next = letter->next;
		if (e->held) {
			e->held = false;
			rw->queues[e->qid].held--;
		}
		ring_commit(rw, pending->entry, pending->unique, pending->result, rw->entries[pending->entry].payload,
			    pending->len);
	}
}

static void *ring_main(void *opaque)
{
	struct fuse_ring_worker *rw = opaque;
	struct fuse_ring_channel *channel = rw->channel;
	struct io_uring_cqe *cqe;
	bool stop = false;
	unsigned head, seen;
	int r;

	r = ring_setup(rw);
	trace(TRACE_FUSE, "ring %u: %u entries (%u per queue): %s", rw->index, rw->entry_count, rw->depth,
	      r < 0 ? strerror(-r) : "registered");
	pthread_mutex_lock(&channel->lock);
	rw->setup_result = r;
	rw->setup_done = true;
	pthread_cond_broadcast(&channel->set_up);
	pthread_mutex_unlock(&channel->lock);
	if (r < 0)
		return NULL;

	while (!stop && rw->live) {
		r = io_uring_submit_and_wait(&rw->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			trace(TRACE_FUSE, "ring %u: io_uring_submit_and_wait: %s, worker stops", rw->index,
			      strerror(-r));
			break;
		}
		seen = 0;
		io_uring_for_each_cqe(&rw->ring, head, cqe) {
			seen++;
			if (cqe->user_data == RING_STOP) {
				stop = true;
			} else if (cqe->user_data == RING_WAKE) {
				ring_commit_finished(rw);
				/* Without this read, finished answers would wait for
				 * the stop: keep it armed unless the ring is closing. */
				if (cqe->res != -ECANCELED && ring_arm_wake(rw) < 0) {
					trace_dropped(TRACE_FUSE, "re-arming a ring's wake-up (the worker stops)", -EBUSY);
					stop = true;
				}
			} else if (cqe->res == -ENOTCONN || cqe->res == -ECONNABORTED || cqe->res == -ECANCELED) {
				stop = true; /* the connection is gone */
			} else if (cqe->res < 0) {
				/* That buffer is out of the game; the others go on. */
				trace_dropped(TRACE_FUSE, "a ring command (its entry is lost)", cqe->res);
				rw->live--;
			} else if (cqe->user_data < rw->entry_count &&
				   ring_request(rw, (unsigned)cqe->user_data) >= RING_FLUSH_BYTES) {
				/* On failure the answer goes with the batch's next submit. */
				r = io_uring_submit(&rw->ring);
				if (r < 0)
					trace_dropped(TRACE_FUSE, "sending a large answer at once", r);
			}
		}
		io_uring_cq_advance(&rw->ring, seen);
	}
	/* Answers still queued go out before the ring closes. */
	ring_commit_finished(rw);
	r = io_uring_submit(&rw->ring);
	if (r < 0)
		trace_dropped(TRACE_FUSE, "the last answers of a closing ring", r);
	return NULL;
}

/* The kernel has one queue per possible CPU; it starts using io_uring only
 * when every queue has a buffer registered. */
static unsigned possible_cpus(void)
{
	unsigned count = 0, first, last;
	char list[256], *p = list;
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");

	if (!f)
		return 0;
	if (!fgets(list, sizeof(list), f))
		list[0] = '\0';
	fclose(f);
	while (*p && *p != '\n') {
		int n = 0;

		if (sscanf(p, "%u-%u%n", &first, &last, &n) == 2 && n > 0)
			count = last + 1;
		else if (sscanf(p, "%u%n", &first, &n) == 1 && n > 0)
			count = first + 1;
		else
			return 0;
		p += n;
		if (*p == ',')
			p++;
	}
	return count;
}

int fuse_ring_channel_start(const struct fuse_channel_config *config, unsigned workers,
			    struct fuse_ring_channel **out)
{
	struct fuse_ring_channel *channel = calloc(1, sizeof(*channel));
	unsigned queues = possible_cpus(), depth;
	int r = 0;

	*out = channel;
	if (!channel)
		return -ENOMEM;
	channel->config = *config;
	channel->stop_fd = -1;
	pthread_mutex_init(&channel->lock, NULL);
	pthread_cond_init(&channel->set_up, NULL);
	if (queues == 0 || queues > UINT16_MAX)
		return -EINVAL;
	depth = RING_BUFFERS / queues / workers;
	depth = depth < 1 ? 1 : depth > RING_DEPTH ? RING_DEPTH : depth;
	channel->queue_count = queues;
	channel->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (channel->stop_fd < 0)
		return -errno;
	channel->rings = calloc(workers, sizeof(*channel->rings));
	if (!channel->rings)
		return -ENOMEM;
	channel->ring_count = workers;
	for (unsigned i = 0; i < workers; i++)
		channel->rings[i].finished.wake_fd = -1;
	for (unsigned i = 0; i < workers; i++) {
		struct fuse_ring_worker *rw = &channel->rings[i];
		char name[16];

		rw->channel = channel;
		rw->index = i;
		rw->depth = depth;
		rw->entry_count = queues * depth;
		rw->entry_max = rw->entry_count + RING_BUFFERS;
		r = fuse_ring_mailbox_init(&rw->finished);
		if (r < 0)
			return r;
		r = -pthread_create(&rw->thread, NULL, ring_main, rw);
		if (r < 0)
			return r;
		rw->running = true;
		snprintf(name, sizeof(name), "imdisk-fuser%u", i % 100);
		pthread_setname_np(rw->thread, name);
	}
	/* Wait for every worker to be registered (or to fail). */
	pthread_mutex_lock(&channel->lock);
	for (unsigned i = 0; i < workers; i++) {
		while (!channel->rings[i].setup_done)
			pthread_cond_wait(&channel->set_up, &channel->lock);
		if (channel->rings[i].setup_result < 0 && r == 0)
			r = channel->rings[i].setup_result;
	}
	pthread_mutex_unlock(&channel->lock);
	return r;
}

void fuse_ring_channel_stop(struct fuse_ring_channel *channel)
{
	uint64_t one = 1;

	if (!channel)
		return;
	if (channel->stop_fd >= 0 && write(channel->stop_fd, &one, sizeof(one)) < 0) {
		/* cannot fail on an eventfd that was never written */
	}
	for (unsigned i = 0; i < channel->ring_count; i++) {
		struct fuse_ring_worker *rw = &channel->rings[i];

		if (rw->running) {
			pthread_join(rw->thread, NULL);
			rw->running = false;
		}
		if (rw->ring_ready)
			io_uring_queue_exit(&rw->ring);
		if (rw->map)
			munmap(rw->map, rw->map_size);
		for (unsigned j = 0; rw->entries && j < rw->entry_count; j++)
			if (rw->entries[j].own_map)
				munmap(rw->entries[j].own_map, rw->entries[j].own_map_size);
		free(rw->entries);
		free(rw->queues);
		fuse_ring_mailbox_destroy(&rw->finished);
	}
	free(channel->rings);
	if (channel->stop_fd >= 0)
		close(channel->stop_fd);
	pthread_cond_destroy(&channel->set_up);
	pthread_mutex_destroy(&channel->lock);
	free(channel);
}
