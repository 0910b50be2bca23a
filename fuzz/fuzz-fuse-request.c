/* libFuzzer harness: the FUSE request handlers.  The input is a stream of
 * requests as /dev/fuse delivers them (fuse_in_header, whose len ends each
 * one, then the fixed argument and the payload), served against a namespace of
 * two disks (a RAM disk, and one answering reads asynchronously) through a
 * channel of the harness's own that checks every answer: exactly one for
 * every request but FORGET, BATCH_FORGET and INTERRUPT, never more bytes than
 * the answer area holds, no data with an error.  Never a crash or a hang.
 *
 * The kernel is trusted for one thing: an open file handle (fh) is the value
 * OPEN answered, echoed back (it is a pointer to the node).  So the harness
 * replaces the fh of READ, WRITE, FSYNC, FALLOCATE and RELEASE with one of the
 * handles OPEN gave in this input, chosen by the fh bytes, and drops such a
 * request while there is none. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "transport/fuse_handlers.h"

#define DISK_SIZE (256u << 10)
#define DATA_SIZE (1u << 20)
#define MAX_HANDLES 16

struct harness {
	struct fuse_exchange exchange;
	uint64_t unique;     /* of the request being served */
	uint32_t opcode;
	unsigned answers;    /* to it */
	uint64_t handles[MAX_HANDLES];
	unsigned handle_count;
};

struct fuse_pending {
	struct harness *harness;
};

static void check_answer(struct harness *h, int error, size_t len)
{
	if (error > 0 || error < -4095 || (error && len) || len > DATA_SIZE)
		abort();
	h->answers++;
}

static void harness_reply(struct fuse_exchange *exchange, uint64_t unique, int error, const void *arg, size_t len)
{
	struct harness *h = exchange->channel_state;

	if (unique != h->unique)
		abort();
	check_answer(h, error, error ? 0 : len);
	if (!error && len && !arg)
		abort();
	if (h->opcode == FUSE_OPEN && !error) {
		struct fuse_open_out open_out;

		if (len != sizeof(open_out))
			abort();
		memcpy(&open_out, arg, sizeof(open_out));
		if (h->handle_count < MAX_HANDLES)
			h->handles[h->handle_count++] = open_out.fh;
	}
}

static struct fuse_pending *harness_defer(struct fuse_exchange *exchange, uint64_t unique, bool keep_data)
{
	static struct fuse_pending pending;
	struct harness *h = exchange->channel_state;

	(void)keep_data;
	if (unique != h->unique)
		abort();
	pending.harness = h;
	return &pending;
}

static void harness_undefer(struct fuse_exchange *exchange, struct fuse_pending *pending)
{
	(void)exchange;
	(void)pending;
}

static void harness_complete(struct fuse_pending *pending, int error, const void *data, size_t len)
{
	check_answer(pending->harness, error, error ? 0 : len);
	if (!error && len && !data)
		abort();
}

static const struct fuse_channel_ops harness_ops = {
	.name = "fuzz",
	.reply = harness_reply,
	.defer = harness_defer,
	.undefer = harness_undefer,
	.complete = harness_complete,
};

/* A disk whose reads are answered "later": within read_async itself. */
static unsigned char async_bytes[DISK_SIZE];

static int async_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	(void)disk;
	memcpy(buf, async_bytes + offset, len);
	return 0;
}

static int async_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	(void)disk;
	memcpy(async_bytes + offset, buf, len);
	return 0;
}

static int async_read_async(struct vdisk *disk, size_t len, uint64_t offset, vdisk_read_done_fn done, void *opaque)
{
	(void)disk;
	if (offset % 2)
		return -EAGAIN; /* "read instead" */
	done(opaque, offset % 3 ? 0 : -EIO, async_bytes + offset, len);
	return 0;
}

static const struct vdisk_ops async_ops = {
	.name = "fuzz-async",
	.read = async_read,
	.write = async_write,
	.read_async = async_read_async,
};

static struct vdisk async_disk = {
	.ops = &async_ops,
	.size = DISK_SIZE,
	.flags = VDISK_ASYNC_READ,
};

static bool carries_fh(uint32_t opcode)
{
	return opcode == FUSE_READ || opcode == FUSE_WRITE || opcode == FUSE_FSYNC || opcode == FUSE_FALLOCATE ||
	       opcode == FUSE_RELEASE;
}

static bool answered_by_nothing(uint32_t opcode)
{
	return opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET || opcode == FUSE_INTERRUPT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vdisk *ram;
	static unsigned char *area, *message;
	struct fuse_files files;
	struct harness h = { 0 };

	if (!ram && backend_memory_open(DISK_SIZE, &ram) < 0)
		abort();
	if (!area && !(area = aligned_alloc(4096, DATA_SIZE)))
		abort();
	if (!message && !(message = aligned_alloc(4096, DATA_SIZE + 4096)))
		abort();
	fuse_files_init(&files);
	files.open_flags = FOPEN_DIRECT_IO;
	if (fuse_files_add(&files, "ram", ram) < 0 || fuse_files_add(&files, "async", &async_disk) < 0)
		abort();
	h.exchange = (struct fuse_exchange){
		.channel = &harness_ops, .channel_state = &h, .data = area, .data_size = DATA_SIZE,
	};

	while (size > 0) {
		struct fuse_in_header in = { 0 };
		size_t len = size;
		int r;

		if (size >= sizeof(in)) {
			memcpy(&in, data, sizeof(in));
			if (in.len >= sizeof(in) && in.len <= size)
				len = in.len;
		}
		if (len > DATA_SIZE + 4096)
			len = DATA_SIZE + 4096;
		memcpy(message, data, len);
		data += len;
		size -= len;
		if (len >= sizeof(in) && carries_fh(in.opcode) && len >= sizeof(in) + sizeof(uint64_t)) {
			uint64_t fh;

			if (h.handle_count == 0)
				continue;
			memcpy(&fh, message + sizeof(in), sizeof(fh));
			fh = h.handles[fh % h.handle_count];
			memcpy(message + sizeof(in), &fh, sizeof(fh));
		}
		h.unique = len >= sizeof(in) ? in.unique : 0;
		h.opcode = len >= sizeof(in) ? in.opcode : 0;
		h.answers = 0;
		r = fuse_handle_message(&files, &h.exchange, message, len);
		if (r < 0) {
			if (len >= sizeof(in) || h.answers != 0)
				abort(); /* only a short header goes unanswered as an error */
			continue;
		}
		if (answered_by_nothing(in.opcode) ? h.answers != 0 : h.answers != 1)
			abort();
	}
	if (fuse_files_remove(&files, "ram") < 0 || fuse_files_remove(&files, "async") < 0)
		abort();
	fuse_files_destroy(&files);
	return 0;
}
