/* The FUSE request handlers without a kernel: requests laid out as /dev/fuse
 * delivers them go through fuse_handle_message() with a fake channel that
 * records every answer, over a RAM disk (backend_memory) and a counting disk
 * of the test's own; and with threads per disk, a disk whose writes hang
 * beside two that answer.  Error codes are checked exactly and data is compared.
 * No root, no /dev/fuse. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "transport/fuse_handlers.h"

#define DISK_SIZE (1u << 20)
#define DATA_SIZE (1u << 20) /* the exchange's answer area, as a channel's */

/* ---- the fake channel: every answer recorded ---- */

struct answer {
	uint64_t unique;
	int error;
	size_t len;
	unsigned char *data;
	bool deferred; /* came through complete(), not reply() */
};

struct fake_channel {
	struct fuse_exchange exchange;
	pthread_mutex_t lock;
	pthread_cond_t answered;
	struct answer answers[64];
	unsigned count;
	unsigned deferred, undeferred;
};

struct fuse_pending {
	struct fake_channel *channel;
	uint64_t unique;
};

static void record(struct fake_channel *fc, uint64_t unique, int error, const void *arg, size_t len, bool deferred)
{
	struct answer *a;

	pthread_mutex_lock(&fc->lock);
	assert_true(fc->count < sizeof(fc->answers) / sizeof(fc->answers[0]));
	a = &fc->answers[fc->count++];
	a->unique = unique;
	a->error = error;
	a->len = error ? 0 : len;
	a->data = NULL;
	a->deferred = deferred;
	if (a->len) {
		a->data = malloc(a->len);
		assert_non_null(a->data);
		memcpy(a->data, arg, a->len);
	}
	pthread_cond_broadcast(&fc->answered);
	pthread_mutex_unlock(&fc->lock);
}

static void fake_reply(struct fuse_exchange *exchange, uint64_t unique, int error, const void *arg, size_t len)
{
	record(exchange->channel_state, unique, error, arg, len, false);
}

static struct fuse_pending *fake_defer(struct fuse_exchange *exchange, uint64_t unique, bool keep_data)
{
	struct fake_channel *fc = exchange->channel_state;
	struct fuse_pending *pending = malloc(sizeof(*pending));

	(void)keep_data;

	assert_non_null(pending);
	pending->channel = fc;
	pending->unique = unique;
	fc->deferred++;
	return pending;
}

static void fake_undefer(struct fuse_exchange *exchange, struct fuse_pending *pending)
{
	struct fake_channel *fc = exchange->channel_state;

	fc->undeferred++;
	free(pending);
}

static void fake_complete(struct fuse_pending *pending, int error, const void *data, size_t len)
{
	record(pending->channel, pending->unique, error, data, len, true);
	free(pending);
}

static const struct fuse_channel_ops fake_ops = {
	.name = "fake",
	.reply = fake_reply,
	.defer = fake_defer,
	.undefer = fake_undefer,
	.complete = fake_complete,
};

/* ---- a disk that counts, can be read-only, and can read asynchronously ---- */

struct count_disk {
	struct vdisk disk;
	unsigned char bytes[DISK_SIZE];
	unsigned flushes, trims, zeroes;
	bool async_refuses; /* read_async and write_async say "read/write instead" */
	int async_write_result;  /* what an asynchronous write ends with */
	atomic_uint async_writes; /* started */
	/* While `held`, writes wait: a disk whose server stalls. */
	pthread_mutex_t gate_lock;
	pthread_cond_t gate;
	bool held;
};

static int count_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	memcpy(buf, ((struct count_disk *)disk)->bytes + offset, len);
	return 0;
}

static int count_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	struct count_disk *c = (struct count_disk *)disk;

	pthread_mutex_lock(&c->gate_lock);
	while (c->held)
		pthread_cond_wait(&c->gate, &c->gate_lock);
	pthread_mutex_unlock(&c->gate_lock);
	memcpy(c->bytes + offset, buf, len);
	return 0;
}

static int count_flush(struct vdisk *disk)
{
	((struct count_disk *)disk)->flushes++;
	return 0;
}

static int count_trim(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	struct count_disk *c = (struct count_disk *)disk;

	c->trims++;
	memset(c->bytes + offset, 0, len);
	return 0;
}

static int count_zero(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	struct count_disk *c = (struct count_disk *)disk;

	c->zeroes++;
	memset(c->bytes + offset, 0, len);
	return 0;
}

struct async_job {
	struct count_disk *disk;
	size_t len;
	uint64_t offset;
	vdisk_read_done_fn done;
	void *opaque;
};

static void *async_job_main(void *opaque)
{
	struct async_job *job = opaque;
	unsigned char *buf = malloc(job->len);

	assert_non_null(buf);
	memcpy(buf, job->disk->bytes + job->offset, job->len);
	job->done(job->opaque, 0, buf, job->len);
	free(buf);
	free(job);
	return NULL;
}

/* Answers from a thread of its own, as a proxy disk's reader does. */
static int count_read_async(struct vdisk *disk, size_t len, uint64_t offset, vdisk_read_done_fn done, void *opaque)
{
	struct count_disk *c = (struct count_disk *)disk;
	struct async_job *job;
	pthread_t thread;

	if (c->async_refuses)
		return -EAGAIN;
	job = malloc(sizeof(*job));
	assert_non_null(job);
	*job = (struct async_job){ c, len, offset, done, opaque };
	assert_int_equal(pthread_create(&thread, NULL, async_job_main, job), 0);
	pthread_detach(thread);
	return 0;
}

struct async_write_job {
	struct count_disk *disk;
	const void *buf;
	size_t len;
	uint64_t offset;
	vdisk_write_done_fn done;
	void *opaque;
};

/* Straight into the bytes: never waits on the gate that holds count_write. */
static void *async_write_main(void *opaque)
{
	struct async_write_job *job = opaque;
	int r = job->disk->async_write_result;

	if (r == 0)
		memcpy(job->disk->bytes + job->offset, job->buf, job->len);
	job->done(job->opaque, r);
	free(job);
	return NULL;
}

static int count_write_async(struct vdisk *disk, const void *buf, size_t len, uint64_t offset,
			     vdisk_write_done_fn done, void *opaque)
{
	struct count_disk *c = (struct count_disk *)disk;
	struct async_write_job *job;
	pthread_t thread;

	if (c->async_refuses)
		return -EAGAIN;
	job = malloc(sizeof(*job));
	assert_non_null(job);
	*job = (struct async_write_job){ c, buf, len, offset, done, opaque };
	atomic_fetch_add(&c->async_writes, 1);
	assert_int_equal(pthread_create(&thread, NULL, async_write_main, job), 0);
	pthread_detach(thread);
	return 0;
}

static void count_close(struct vdisk *disk)
{
	struct count_disk *c = (struct count_disk *)disk;

	pthread_cond_destroy(&c->gate);
	pthread_mutex_destroy(&c->gate_lock);
	free(disk);
}

static const struct vdisk_ops count_ops = {
	.name = "count",
	.read = count_read,
	.write = count_write,
	.flush = count_flush,
	.trim = count_trim,
	.zero = count_zero,
	.read_async = count_read_async,
	.write_async = count_write_async,
	.close = count_close,
};

static struct count_disk *count_disk_new(uint32_t flags)
{
	struct count_disk *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->disk.ops = &count_ops;
	c->disk.size = DISK_SIZE;
	c->disk.flags = VDISK_CAN_TRIM | VDISK_TRIM_ZEROES | VDISK_CAN_ZERO | VDISK_CAN_FLUSH | flags;
	pthread_mutex_init(&c->gate_lock, NULL);
	pthread_cond_init(&c->gate, NULL);
	return c;
}

/* ---- the fixture: a namespace with "ram" (memory) and "count" ---- */

struct fixture {
	struct fuse_files files;
	struct fake_channel channel;
	unsigned char *data;
	struct vdisk *ram;
	struct count_disk *count;
	unsigned char message[DATA_SIZE + 4096];
	uint64_t next_unique;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fuse_files_init(&f->files);
	f->files.open_flags = FOPEN_DIRECT_IO;
	pthread_mutex_init(&f->channel.lock, NULL);
	pthread_cond_init(&f->channel.answered, NULL);
	assert_int_equal(posix_memalign((void **)&f->data, 4096, DATA_SIZE), 0);
	f->channel.exchange = (struct fuse_exchange){
		.channel = &fake_ops, .channel_state = &f->channel, .data = f->data, .data_size = DATA_SIZE,
	};
	assert_int_equal(backend_memory_open(DISK_SIZE, &f->ram), 0);
	f->count = count_disk_new(0);
	assert_int_equal(fuse_files_add(&f->files, "ram", f->ram), 0);
	assert_int_equal(fuse_files_add(&f->files, "count", &f->count->disk), 0);
	f->next_unique = 100;
	*state = f;
	return 0;
}

static void answers_clear(struct fake_channel *fc)
{
	for (unsigned i = 0; i < fc->count; i++)
		free(fc->answers[i].data);
	fc->count = 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fuse_files_remove(&f->files, "ram");
	fuse_files_remove(&f->files, "count");
	fuse_files_destroy(&f->files);
	vdisk_close(f->ram);
	vdisk_close(&f->count->disk);
	answers_clear(&f->channel);
	pthread_cond_destroy(&f->channel.answered);
	pthread_mutex_destroy(&f->channel.lock);
	free(f->data);
	free(f);
	return 0;
}

/* Lay out header + fixed argument + payload and hand it to the handlers;
 * returns the unique of the request. */
static uint64_t send_request(struct fixture *f, uint32_t opcode, uint64_t nodeid, const void *op, size_t op_len,
			     const void *payload, size_t payload_len)
{
	struct fuse_in_header in = {
		.len = (uint32_t)(sizeof(in) + op_len + payload_len),
		.opcode = opcode,
		.unique = f->next_unique++,
		.nodeid = nodeid,
		.uid = 0,
	};

	assert_true(sizeof(in) + op_len + payload_len <= sizeof(f->message));
	memcpy(f->message, &in, sizeof(in));
	if (op_len)
		memcpy(f->message + sizeof(in), op, op_len);
	if (payload_len)
		memcpy(f->message + sizeof(in) + op_len, payload, payload_len);
	assert_int_equal(fuse_handle_message(&f->files, &f->channel.exchange, f->message, in.len), 0);
	return in.unique;
}

/* The one answer to `unique` (waiting for a deferred one). */
static const struct answer *answer_to(struct fixture *f, uint64_t unique)
{
	struct fake_channel *fc = &f->channel;
	const struct answer *found = NULL;

	pthread_mutex_lock(&fc->lock);
	for (;;) {
		unsigned seen = 0;

		for (unsigned i = 0; i < fc->count; i++) {
			if (fc->answers[i].unique == unique) {
				found = &fc->answers[i];
				seen++;
			}
		}
		assert_true(seen <= 1); /* never two answers to one request */
		if (found)
			break;
		pthread_cond_wait(&fc->answered, &fc->lock);
	}
	pthread_mutex_unlock(&fc->lock);
	return found;
}

static int error_of(struct fixture *f, uint64_t unique)
{
	return answer_to(f, unique)->error;
}

static uint64_t lookup(struct fixture *f, const char *name, struct fuse_entry_out *entry)
{
	const struct answer *a = answer_to(f, send_request(f, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, name, strlen(name) + 1));

	assert_int_equal(a->error, 0);
	assert_int_equal(a->len, sizeof(*entry));
	memcpy(entry, a->data, sizeof(*entry));
	return entry->nodeid;
}

static uint64_t open_file(struct fixture *f, const char *name, uint32_t flags)
{
	struct fuse_entry_out entry;
	struct fuse_open_in open_in = { .flags = flags };
	struct fuse_open_out open_out;
	const struct answer *a;

	lookup(f, name, &entry);
	a = answer_to(f, send_request(f, FUSE_OPEN, entry.nodeid, &open_in, sizeof(open_in), NULL, 0));
	assert_int_equal(a->error, 0);
	assert_int_equal(a->len, sizeof(open_out));
	memcpy(&open_out, a->data, sizeof(open_out));
	assert_true(open_out.fh != 0);
	assert_int_equal(open_out.open_flags, FOPEN_DIRECT_IO);
	return open_out.fh;
}

static int write_at(struct fixture *f, uint64_t fh, const void *buf, uint32_t len, uint64_t offset)
{
	struct fuse_write_in write_in = { .fh = fh, .offset = offset, .size = len };
	const struct answer *a = answer_to(f, send_request(f, FUSE_WRITE, 0, &write_in, sizeof(write_in), buf, len));
	struct fuse_write_out write_out;

	if (a->error)
		return a->error;
	assert_int_equal(a->len, sizeof(write_out));
	memcpy(&write_out, a->data, sizeof(write_out));
	assert_int_equal(write_out.size, len);
	return 0;
}

static const struct answer *read_at(struct fixture *f, uint64_t fh, uint32_t len, uint64_t offset)
{
	struct fuse_read_in read_in = { .fh = fh, .offset = offset, .size = len };

	return answer_to(f, send_request(f, FUSE_READ, 0, &read_in, sizeof(read_in), NULL, 0));
}

/* ---- the tests ---- */

static void test_lookup(void **state)
{
	struct fixture *f = *state;
	struct fuse_entry_out entry;
	uint64_t ino = lookup(f, "ram", &entry);

	assert_true(ino > FUSE_ROOT_ID);
	assert_int_equal(entry.attr.ino, ino);
	assert_int_equal(entry.attr.size, DISK_SIZE);
	assert_int_equal(entry.attr.mode, S_IFREG | 0600);
	assert_int_equal(entry.attr.nlink, 1);
	assert_int_equal(error_of(f, send_request(f, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "none", 5)), -ENOENT);
	/* Only the root is a directory. */
	assert_int_equal(error_of(f, send_request(f, FUSE_LOOKUP, ino, NULL, 0, "ram", 4)), -ENOTDIR);
	/* A name without its terminating NUL, and an empty one. */
	assert_int_equal(error_of(f, send_request(f, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "ram", 3)), -EINVAL);
	assert_int_equal(error_of(f, send_request(f, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "", 1)), -EINVAL);
}

static void test_getattr(void **state)
{
	struct fixture *f = *state;
	struct fuse_entry_out entry;
	struct fuse_attr_out attr_out;
	const struct answer *a;
	uint64_t ino = lookup(f, "count", &entry);

	a = answer_to(f, send_request(f, FUSE_GETATTR, FUSE_ROOT_ID, NULL, 0, NULL, 0));
	assert_int_equal(a->error, 0);
	assert_int_equal(a->len, sizeof(attr_out));
	memcpy(&attr_out, a->data, sizeof(attr_out));
	assert_int_equal(attr_out.attr.mode, S_IFDIR | 0755);
	assert_int_equal(attr_out.attr.ino, FUSE_ROOT_ID);

	a = answer_to(f, send_request(f, FUSE_GETATTR, ino, NULL, 0, NULL, 0));
	assert_int_equal(a->error, 0);
	memcpy(&attr_out, a->data, sizeof(attr_out));
	assert_int_equal(attr_out.attr.size, DISK_SIZE);
	assert_int_equal(attr_out.attr.blocks, DISK_SIZE / 512);
	assert_int_equal(attr_out.attr.mode, S_IFREG | 0600);
	assert_int_equal(error_of(f, send_request(f, FUSE_GETATTR, 12345, NULL, 0, NULL, 0)), -ENOENT);
}

static void test_open(void **state)
{
	struct fixture *f = *state;
	struct fuse_open_in rw = { .flags = O_RDWR }, ro = { .flags = O_RDONLY };
	struct fuse_entry_out entry;
	struct count_disk *locked = count_disk_new(VDISK_READ_ONLY);
	uint64_t ino;

	open_file(f, "ram", O_RDWR);
	assert_int_equal(error_of(f, send_request(f, FUSE_OPEN, FUSE_ROOT_ID, &rw, sizeof(rw), NULL, 0)), -EISDIR);
	assert_int_equal(error_of(f, send_request(f, FUSE_OPEN, 999, &rw, sizeof(rw), NULL, 0)), -ENOENT);
	/* A read-only disk opens for reading only, and shows mode 0400. */
	assert_int_equal(fuse_files_add(&f->files, "ro", &locked->disk), 0);
	ino = lookup(f, "ro", &entry);
	assert_int_equal(entry.attr.mode, S_IFREG | 0400);
	assert_int_equal(error_of(f, send_request(f, FUSE_OPEN, ino, &rw, sizeof(rw), NULL, 0)), -EROFS);
	assert_int_equal(error_of(f, send_request(f, FUSE_OPEN, ino, &ro, sizeof(ro), NULL, 0)), 0);
	assert_int_equal(fuse_files_remove(&f->files, "ro"), 0);
	vdisk_close(&locked->disk);
}

static void test_read_write(void **state)
{
	struct fixture *f = *state;
	uint64_t fh = open_file(f, "ram", O_RDWR);
	static unsigned char out[256 << 10];
	const struct answer *a;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (unsigned char)(i * 13 + 7);
	assert_int_equal(write_at(f, fh, out, sizeof(out), 12345), 0);
	a = read_at(f, fh, sizeof(out), 12345);
	assert_int_equal(a->error, 0);
	assert_int_equal(a->len, sizeof(out));
	assert_memory_equal(a->data, out, sizeof(out));
	/* Never written: zeroes. */
	a = read_at(f, fh, 4096, DISK_SIZE - 8192);
	assert_int_equal(a->error, 0);
	assert_int_equal(a->len, 4096);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(a->data[i], 0);
	/* Past the end: short, then empty; a write does not grow the disk. */
	assert_int_equal(read_at(f, fh, 4096, DISK_SIZE - 100)->len, 100);
	a = read_at(f, fh, 4096, DISK_SIZE);
	assert_int_equal(a->error, 0);
	assert_int_equal(a->len, 0);
	assert_int_equal(write_at(f, fh, out, 4096, DISK_SIZE - 100), -ENOSPC);
	assert_int_equal(write_at(f, fh, out, 4096, UINT64_MAX - 10), -ENOSPC);
	/* More than the answer area holds. */
	assert_int_equal(read_at(f, fh, DATA_SIZE + 1, 0)->error, -EINVAL);
}

static void test_write_size_beyond_payload(void **state)
{
	struct fixture *f = *state;
	uint64_t fh = open_file(f, "count", O_RDWR);
	struct fuse_write_in write_in = { .fh = fh, .offset = 0, .size = 8192 };
	unsigned char data[4096];

	memset(data, 0xab, sizeof(data));
	/* The header says 8192 bytes, the message carries 4096. */
	assert_int_equal(error_of(f, send_request(f, FUSE_WRITE, 0, &write_in, sizeof(write_in), data, sizeof(data))),
			 -EINVAL);
	assert_int_equal(f->count->bytes[0], 0); /* nothing written */
}

static void test_fsync(void **state)
{
	struct fixture *f = *state;
	uint64_t fh = open_file(f, "count", O_RDWR);
	struct fuse_fsync_in fsync_in = { .fh = fh };

	assert_int_equal(error_of(f, send_request(f, FUSE_FSYNC, 0, &fsync_in, sizeof(fsync_in), NULL, 0)), 0);
	assert_int_equal(f->count->flushes, 1);
}

static int fallocate_at(struct fixture *f, uint64_t fh, uint32_t mode, uint64_t offset, uint64_t len)
{
	struct fuse_fallocate_in in = { .fh = fh, .offset = offset, .length = len, .mode = mode };

	return error_of(f, send_request(f, FUSE_FALLOCATE, 0, &in, sizeof(in), NULL, 0));
}

static void test_fallocate(void **state)
{
	struct fixture *f = *state;
	uint64_t fh = open_file(f, "count", O_RDWR);

	memset(f->count->bytes, 0x5a, DISK_SIZE);
	assert_int_equal(fallocate_at(f, fh, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096), 0);
	assert_int_equal(f->count->trims, 1); /* a trim, since it leaves zeroes */
	assert_int_equal(f->count->bytes[4096], 0);
	assert_int_equal(f->count->bytes[8191], 0);
	assert_int_equal(f->count->bytes[8192], 0x5a);
	assert_int_equal(fallocate_at(f, fh, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 65536, 512), 0);
	assert_int_equal(f->count->zeroes, 1);
	assert_int_equal(f->count->bytes[65536 + 511], 0);
	assert_int_equal(f->count->bytes[65536 + 512], 0x5a);
	/* Allocating inside the disk: nothing to do. */
	assert_int_equal(fallocate_at(f, fh, 0, 0, 4096), 0);
	assert_int_equal(fallocate_at(f, fh, FALLOC_FL_KEEP_SIZE, 0, 4096), 0);
	/* Past the end: EINVAL keeping the size, EFBIG growing it. */
	assert_int_equal(fallocate_at(f, fh, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, DISK_SIZE - 512, 4096),
			 -EINVAL);
	assert_int_equal(fallocate_at(f, fh, 0, DISK_SIZE, 4096), -EFBIG);
	assert_int_equal(fallocate_at(f, fh, FALLOC_FL_COLLAPSE_RANGE, 0, 4096), -EOPNOTSUPP);
	assert_int_equal(fallocate_at(f, fh, FALLOC_FL_PUNCH_HOLE, 0, 4096), -EOPNOTSUPP); /* without KEEP_SIZE */
	assert_int_equal(f->count->trims, 1);
	assert_int_equal(f->count->zeroes, 1);
}

static void test_bad_opcodes(void **state)
{
	struct fixture *f = *state;
	struct fuse_init_in init_in = { .major = FUSE_KERNEL_VERSION, .minor = FUSE_KERNEL_MINOR_VERSION };

	assert_int_equal(error_of(f, send_request(f, 9999, FUSE_ROOT_ID, NULL, 0, NULL, 0)), -ENOSYS);
	assert_int_equal(error_of(f, send_request(f, FUSE_SYMLINK, FUSE_ROOT_ID, NULL, 0, "a\0b", 4)), -ENOSYS);
	assert_int_equal(error_of(f, send_request(f, FUSE_MKNOD, FUSE_ROOT_ID, NULL, 0, NULL, 0)), -ENOSYS);
	/* INIT is the lifecycle's, once: here it is just not supported. */
	assert_int_equal(error_of(f, send_request(f, FUSE_INIT, 0, &init_in, sizeof(init_in), NULL, 0)), -ENOSYS);
	/* No answer to FORGET and INTERRUPT. */
	send_request(f, FUSE_INTERRUPT, 0, NULL, 0, NULL, 0);
	assert_int_equal(f->channel.count, 4);
	assert_false(f->channel.exchange.answered);
}

static void test_short_messages(void **state)
{
	struct fixture *f = *state;
	struct fuse_in_header in = { .opcode = FUSE_GETATTR, .unique = 7, .nodeid = FUSE_ROOT_ID };
	struct fuse_read_in read_in = { 0 };
	struct fuse_forget_in forget_in = { .nlookup = 1 };

	memcpy(f->message, &in, sizeof(in));
	/* Shorter than a header: nothing to answer. */
	assert_int_equal(fuse_handle_message(&f->files, &f->channel.exchange, f->message, sizeof(in) - 1), -EPROTO);
	assert_int_equal(fuse_handle_message(&f->files, &f->channel.exchange, f->message, 0), -EPROTO);
	assert_int_equal(f->channel.count, 0);
	/* A fixed argument cut short: EINVAL, without looking at it. */
	assert_int_equal(error_of(f, send_request(f, FUSE_READ, 0, &read_in, sizeof(read_in) - 1, NULL, 0)), -EINVAL);
	assert_int_equal(error_of(f, send_request(f, FUSE_OPEN, 2, &read_in, 3, NULL, 0)), -EINVAL);
	/* ... but never an answer to a FORGET, even a short one. */
	send_request(f, FUSE_FORGET, 2, &forget_in, sizeof(forget_in) - 1, NULL, 0);
	assert_int_equal(f->channel.count, 2);
}

static void test_removed_disk(void **state)
{
	struct fixture *f = *state;
	uint64_t fh = open_file(f, "count", O_RDWR);
	struct fuse_fsync_in fsync_in = { .fh = fh };
	unsigned char data[512] = { 1 };
	struct fuse_entry_out entry;
	struct fuse_attr_out attr_out;
	const struct answer *a;
	uint64_t ino = lookup(f, "count", &entry);

	assert_int_equal(fuse_files_remove(&f->files, "count"), 0);
	assert_int_equal(fuse_files_remove(&f->files, "count"), -ENOENT);
	/* The file is still open: its requests fail with EIO, its inode lives on. */
	assert_int_equal(read_at(f, fh, 512, 0)->error, -EIO);
	assert_int_equal(write_at(f, fh, data, sizeof(data), 0), -EIO);
	assert_int_equal(error_of(f, send_request(f, FUSE_FSYNC, 0, &fsync_in, sizeof(fsync_in), NULL, 0)), -EIO);
	assert_int_equal(fallocate_at(f, fh, 0, 0, 512), -EIO);
	a = answer_to(f, send_request(f, FUSE_GETATTR, ino, NULL, 0, NULL, 0));
	assert_int_equal(a->error, 0);
	memcpy(&attr_out, a->data, sizeof(attr_out));
	assert_int_equal(attr_out.attr.nlink, 0);
	assert_int_equal(error_of(f, send_request(f, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "count", 6)), -ENOENT);
}

static void test_async_read(void **state)
{
	struct fixture *f = *state;
	uint64_t fh;
	const struct answer *a;

	f->count->disk.flags |= VDISK_ASYNC_READ;
	fh = open_file(f, "count", O_RDONLY);
	for (size_t i = 0; i < DISK_SIZE; i++)
		f->count->bytes[i] = (unsigned char)(i * 31);
	/* Answered from the disk's own thread, through the channel's complete(). */
	a = read_at(f, fh, 65536, 4096);
	assert_true(a->deferred);
	assert_int_equal(a->error, 0);
	assert_int_equal(a->len, 65536);
	assert_memory_equal(a->data, f->count->bytes + 4096, 65536);
	assert_int_equal(f->channel.deferred, 1);
	/* A disk that says "read instead": the defer is undone, the answer comes now. */
	f->count->async_refuses = true;
	a = read_at(f, fh, 4096, 8192);
	assert_false(a->deferred);
	assert_int_equal(a->len, 4096);
	assert_memory_equal(a->data, f->count->bytes + 8192, 4096);
	assert_int_equal(f->channel.undeferred, 1);
	/* An empty read is never deferred. */
	f->count->async_refuses = false;
	a = read_at(f, fh, 4096, DISK_SIZE);
	assert_false(a->deferred);
	assert_int_equal(a->len, 0);
	/* The handlers let go of the disk once the answer was handed over:
	 * removing it does not wait forever. */
	assert_int_equal(fuse_files_remove(&f->files, "count"), 0);
}

/* WRITE on a disk that writes asynchronously: answered through complete()
 * from the disk's thread, also on a disk with threads of its own (which it
 * then does not go through: their sync write is held here). */
static void test_async_write(void **state)
{
	struct fixture *f = *state;
	struct count_disk *aw = count_disk_new(VDISK_ASYNC_WRITE);
	struct count_disk *ro = count_disk_new(VDISK_ASYNC_WRITE | VDISK_READ_ONLY);
	unsigned char data[8192];
	uint64_t fh, fh_ro;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 13 + 5);
	f->files.disk_threads = 2;
	assert_int_equal(fuse_files_add(&f->files, "aw", &aw->disk), 0);
	assert_int_equal(fuse_files_add(&f->files, "ro", &ro->disk), 0);
	fh = open_file(f, "aw", O_RDWR);
	aw->held = true; /* a write through the disk's threads would hang */
	assert_int_equal(write_at(f, fh, data, sizeof(data), 12288), 0);
	assert_true(answer_to(f, f->next_unique - 1)->deferred);
	assert_int_equal(atomic_load(&aw->async_writes), 1);
	assert_memory_equal(aw->bytes + 12288, data, sizeof(data));
	assert_int_equal(f->channel.undeferred, 0);
	/* The disk's error is the answer. */
	aw->async_write_result = -EIO;
	assert_int_equal(write_at(f, fh, data, 4096, 0), -EIO);
	assert_true(answer_to(f, f->next_unique - 1)->deferred);
	aw->async_write_result = 0;
	/* "Write instead": the defer is undone and the write goes the usual way. */
	aw->held = false;
	aw->async_refuses = true;
	assert_int_equal(write_at(f, fh, data + 4096, 4096, 65536), 0);
	assert_int_equal(f->channel.undeferred, 1);
	assert_memory_equal(aw->bytes + 65536, data + 4096, 4096);
	assert_int_equal(atomic_load(&aw->async_writes), 2);
	/* Past the end: refused before the disk is asked. */
	aw->async_refuses = false;
	assert_int_equal(write_at(f, fh, data, 4096, DISK_SIZE - 2048), -ENOSPC);
	assert_int_equal(atomic_load(&aw->async_writes), 2);
	/* A read-only disk is never asked to write. */
	fh_ro = open_file(f, "ro", O_RDONLY);
	assert_int_equal(write_at(f, fh_ro, data, 4096, 0), -EROFS);
	assert_int_equal(atomic_load(&ro->async_writes), 0);
	assert_int_equal(fuse_files_remove(&f->files, "aw"), 0);
	assert_int_equal(fuse_files_remove(&f->files, "ro"), 0);
	vdisk_close(&aw->disk);
	vdisk_close(&ro->disk);
}

static void test_readdir_statfs_access(void **state)
{
	struct fixture *f = *state;
	struct fuse_read_in read_in = { .size = 4096 };
	struct fuse_access_in access_in = { .mask = R_OK };
	struct fuse_statfs_out statfs_out;
	const struct answer *a;
	const char *names[3];
	size_t used = 0;
	unsigned count = 0;

	a = answer_to(f, send_request(f, FUSE_READDIR, FUSE_ROOT_ID, &read_in, sizeof(read_in), NULL, 0));
	assert_int_equal(a->error, 0);
	while (used < a->len) {
		const struct fuse_dirent *dirent = (const void *)(a->data + used);

		assert_true(count < 4);
		if (count >= 2)
			names[count - 2] = dirent->namelen == 3 ? "ram" : dirent->namelen == 5 ? "count" : "?";
		assert_true(memcmp(dirent->name, count == 0 ? "." : count == 1 ? ".." : names[count - 2],
				   dirent->namelen) == 0);
		used += FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + dirent->namelen);
		count++;
	}
	assert_int_equal(count, 4);
	assert_int_equal(error_of(f, send_request(f, FUSE_READDIR, 2, &read_in, sizeof(read_in), NULL, 0)), -ENOTDIR);

	a = answer_to(f, send_request(f, FUSE_STATFS, FUSE_ROOT_ID, NULL, 0, NULL, 0));
	assert_int_equal(a->error, 0);
	memcpy(&statfs_out, a->data, sizeof(statfs_out));
	assert_int_equal(statfs_out.st.files, 2);
	assert_int_equal(statfs_out.st.blocks, 2 * DISK_SIZE / 4096);
	assert_int_equal(statfs_out.st.bsize, 4096);

	assert_int_equal(error_of(f, send_request(f, FUSE_ACCESS, FUSE_ROOT_ID, &access_in, sizeof(access_in), NULL, 0)),
			 0);
}

/* With threads per disk, a disk that may wait is served on its own threads
 * (answers come through complete()), a RAM disk on the caller's; a disk whose
 * writes hang holds neither the others nor the caller. */
static void test_disk_threads(void **state)
{
	struct fixture *f = *state;
	struct count_disk *slow = count_disk_new(0), *other = count_disk_new(0);
	struct fuse_write_in write_in;
	unsigned char data[4096];
	uint64_t fh_slow, fh_other, fh_ram, held;
	const struct answer *a;

	f->files.disk_threads = 2;
	assert_int_equal(fuse_files_add(&f->files, "slow", &slow->disk), 0);
	assert_int_equal(fuse_files_add(&f->files, "other", &other->disk), 0);
	fh_slow = open_file(f, "slow", O_RDWR);
	fh_other = open_file(f, "other", O_RDWR);
	fh_ram = open_file(f, "ram", O_RDWR);
	memset(data, 0x77, sizeof(data));

	slow->held = true;
	write_in = (struct fuse_write_in){ .fh = fh_slow, .offset = 8192, .size = sizeof(data) };
	held = send_request(f, FUSE_WRITE, 0, &write_in, sizeof(write_in), data, sizeof(data));
	assert_true(f->channel.exchange.answered); /* deferred: the caller is free */

	assert_int_equal(write_at(f, fh_other, data, sizeof(data), 4096), 0);
	assert_true(answer_to(f, f->next_unique - 1)->deferred);
	a = read_at(f, fh_other, sizeof(data), 4096);
	assert_true(a->deferred);
	assert_int_equal(a->len, sizeof(data));
	assert_memory_equal(a->data, data, sizeof(data));
	assert_int_equal(write_at(f, fh_ram, data, sizeof(data), 0), 0);
	assert_false(answer_to(f, f->next_unique - 1)->deferred);
	a = read_at(f, fh_ram, sizeof(data), 0);
	assert_false(a->deferred);
	assert_memory_equal(a->data, data, sizeof(data));

	/* The held write is still unanswered, and ends once the disk moves. */
	pthread_mutex_lock(&f->channel.lock);
	for (unsigned i = 0; i < f->channel.count; i++)
		assert_true(f->channel.answers[i].unique != held);
	pthread_mutex_unlock(&f->channel.lock);
	pthread_mutex_lock(&slow->gate_lock);
	slow->held = false;
	pthread_cond_broadcast(&slow->gate);
	pthread_mutex_unlock(&slow->gate_lock);
	a = answer_to(f, held);
	assert_true(a->deferred);
	assert_int_equal(a->error, 0);
	assert_memory_equal(slow->bytes + 8192, data, sizeof(data));

	assert_int_equal(fuse_files_remove(&f->files, "slow"), 0);
	assert_int_equal(fuse_files_remove(&f->files, "other"), 0);
	vdisk_close(&slow->disk);
	vdisk_close(&other->disk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_getattr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_size_beyond_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fallocate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_opcodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir_statfs_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
