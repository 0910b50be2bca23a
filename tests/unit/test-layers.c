/* Layers over a RAM disk: window offsets and bounds, read-only, byte swap (round
 * trip, the swapped bytes underneath, odd edges, the caller's buffer untouched);
 * over a disk that records its calls: the ops a layer does not define pass to the
 * lower disk, and a layer's flush follows the lower disk's VDISK_CAN_FLUSH. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "layer/layer.h"
#include "recording-disk.h"

#define MiB (1024u * 1024u)

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 131u + seed * 7u + 1u) % 251u + 1u);
}

static struct vdisk *memory_disk(uint64_t size)
{
	struct vdisk *disk;

	assert_int_equal(backend_memory_open(size, &disk), 0);
	return disk;
}

static void test_window(void **state)
{
	struct vdisk *lower = memory_disk(MiB), *window;
	uint8_t in[1000], out[1000];

	(void)state;
	assert_int_equal(layer_window_open(lower, 4096, 65536, &window), 0);
	assert_int_equal(window->size, 65536);
	assert_ptr_equal(window->lower, lower);
	assert_int_equal(window->flags, lower->flags);
	fill_pattern(in, sizeof(in), 1);
	assert_int_equal(vdisk_write(window, in, sizeof(in), 100), 0);
	/* Underneath it sits at the window's offset. */
	assert_int_equal(vdisk_read(lower, out, sizeof(out), 4096 + 100), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(vdisk_read(window, out, sizeof(out), 100), 0);
	assert_memory_equal(in, out, sizeof(in));
	/* Bounds are the window's, not the lower disk's. */
	assert_int_equal(vdisk_read(window, out, 2, 65535), -EINVAL);
	assert_int_equal(vdisk_write(window, in, 1, 65536), -EINVAL);
	assert_int_equal(vdisk_write(window, in, 1, 65535), 0);
	assert_int_equal(vdisk_zero(window, 0, 65536), 0);
	assert_int_equal(vdisk_read(lower, out, sizeof(out), 4096 + 100), 0);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
	assert_int_equal(vdisk_trim(window, 0, 65537), -EINVAL);
	assert_int_equal(vdisk_resize(window, 2 * 65536), -EOPNOTSUPP);
	vdisk_close(window); /* closes lower too (ASan would see a leak otherwise) */
}

static void test_window_fit(void **state)
{
	struct vdisk *lower = memory_disk(MiB), *window = NULL;

	(void)state;
	assert_int_equal(layer_window_open(lower, 1, MiB, &window), -EINVAL);
	assert_int_equal(layer_window_open(lower, MiB + 1, 0, &window), -EINVAL);
	assert_int_equal(layer_window_open(lower, UINT64_MAX, 2, &window), -EINVAL);
	assert_null(window);
	assert_int_equal(layer_window_open(lower, 0, MiB, &window), 0);
	vdisk_close(window);
}

static void test_readonly(void **state)
{
	struct vdisk *lower = memory_disk(MiB), *disk;
	uint8_t in[512], out[512];

	(void)state;
	fill_pattern(in, sizeof(in), 2);
	assert_int_equal(vdisk_write(lower, in, sizeof(in), 0), 0);
	assert_int_equal(layer_readonly_open(lower, &disk), 0);
	assert_true(disk->flags & VDISK_READ_ONLY);
	assert_false(disk->flags & (VDISK_CAN_TRIM | VDISK_CAN_ZERO));
	assert_int_equal(disk->size, MiB);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 0), -EROFS);
	assert_int_equal(vdisk_trim(disk, 0, 512), -EROFS);
	assert_int_equal(vdisk_zero(disk, 0, 512), -EROFS);
	assert_int_equal(vdisk_resize(disk, 2 * MiB), -EROFS);
	/* Even past the entry points. */
	assert_int_equal(disk->ops->write(disk, in, sizeof(in), 0), -EROFS);
	assert_int_equal(vdisk_flush(disk), 0);
	assert_int_equal(vdisk_read(lower, out, sizeof(out), 0), 0);
	assert_memory_equal(in, out, sizeof(in));
	vdisk_close(disk);
}

static void test_byteswap_round_trip(void **state)
{
	struct vdisk *lower = memory_disk(MiB), *disk;
	uint8_t in[8192], copy[8192], out[8192];

	(void)state;
	/* As if the disk underneath read asynchronously (a proxy disk). */
	lower->flags |= VDISK_ASYNC_READ | VDISK_ASYNC_WRITE;
	assert_int_equal(layer_byteswap_open(lower, &disk), 0);
	/* A swapped trim keeps its odd edges: it no longer promises zeroes; and
	 * reads and writes are swapped here, never answered later. */
	assert_int_equal(disk->flags, lower->flags & ~(VDISK_TRIM_ZEROES | VDISK_ASYNC_READ | VDISK_ASYNC_WRITE));
	fill_pattern(in, sizeof(in), 3);
	memcpy(copy, in, sizeof(in));
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 1024), 0);
	/* The caller's buffer is left as it was. */
	assert_memory_equal(in, copy, sizeof(in));
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 1024), 0);
	assert_memory_equal(in, out, sizeof(in));
	/* On the disk underneath, every pair is swapped. */
	assert_int_equal(vdisk_read(lower, out, sizeof(out), 1024), 0);
	for (size_t i = 0; i < sizeof(out); i += 2) {
		assert_int_equal(out[i], in[i + 1]);
		assert_int_equal(out[i + 1], in[i]);
	}
	vdisk_close(disk);
}

static void test_byteswap_known_bytes(void **state)
{
	struct vdisk *lower = memory_disk(65536), *disk;
	const uint8_t on_disk[8] = { 'E', 'H', 'L', 'L', ' ', 'O', 'O', 'W' };
	uint8_t out[8];

	(void)state;
	assert_int_equal(vdisk_write(lower, on_disk, sizeof(on_disk), 0), 0);
	assert_int_equal(layer_byteswap_open(lower, &disk), 0);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), 0);
	assert_memory_equal(out, "HELLO WO", 8);
	vdisk_close(disk);
}

/* Requests that start or end on an odd offset see the same bytes as aligned ones. */
static void test_byteswap_odd_edges(void **state)
{
	struct vdisk *lower = memory_disk(65536), *disk;
	uint8_t in[4096], view[4096], out[4096];

	(void)state;
	assert_int_equal(layer_byteswap_open(lower, &disk), 0);
	fill_pattern(in, sizeof(in), 4);
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 0), 0);
	for (uint64_t offset = 0; offset < 4; offset++) {
		for (size_t len = 1; len < 8; len++) {
			assert_int_equal(vdisk_read(disk, out, len, 100 + offset), 0);
			assert_memory_equal(out, in + 100 + offset, len);
		}
	}
	/* An odd write lands where an aligned view expects it. */
	memcpy(view, in, sizeof(view));
	fill_pattern(out, 7, 5);
	assert_int_equal(vdisk_write(disk, out, 7, 201), 0);
	memcpy(view + 201, out, 7);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), 0);
	assert_memory_equal(out, view, sizeof(view));
	/* Odd zero ranges. */
	assert_int_equal(vdisk_zero(disk, 301, 5), 0);
	memset(view + 301, 0, 5);
	assert_int_equal(vdisk_zero(disk, 400, 1), 0);
	view[400] = 0;
	assert_int_equal(vdisk_zero(disk, 501, 1), 0);
	view[501] = 0;
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 0), 0);
	assert_memory_equal(out, view, sizeof(view));
	vdisk_close(disk);
}

/* A write bigger than one bounce buffer goes out in several pieces. */
static void test_byteswap_large(void **state)
{
	struct vdisk *lower = memory_disk(4 * MiB), *disk;
	size_t len = 3 * MiB + 2;
	uint8_t *in = malloc(len), *out = malloc(len);

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	assert_int_equal(layer_byteswap_open(lower, &disk), 0);
	fill_pattern(in, len, 6);
	assert_int_equal(vdisk_write(disk, in, len, 2), 0);
	assert_int_equal(vdisk_read(disk, out, len, 2), 0);
	assert_memory_equal(in, out, len);
	assert_int_equal(vdisk_read(lower, out, len, 2), 0);
	assert_int_equal(out[len - 2], in[len - 1]);
	assert_int_equal(vdisk_resize(disk, 8 * MiB), 0);
	assert_int_equal(disk->size, 8 * MiB);
	vdisk_close(disk);
	free(in);
	free(out);
}

/* Layers stack: a read-only, byte-swapped partition. */
static void test_stack(void **state)
{
	struct vdisk *lower = memory_disk(MiB), *window, *swapped, *disk;
	const uint8_t on_disk[4] = { 'B', 'A', 'D', 'C' };
	uint8_t out[4];

	(void)state;
	assert_int_equal(vdisk_write(lower, on_disk, 4, 65536), 0);
	assert_int_equal(layer_window_open(lower, 65536, 65536, &window), 0);
	assert_int_equal(layer_byteswap_open(window, &swapped), 0);
	assert_int_equal(layer_readonly_open(swapped, &disk), 0);
	assert_int_equal(vdisk_read(disk, out, 4, 0), 0);
	assert_memory_equal(out, "ABCD", 4);
	assert_int_equal(vdisk_write(disk, out, 4, 0), -EROFS);
	vdisk_close(disk);
}

#define ALL_FLAGS (VDISK_CAN_TRIM | VDISK_CAN_ZERO | VDISK_CAN_FLUSH | VDISK_ASYNC_READ | VDISK_ASYNC_WRITE)

/* Read-only defines only its refusals: reads, views, asynchronous reads, flush
 * and close reach the lower disk untouched. */
static void test_readonly_passes_through(void **state)
{
	unsigned closed = 0;
	struct recorder *rec = recorder_new(ALL_FLAGS, &closed);
	struct vdisk *disk;
	uint8_t buf[16];

	(void)state;
	assert_int_equal(layer_readonly_open(&rec->disk, &disk), 0);
	assert_string_equal(disk->ops->name, "readonly");
	assert_int_equal(vdisk_read(disk, buf, sizeof(buf), 700), 0);
	assert_int_equal(rec->reads, 1);
	assert_int_equal(rec->last_offset, 700);
	assert_ptr_equal(vdisk_view(disk, 16, 800), rec->bytes);
	assert_int_equal(rec->last_offset, 800);
	vdisk_view_end(disk);
	assert_int_equal(rec->view_ends, 1);
	assert_int_equal(vdisk_read_async(disk, 16, 900, no_done, NULL), -EAGAIN);
	assert_int_equal(rec->async_reads, 1);
	assert_int_equal(rec->last_offset, 900);
	assert_int_equal(vdisk_flush(disk), RECORDER_FLUSH_RESULT);
	assert_int_equal(rec->flushes, 1);
	/* What it changes never reaches the lower disk. */
	assert_int_equal(disk->ops->write(disk, buf, sizeof(buf), 0), -EROFS);
	assert_int_equal(disk->ops->trim(disk, 0, 512), -EROFS);
	assert_int_equal(disk->ops->zero(disk, 0, 512), -EROFS);
	assert_int_equal(vdisk_resize(disk, 2 * MiB), -EROFS);
	/* No asynchronous write either: refused, and not offered. */
	assert_false(disk->flags & VDISK_ASYNC_WRITE);
	assert_int_equal(vdisk_write_async(disk, buf, sizeof(buf), 0, no_write_done, NULL), -EROFS);
	assert_int_equal(disk->ops->write_async(disk, buf, sizeof(buf), 0, no_write_done, NULL), -EROFS);
	assert_int_equal(rec->writes + rec->trims + rec->zeroes + rec->resizes + rec->async_writes, 0);
	vdisk_close(disk);
	assert_int_equal(closed, 1);
}

/* A window moves every offset; flush, view_end and close pass as they are, and
 * a resize does not pass at all. */
static void test_window_passes_through(void **state)
{
	unsigned closed = 0;
	struct recorder *rec = recorder_new(ALL_FLAGS, &closed);
	struct vdisk *disk;

	(void)state;
	assert_int_equal(layer_window_open(&rec->disk, 4096, 65536, &disk), 0);
	assert_ptr_equal(vdisk_view(disk, 16, 100), rec->bytes);
	assert_int_equal(rec->last_offset, 4096 + 100);
	vdisk_view_end(disk);
	assert_int_equal(rec->view_ends, 1);
	assert_int_equal(vdisk_read_async(disk, 16, 200, no_done, NULL), -EAGAIN);
	assert_int_equal(rec->last_offset, 4096 + 200);
	assert_true(disk->flags & VDISK_ASYNC_WRITE);
	assert_int_equal(vdisk_write_async(disk, rec->bytes, 16, 300, no_write_done, NULL), -EAGAIN);
	assert_int_equal(rec->async_writes, 1);
	assert_int_equal(rec->last_offset, 4096 + 300);
	/* Past the window's end, though inside the lower disk: refused here. */
	assert_int_equal(vdisk_write_async(disk, rec->bytes, 16, 65536 - 8, no_write_done, NULL), -EINVAL);
	assert_int_equal(rec->async_writes, 1);
	assert_int_equal(vdisk_flush(disk), RECORDER_FLUSH_RESULT);
	assert_int_equal(rec->flushes, 1);
	assert_int_equal(vdisk_resize(disk, 2 * MiB), -EOPNOTSUPP);
	assert_int_equal(rec->resizes, 0);
	vdisk_close(disk);
	assert_int_equal(closed, 1);
}

/* Byte swap passes flush and resize (following the new size) on, and never a
 * view, an asynchronous read or write: those bytes would pass unswapped. */
static void test_byteswap_passes_through(void **state)
{
	unsigned closed = 0;
	struct recorder *rec = recorder_new(ALL_FLAGS, &closed);
	struct vdisk *disk;

	(void)state;
	assert_int_equal(layer_byteswap_open(&rec->disk, &disk), 0);
	assert_int_equal(vdisk_flush(disk), RECORDER_FLUSH_RESULT);
	assert_int_equal(rec->flushes, 1);
	assert_int_equal(vdisk_resize(disk, 3 * MiB), 0);
	assert_int_equal(rec->resizes, 1);
	assert_int_equal(disk->size, 3 * MiB);
	assert_null(vdisk_view(disk, 16, 0));
	assert_int_equal(vdisk_read_async(disk, 16, 0, no_done, NULL), -EOPNOTSUPP);
	assert_int_equal(vdisk_write_async(disk, rec->bytes, 16, 0, no_write_done, NULL), -EOPNOTSUPP);
	assert_int_equal(rec->views + rec->async_reads + rec->async_writes, 0);
	vdisk_close(disk);
	assert_int_equal(closed, 1);
}

/* A punch through a layer, on a disk whose trim leaves zeroes but that cannot
 * trim this range after all (a file system without holes): the layer passes the
 * trim's "cannot" up, so the punch zeroes instead of doing nothing. */
static void test_punch_through_layers_zeroes_when_trim_cannot(void **state)
{
	unsigned closed = 0;
	struct recorder *rec = recorder_new(ALL_FLAGS | VDISK_TRIM_ZEROES, &closed);
	struct vdisk *window;

	(void)state;
	rec->trim_result = -EOPNOTSUPP;
	assert_int_equal(layer_window_open(&rec->disk, 4096, 65536, &window), 0);
	assert_int_equal(vdisk_punch(window, 512, 1024), 0);
	assert_int_equal(rec->trims, 1);
	assert_int_equal(rec->zeroes, 1);
	assert_int_equal(rec->last_offset, 4096 + 512);
	/* A plain trim is advice: "cannot" is success, through the layer too. */
	assert_int_equal(vdisk_trim(window, 512, 1024), 0);
	assert_int_equal(rec->trims, 2);
	assert_int_equal(rec->zeroes, 1);
	/* And a trim that works is a punch's whole work. */
	rec->trim_result = 0;
	assert_int_equal(vdisk_punch(window, 2048, 512), 0);
	assert_int_equal(rec->trims, 3);
	assert_int_equal(rec->zeroes, 1);
	vdisk_close(window);
	assert_int_equal(closed, 1);
}

/* A layer has the lower disk's flags: without VDISK_CAN_FLUSH below, a flush of
 * the layer reaches no op. */
static void test_flush_follows_lower_flags(void **state)
{
	unsigned closed = 0;
	struct recorder *rec = recorder_new(ALL_FLAGS & ~VDISK_CAN_FLUSH, &closed);
	struct vdisk *disk;

	(void)state;
	assert_int_equal(layer_window_open(&rec->disk, 0, MiB, &disk), 0);
	assert_false(disk->flags & VDISK_CAN_FLUSH);
	assert_int_equal(vdisk_flush(disk), 0);
	assert_int_equal(rec->flushes, 0);
	vdisk_close(disk);
	assert_int_equal(closed, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_window_fit),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_byteswap_round_trip),
		cmocka_unit_test(test_byteswap_known_bytes),
		cmocka_unit_test(test_byteswap_odd_edges),
		cmocka_unit_test(test_byteswap_large),
		cmocka_unit_test(test_stack),
		cmocka_unit_test(test_readonly_passes_through),
		cmocka_unit_test(test_window_passes_through),
		cmocka_unit_test(test_byteswap_passes_through),
		cmocka_unit_test(test_flush_follows_lower_flags),
		cmocka_unit_test(test_punch_through_layers_zeroes_when_trim_cannot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
