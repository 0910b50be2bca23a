/* For unit tests of the vdisk entry points and of layers: a disk that counts the
 * calls of every op and records the last offset, so that a test sees which ops
 * were called, and where.  Include after cmocka.h. */
#ifndef IMDISK_TESTS_UNIT_RECORDING_DISK_H
#define IMDISK_TESTS_UNIT_RECORDING_DISK_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vdisk/vdisk.h"

#ifndef MiB
#define MiB (1024u * 1024u)
#endif

struct recorder {
	struct vdisk disk;
	unsigned reads, writes, flushes, trims, zeroes, views, view_ends, async_reads, async_writes, resizes;
	unsigned *closed; /* set at close (outlives the disk) */
	uint64_t last_offset;
	int trim_result; /* what trim answers (0, or -EOPNOTSUPP: "cannot") */
	uint8_t bytes[4096];
};

#define RECORDER_FLUSH_RESULT (-EDQUOT) /* a result no fallback makes up */

static struct recorder *as_recorder(struct vdisk *disk)
{
	return (struct recorder *)disk;
}

static int rec_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	as_recorder(disk)->reads++;
	as_recorder(disk)->last_offset = offset;
	memset(buf, 0x5a, len);
	return 0;
}

static int rec_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	(void)buf;
	(void)len;
	as_recorder(disk)->writes++;
	as_recorder(disk)->last_offset = offset;
	return 0;
}

static int rec_flush(struct vdisk *disk)
{
	as_recorder(disk)->flushes++;
	return RECORDER_FLUSH_RESULT;
}

static int rec_trim(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	(void)len;
	as_recorder(disk)->trims++;
	as_recorder(disk)->last_offset = offset;
	return as_recorder(disk)->trim_result;
}

static int rec_zero(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	(void)len;
	as_recorder(disk)->zeroes++;
	as_recorder(disk)->last_offset = offset;
	return 0;
}

static const void *rec_view(struct vdisk *disk, size_t len, uint64_t offset)
{
	(void)len;
	as_recorder(disk)->views++;
	as_recorder(disk)->last_offset = offset;
	return as_recorder(disk)->bytes;
}

static void rec_view_end(struct vdisk *disk)
{
	as_recorder(disk)->view_ends++;
}

static int rec_read_async(struct vdisk *disk, size_t len, uint64_t offset, vdisk_read_done_fn done,
			  void *opaque)
{
	(void)len;
	(void)done;
	(void)opaque;
	as_recorder(disk)->async_reads++;
	as_recorder(disk)->last_offset = offset;
	return -EAGAIN; /* "not started": done is never called */
}

static int rec_write_async(struct vdisk *disk, const void *buf, size_t len, uint64_t offset,
			   vdisk_write_done_fn done, void *opaque)
{
	(void)buf;
	(void)len;
	(void)done;
	(void)opaque;
	as_recorder(disk)->async_writes++;
	as_recorder(disk)->last_offset = offset;
	return -EAGAIN; /* "not started": done is never called */
}

static int rec_resize(struct vdisk *disk, uint64_t new_size)
{
	as_recorder(disk)->resizes++;
	disk->size = new_size;
	return 0;
}

static void rec_close(struct vdisk *disk)
{
	(*as_recorder(disk)->closed)++;
	free(disk);
}

static const struct vdisk_ops recorder_ops = {
	.name = "recorder",
	.read = rec_read,
	.write = rec_write,
	.flush = rec_flush,
	.trim = rec_trim,
	.zero = rec_zero,
	.view = rec_view,
	.view_end = rec_view_end,
	.read_async = rec_read_async,
	.write_async = rec_write_async,
	.resize = rec_resize,
	.close = rec_close,
};

/* A 1 MiB disk with these flags; *closed counts its closes. */
static struct recorder *recorder_new(uint32_t flags, unsigned *closed)
{
	struct recorder *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->disk.ops = &recorder_ops;
	r->disk.size = MiB;
	r->disk.flags = flags;
	r->closed = closed;
	return r;
}

static void no_done(void *opaque, int result, const void *data, size_t len)
{
	(void)opaque;
	(void)result;
	(void)data;
	(void)len;
	fail_msg("an asynchronous read that was not started completed");
}

static void no_write_done(void *opaque, int result)
{
	(void)opaque;
	(void)result;
	fail_msg("an asynchronous write that was not started completed");
}
#endif
