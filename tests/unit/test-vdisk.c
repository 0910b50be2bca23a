/* Unit tests for the vdisk entry points (src/vdisk/vdisk.c) and the flags they
 * read: VDISK_CAN_FLUSH (a flush reaches the op only with it), VDISK_TRIM_ZEROES
 * (a punch trims only where a trim leaves zeroes, else it zeroes),
 * VDISK_READ_ONLY (changes refused before any op), and the range checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "recording-disk.h"

static unsigned closed;

static void test_flush_needs_can_flush(void **state)
{
	struct recorder *rec = recorder_new(0, &closed);

	(void)state;
	assert_int_equal(vdisk_flush(&rec->disk), 0);
	assert_int_equal(rec->flushes, 0);
	/* With the flag, the op's own result comes back. */
	rec->disk.flags |= VDISK_CAN_FLUSH;
	assert_int_equal(vdisk_flush(&rec->disk), RECORDER_FLUSH_RESULT);
	assert_int_equal(rec->flushes, 1);
	vdisk_close(&rec->disk);
}

static void test_flush_without_op(void **state)
{
	static const struct vdisk_ops no_flush_ops = {.name = "no-flush", .read = rec_read,
						      .write = rec_write, .close = rec_close};
	struct recorder *rec = recorder_new(VDISK_CAN_FLUSH, &closed);

	(void)state;
	rec->disk.ops = &no_flush_ops;
	assert_int_equal(vdisk_flush(&rec->disk), 0);
	vdisk_close(&rec->disk);
}

static void test_punch_follows_trim_zeroes(void **state)
{
	struct recorder *rec = recorder_new(VDISK_CAN_TRIM | VDISK_CAN_ZERO, &closed);

	(void)state;
	/* A trim that may leave the old bytes: the punch zeroes. */
	assert_int_equal(vdisk_punch(&rec->disk, 4096, 8192), 0);
	assert_int_equal(rec->trims, 0);
	assert_int_equal(rec->zeroes, 1);
	assert_int_equal(rec->last_offset, 4096);
	/* A trim that leaves zeroes: the punch trims. */
	rec->disk.flags |= VDISK_TRIM_ZEROES;
	assert_int_equal(vdisk_punch(&rec->disk, 12288, 4096), 0);
	assert_int_equal(rec->trims, 1);
	assert_int_equal(rec->zeroes, 1);
	assert_int_equal(rec->last_offset, 12288);
	vdisk_close(&rec->disk);
}

/* vdisk_trim is advice: a disk that cannot trim succeeds; vdisk_try_trim says
 * -EOPNOTSUPP; vdisk_punch then zeroes. */
static void test_trim_that_cannot(void **state)
{
	struct recorder *rec = recorder_new(VDISK_CAN_TRIM | VDISK_TRIM_ZEROES, &closed);

	(void)state;
	rec->trim_result = -EOPNOTSUPP;
	assert_int_equal(vdisk_trim(&rec->disk, 0, 4096), 0);
	assert_int_equal(vdisk_try_trim(&rec->disk, 0, 4096), -EOPNOTSUPP);
	assert_int_equal(rec->zeroes, 0);
	assert_int_equal(vdisk_punch(&rec->disk, 0, 4096), 0);
	assert_int_equal(rec->trims, 3);
	assert_int_equal(rec->zeroes, 1);
	vdisk_close(&rec->disk);
}

static void test_read_only_refuses_changes(void **state)
{
	struct recorder *rec = recorder_new(VDISK_READ_ONLY | VDISK_CAN_TRIM | VDISK_TRIM_ZEROES, &closed);
	uint8_t buf[512];

	(void)state;
	assert_int_equal(vdisk_write(&rec->disk, buf, sizeof(buf), 0), -EROFS);
	assert_int_equal(vdisk_trim(&rec->disk, 0, 512), -EROFS);
	assert_int_equal(vdisk_zero(&rec->disk, 0, 512), -EROFS);
	assert_int_equal(vdisk_punch(&rec->disk, 0, 512), -EROFS);
	assert_int_equal(vdisk_write_async(&rec->disk, buf, sizeof(buf), 0, no_write_done, NULL), -EROFS);
	assert_int_equal(rec->writes + rec->trims + rec->zeroes + rec->async_writes, 0);
	assert_int_equal(vdisk_read(&rec->disk, buf, sizeof(buf), 0), 0);
	assert_int_equal(rec->reads, 1);
	vdisk_close(&rec->disk);
}

static void test_ranges(void **state)
{
	struct recorder *rec = recorder_new(0, &closed);
	uint8_t buf[512];

	(void)state;
	assert_int_equal(vdisk_read(&rec->disk, buf, 2, MiB - 1), -EINVAL);
	assert_int_equal(vdisk_write(&rec->disk, buf, 1, MiB), -EINVAL);
	assert_int_equal(vdisk_trim(&rec->disk, UINT64_MAX, 2), -EINVAL);
	assert_null(vdisk_view(&rec->disk, 2, MiB - 1));
	assert_int_equal(vdisk_read_async(&rec->disk, 2, MiB - 1, no_done, NULL), -EINVAL);
	assert_int_equal(vdisk_write_async(&rec->disk, buf, 2, MiB - 1, no_write_done, NULL), -EINVAL);
	assert_int_equal(vdisk_write_async(&rec->disk, buf, 0, 0, no_write_done, NULL), -EINVAL);
	assert_int_equal(rec->reads + rec->writes + rec->trims + rec->views + rec->async_reads + rec->async_writes, 0);
	/* In range: the op's own answer. */
	assert_int_equal(vdisk_write_async(&rec->disk, buf, 2, MiB - 2, no_write_done, NULL), -EAGAIN);
	assert_int_equal(rec->async_writes, 1);
	assert_int_equal(rec->last_offset, MiB - 2);
	/* Empty requests succeed without an op. */
	assert_int_equal(vdisk_read(&rec->disk, buf, 0, MiB), 0);
	assert_int_equal(rec->reads, 0);
	vdisk_close(&rec->disk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flush_needs_can_flush),
		cmocka_unit_test(test_flush_without_op),
		cmocka_unit_test(test_punch_follows_trim_zeroes),
		cmocka_unit_test(test_trim_that_cannot),
		cmocka_unit_test(test_read_only_refuses_changes),
		cmocka_unit_test(test_ranges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
