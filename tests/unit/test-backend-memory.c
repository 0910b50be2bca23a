/* The RAM disk backend: data, holes (trim frees, reads allocate nothing), resize,
 * lock and preload. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"

#define MiB (1024u * 1024u)

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 131u + seed * 7u + 1u) % 251u + 1u);
}

/* Bytes the memfd really holds. */
static uint64_t allocated(struct vdisk *disk)
{
	struct stat st;

	assert_int_equal(fstat(backend_memory_fd(disk), &st), 0);
	return (uint64_t)st.st_blocks * 512u;
}

static bool is_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void test_open_invalid(void **state)
{
	struct vdisk *disk = NULL;

	(void)state;
	assert_int_equal(backend_memory_open(0, &disk), -EINVAL);
	assert_null(disk);
	assert_int_equal(backend_memory_fd(NULL), -EINVAL);
}

static void test_write_read(void **state)
{
	struct vdisk *disk;
	uint8_t in[10000], out[10000];

	(void)state;
	assert_int_equal(backend_memory_open(4 * MiB, &disk), 0);
	assert_int_equal(disk->size, 4 * MiB);
	assert_true(disk->flags & VDISK_CAN_TRIM);
	assert_false(disk->flags & VDISK_READ_ONLY);
	assert_string_equal(disk->ops->name, "memory");
	fill_pattern(in, sizeof(in), 1);
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 12345), 0);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 12345), 0);
	assert_memory_equal(in, out, sizeof(in));
	/* At the very end. */
	assert_int_equal(vdisk_write(disk, in, 100, 4 * MiB - 100), 0);
	assert_int_equal(vdisk_read(disk, out, 100, 4 * MiB - 100), 0);
	assert_memory_equal(in, out, 100);
	assert_int_equal(vdisk_flush(disk), 0);
	vdisk_close(disk);
}

static void test_range_errors(void **state)
{
	struct vdisk *disk;
	uint8_t buf[16] = { 0 };

	(void)state;
	assert_int_equal(backend_memory_open(MiB, &disk), 0);
	assert_int_equal(vdisk_read(disk, buf, 16, MiB - 8), -EINVAL);
	assert_int_equal(vdisk_write(disk, buf, 16, MiB), -EINVAL);
	assert_int_equal(vdisk_write(disk, buf, 1, UINT64_MAX), -EINVAL);
	assert_int_equal(vdisk_trim(disk, MiB - 1, 2), -EINVAL);
	assert_int_equal(vdisk_zero(disk, 0, MiB + 1), -EINVAL);
	vdisk_close(disk);
}

static void test_reads_allocate_nothing(void **state)
{
	struct vdisk *disk;
	uint8_t *buf = malloc(4 * MiB);

	(void)state;
	assert_non_null(buf);
	assert_int_equal(backend_memory_open(4 * MiB, &disk), 0);
	assert_int_equal(vdisk_read(disk, buf, 4 * MiB, 0), 0);
	assert_true(is_zero(buf, 4 * MiB));
	assert_int_equal(allocated(disk), 0);
	vdisk_close(disk);
	free(buf);
}

static void test_trim_frees(void **state)
{
	struct vdisk *disk;
	uint8_t *buf = malloc(4 * MiB);

	(void)state;
	assert_non_null(buf);
	assert_int_equal(backend_memory_open(4 * MiB, &disk), 0);
	fill_pattern(buf, 4 * MiB, 2);
	assert_int_equal(vdisk_write(disk, buf, 4 * MiB, 0), 0);
	assert_true(allocated(disk) >= 4 * MiB);
	assert_int_equal(vdisk_trim(disk, MiB, 2 * MiB), 0);
	assert_true(allocated(disk) <= 2 * MiB);
	assert_int_equal(vdisk_read(disk, buf, 4 * MiB, 0), 0);
	assert_true(is_zero(buf + MiB, 2 * MiB));
	assert_false(is_zero(buf, MiB));
	/* Reading the trimmed range did not bring the pages back. */
	assert_true(allocated(disk) <= 2 * MiB);
	vdisk_close(disk);
	free(buf);
}

/* Written pages are shown in place; a range with a hole is not (it would be
 * allocated by the caller's copy), and a read across written pages and holes
 * gives each its bytes without allocating the holes. */
static void test_view_and_mixed_reads(void **state)
{
	struct vdisk *disk;
	uint8_t *data = malloc(4 * MiB), *buf = malloc(4 * MiB);
	const uint8_t *view;

	(void)state;
	assert_non_null(data);
	assert_non_null(buf);
	assert_int_equal(backend_memory_open(4 * MiB, &disk), 0);
	assert_null(vdisk_view(disk, 4096, 0));
	fill_pattern(data, 4 * MiB, 5);
	/* Pages 0-1 written whole, page 3 written in part (the page is allocated). */
	assert_int_equal(vdisk_write(disk, data, 8192, 0), 0);
	assert_int_equal(vdisk_write(disk, data + 3 * 4096 + 100, 50, 3 * 4096 + 100), 0);
	view = vdisk_view(disk, 8192, 0);
	assert_non_null(view);
	assert_memory_equal(view, data, 8192);
	vdisk_view_end(disk);
	view = vdisk_view(disk, 10, 3 * 4096 + 5);
	assert_non_null(view);
	assert_true(is_zero(view, 10));
	vdisk_view_end(disk);
	assert_null(vdisk_view(disk, 3 * 4096, 4096)); /* page 2 is a hole */
	assert_null(vdisk_view(disk, 4096, 4 * MiB));  /* past the end */
	assert_null(vdisk_view(disk, 0, 0));
	assert_int_equal(allocated(disk), 3 * 4096);

	/* One read over written, hole, partly written and never written pages. */
	memset(buf, 0xee, 6 * 4096);
	assert_int_equal(vdisk_read(disk, buf, 6 * 4096 - 7, 3), 0);
	assert_memory_equal(buf, data + 3, 8192 - 3);
	assert_true(is_zero(buf + 8192 - 3, 4096 + 100));
	assert_memory_equal(buf + 3 * 4096 + 97, data + 3 * 4096 + 100, 50);
	assert_true(is_zero(buf + 3 * 4096 + 147, 6 * 4096 - 7 - (3 * 4096 + 147)));
	assert_int_equal(allocated(disk), 3 * 4096);

	/* A trim takes pages out of the view, and reading them allocates nothing. */
	assert_int_equal(vdisk_trim(disk, 0, 4096), 0);
	assert_null(vdisk_view(disk, 4096, 0));
	assert_non_null(view = vdisk_view(disk, 4096, 4096));
	vdisk_view_end(disk);
	assert_int_equal(vdisk_read(disk, buf, 4096, 0), 0);
	assert_true(is_zero(buf, 4096));
	assert_int_equal(allocated(disk), 2 * 4096);
	/* A trim of part of a page leaves it written (zeroed in place). */
	assert_int_equal(vdisk_trim(disk, 4096 + 10, 20), 0);
	assert_non_null(view = vdisk_view(disk, 4096, 4096));
	assert_true(is_zero(view + 10, 20));
	assert_memory_equal(view, data + 4096, 10);
	vdisk_view_end(disk);

	/* After a shrink and a grow the cut-off pages are holes again. */
	assert_int_equal(vdisk_write(disk, data, 4 * MiB, 0), 0);
	assert_int_equal(vdisk_resize(disk, MiB), 0);
	assert_int_equal(vdisk_resize(disk, 8 * MiB), 0);
	assert_null(vdisk_view(disk, 4096, 2 * MiB));
	assert_int_equal(vdisk_read(disk, buf, 4096, 2 * MiB), 0);
	assert_true(is_zero(buf, 4096));
	assert_non_null(view = vdisk_view(disk, MiB, 0));
	assert_memory_equal(view, data, MiB);
	vdisk_view_end(disk);
	assert_int_equal(allocated(disk), MiB);
	vdisk_close(disk);
	free(data);
	free(buf);
}

static void test_zero_unaligned(void **state)
{
	struct vdisk *disk;
	uint8_t in[20000], out[20000], expect[20000];

	(void)state;
	assert_int_equal(backend_memory_open(MiB, &disk), 0);
	fill_pattern(in, sizeof(in), 3);
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 1000), 0);
	/* Partial pages at both ends: only the asked bytes become zero. */
	assert_int_equal(vdisk_zero(disk, 1000 + 333, 12345), 0);
	memcpy(expect, in, sizeof(in));
	memset(expect + 333, 0, 12345);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 1000), 0);
	assert_memory_equal(out, expect, sizeof(out));
	vdisk_close(disk);
}

static void test_resize(void **state)
{
	struct vdisk *disk;
	uint8_t in[4096], out[4096];

	(void)state;
	assert_int_equal(backend_memory_open(MiB, &disk), 0);
	fill_pattern(in, sizeof(in), 4);
	assert_int_equal(vdisk_write(disk, in, sizeof(in), MiB - 4096), 0);
	assert_int_equal(vdisk_resize(disk, 8 * MiB), 0);
	assert_int_equal(disk->size, 8 * MiB);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), MiB - 4096), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 8 * MiB - 4096), 0);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 8 * MiB - 4096), 0);
	assert_memory_equal(in, out, sizeof(in));
	/* Shrink: what is left stays. */
	assert_int_equal(vdisk_resize(disk, MiB), 0);
	assert_int_equal(disk->size, MiB);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), MiB - 4096), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(vdisk_write(disk, in, 1, MiB), -EINVAL);
	assert_int_equal(vdisk_resize(disk, 0), -EINVAL);
	vdisk_close(disk);
}

static void test_lock(void **state)
{
	struct vdisk *disk;
	uint8_t in[4096], out[4096];
	int r;

	(void)state;
	assert_int_equal(backend_memory_open(MiB, &disk), 0);
	r = backend_memory_lock(disk);
	assert_true(r == 0 || r == -ENOMEM || r == -EPERM);
	if (r == 0) {
		/* Locking allocates everything now (ASan makes mlock a no-op). */
#ifndef __SANITIZE_ADDRESS__
		assert_true(allocated(disk) >= MiB);
#endif
		assert_int_equal(backend_memory_lock(disk), 0);
		assert_int_equal(vdisk_resize(disk, 2 * MiB), 0);
	}
	fill_pattern(in, sizeof(in), 5);
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 4096), 0);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 4096), 0);
	assert_memory_equal(in, out, sizeof(in));
	vdisk_close(disk);
}

static int temp_file(void)
{
	char path[] = "/tmp/imdisk-test-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static void test_preload(void **state)
{
	struct vdisk *disk;
	uint8_t *image = calloc(1, 4 * MiB);
	uint8_t *out = malloc(4 * MiB);
	uint8_t junk[8192];
	int fd = temp_file();

	(void)state;
	assert_non_null(image);
	assert_non_null(out);
	/* An image with a 64 KiB header before the disk, data in three places, a
	 * hole in the file and an all-zero written page. */
	fill_pattern(image + 64 * 1024, 8192, 6);
	fill_pattern(image + 64 * 1024 + MiB + 100, 5000, 7);
	fill_pattern(image + 3 * MiB, 4096, 8);
	assert_int_equal(pwrite(fd, image, 2 * MiB, 0), 2 * MiB);
	assert_int_equal(pwrite(fd, image + 3 * MiB, 4096, 3 * MiB), 4096);
	/* The file ends at 3 MiB + 4 KiB: the rest of the disk reads as zeroes. */
	assert_int_equal(backend_memory_open(4 * MiB, &disk), 0);
	/* Leftovers on the disk must not survive a preload. */
	memset(junk, 0xee, sizeof(junk));
	assert_int_equal(vdisk_write(disk, junk, sizeof(junk), 2 * MiB), 0);
	assert_int_equal(backend_memory_preload(disk, fd, 64 * 1024, 4 * MiB - 64 * 1024), 0);
	assert_int_equal(vdisk_read(disk, out, 4 * MiB - 64 * 1024, 0), 0);
	assert_memory_equal(out, image + 64 * 1024, 4 * MiB - 64 * 1024);
	/* Sparse: two pages, two (maybe three) pages and one page of data. */
	assert_true(allocated(disk) <= 8 * 4096);
	assert_int_equal(backend_memory_preload(disk, fd, 0, 4 * MiB + 1), -EINVAL);
	vdisk_close(disk);
	close(fd);
	free(image);
	free(out);
}

struct parallel_job {
	struct vdisk *disk;
	uint32_t index;
};

static void *parallel_writer(void *arg)
{
	struct parallel_job *job = arg;
	uint8_t buf[65536];

	for (int round = 0; round < 16; round++) {
		uint64_t offset = ((uint64_t)job->index * 16 + (uint64_t)round) * sizeof(buf);
		fill_pattern(buf, sizeof(buf), job->index * 100 + (uint32_t)round);
		if (vdisk_write(job->disk, buf, sizeof(buf), offset) < 0)
			return (void *)1;
	}
	return NULL;
}

static void test_parallel(void **state)
{
	struct vdisk *disk;
	struct parallel_job jobs[4];
	pthread_t threads[4];
	uint8_t buf[65536], expect[65536];

	(void)state;
	assert_int_equal(backend_memory_open(4 * 16 * sizeof(buf), &disk), 0);
	for (uint32_t i = 0; i < 4; i++) {
		jobs[i] = (struct parallel_job){ disk, i };
		assert_int_equal(pthread_create(&threads[i], NULL, parallel_writer, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *result;
		pthread_join(threads[i], &result);
		assert_null(result);
	}
	for (uint32_t i = 0; i < 4; i++) {
		for (uint32_t round = 0; round < 16; round++) {
			fill_pattern(expect, sizeof(expect), i * 100 + round);
			assert_int_equal(vdisk_read(disk, buf, sizeof(buf), ((uint64_t)i * 16 + round) * sizeof(buf)), 0);
			assert_memory_equal(buf, expect, sizeof(buf));
		}
	}
	vdisk_close(disk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_invalid),
		cmocka_unit_test(test_write_read),
		cmocka_unit_test(test_range_errors),
		cmocka_unit_test(test_reads_allocate_nothing),
		cmocka_unit_test(test_trim_frees),
		cmocka_unit_test(test_view_and_mixed_reads),
		cmocka_unit_test(test_zero_unaligned),
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_preload),
		cmocka_unit_test(test_parallel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
