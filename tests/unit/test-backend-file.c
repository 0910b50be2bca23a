/* The file backend on a temporary file: data, trim frees blocks, zero, range
 * errors, read-only (by argument and by the descriptor's mode), resize. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"

#define MiB (1024u * 1024u)

static char temp_path[64];

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 131u + seed * 7u + 1u) % 251u + 1u);
}

static bool is_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* A temporary file of `size` bytes full of pattern, opened with `flags`. */
static int make_file_in(const char *dir, uint64_t size, int flags)
{
	uint8_t *buf = malloc(size);
	int fd;

	assert_non_null(buf);
	snprintf(temp_path, sizeof(temp_path), "%s/imdisk-test-file-XXXXXX", dir);
	fd = mkstemp(temp_path);
	assert_true(fd >= 0);
	fill_pattern(buf, size, 9);
	assert_int_equal(pwrite(fd, buf, size, 0), (ssize_t)size);
	assert_int_equal(fsync(fd), 0);
	free(buf);
	if (flags != O_RDWR) {
		close(fd);
		fd = open(temp_path, flags | O_CLOEXEC);
		assert_true(fd >= 0);
	}
	unlink(temp_path);
	return fd;
}

static int make_file(uint64_t size, int flags)
{
	return make_file_in("/tmp", size, flags);
}

static uint64_t allocated(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512u;
}

static void test_write_read(void **state)
{
	struct vdisk *disk;
	uint8_t in[70000], out[70000];
	int fd = make_file(4 * MiB, O_RDWR);

	(void)state;
	assert_int_equal(backend_file_open(fd, false, &disk), 0);
	assert_int_equal(disk->size, 4 * MiB);
	assert_string_equal(disk->ops->name, "file");
	assert_true(disk->flags & VDISK_CAN_FLUSH);
	assert_false(disk->flags & VDISK_READ_ONLY);
	fill_pattern(in, sizeof(in), 10);
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 3333), 0);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 3333), 0);
	assert_memory_equal(in, out, sizeof(in));
	/* The bytes really are in the file, at those offsets. */
	assert_int_equal(pread(fd, out, sizeof(out), 3333), (ssize_t)sizeof(out));
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(vdisk_flush(disk), 0);
	vdisk_close(disk);
}

static void test_range_errors(void **state)
{
	struct vdisk *disk;
	uint8_t buf[16] = { 0 };
	int fd = make_file(MiB, O_RDWR);

	(void)state;
	assert_int_equal(backend_file_open(fd, false, &disk), 0);
	assert_int_equal(vdisk_read(disk, buf, 16, MiB - 8), -EINVAL);
	assert_int_equal(vdisk_write(disk, buf, 16, MiB), -EINVAL);
	assert_int_equal(vdisk_trim(disk, MiB, 1), -EINVAL);
	assert_int_equal(vdisk_zero(disk, 1, MiB), -EINVAL);
	vdisk_close(disk);
}

static void test_trim_frees_blocks(void **state)
{
	struct vdisk *disk;
	uint8_t *buf = malloc(4 * MiB);
	uint64_t before;
	int fd = make_file(4 * MiB, O_RDWR);

	(void)state;
	assert_non_null(buf);
	assert_int_equal(backend_file_open(fd, false, &disk), 0);
	assert_true(disk->flags & VDISK_CAN_TRIM);
	before = allocated(fd);
	assert_true(before >= 4 * MiB);
	assert_int_equal(vdisk_trim(disk, MiB, 2 * MiB), 0);
	assert_true(allocated(fd) <= before - 2 * MiB + 64 * 1024);
	assert_int_equal(vdisk_read(disk, buf, 4 * MiB, 0), 0);
	assert_true(is_zero(buf + MiB, 2 * MiB));
	assert_false(is_zero(buf, MiB));
	assert_false(is_zero(buf + 3 * MiB, MiB));
	assert_int_equal(disk->size, 4 * MiB); /* the file keeps its size */
	vdisk_close(disk);
	free(buf);
}

static void check_zero(int fd)
{
	struct vdisk *disk;
	static uint8_t out[300000], expect[300000];

	assert_int_equal(backend_file_open(fd, false, &disk), 0);
	assert_int_equal(pread(fd, expect, sizeof(expect), 100), (ssize_t)sizeof(expect));
	assert_int_equal(vdisk_zero(disk, 100 + 777, 250000), 0);
	memset(expect + 777, 0, 250000);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 100), 0);
	assert_memory_equal(out, expect, sizeof(out));
	vdisk_close(disk);
}

static void test_zero(void **state)
{
	(void)state;
	check_zero(make_file(MiB, O_RDWR));
}

/* tmpfs has holes but no FALLOC_FL_ZERO_RANGE: the fallback path. */
static void test_zero_tmpfs(void **state)
{
	(void)state;
	if (access("/dev/shm", W_OK) != 0)
		skip();
	check_zero(make_file_in("/dev/shm", MiB, O_RDWR));
}

static void test_read_only_argument(void **state)
{
	struct vdisk *disk;
	uint8_t buf[512];
	int fd = make_file(MiB, O_RDWR);

	(void)state;
	assert_int_equal(backend_file_open(fd, true, &disk), 0);
	assert_true(disk->flags & VDISK_READ_ONLY);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(vdisk_write(disk, buf, sizeof(buf), 0), -EROFS);
	assert_int_equal(vdisk_trim(disk, 0, 4096), -EROFS);
	assert_int_equal(vdisk_zero(disk, 0, 4096), -EROFS);
	assert_int_equal(vdisk_read(disk, buf, sizeof(buf), 0), 0);
	assert_false(is_zero(buf, sizeof(buf)));
	vdisk_close(disk);
}

static void test_read_only_descriptor(void **state)
{
	struct vdisk *disk;
	uint8_t buf[512] = { 0 };
	int fd = make_file(MiB, O_RDONLY);

	(void)state;
	/* false is not possible on an O_RDONLY descriptor. */
	assert_int_equal(backend_file_open(fd, false, &disk), 0);
	assert_true(disk->flags & VDISK_READ_ONLY);
	assert_int_equal(vdisk_write(disk, buf, sizeof(buf), 0), -EROFS);
	assert_int_equal(vdisk_read(disk, buf, sizeof(buf), 0), 0);
	vdisk_close(disk);
}

static void test_bad_descriptors(void **state)
{
	struct vdisk *disk = NULL;
	int pair[2];
	int fd = make_file(MiB, O_WRONLY);

	(void)state;
	assert_int_equal(backend_file_open(fd, false, &disk), -EBADF);
	close(fd); /* still ours after a failure */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	assert_int_equal(backend_file_open(pair[0], false, &disk), -EINVAL);
	close(pair[0]);
	close(pair[1]);
	assert_int_equal(backend_file_open(-1, false, &disk), -EBADF);
	assert_null(disk);
}

static void test_resize(void **state)
{
	struct vdisk *disk;
	uint8_t in[4096], out[4096];
	struct stat st;
	int fd = make_file(MiB, O_RDWR);

	(void)state;
	assert_int_equal(backend_file_open(fd, false, &disk), 0);
	assert_int_equal(vdisk_resize(disk, 3 * MiB), 0);
	assert_int_equal(disk->size, 3 * MiB);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 3 * MiB);
	fill_pattern(in, sizeof(in), 11);
	assert_int_equal(vdisk_write(disk, in, sizeof(in), 3 * MiB - 4096), 0);
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 3 * MiB - 4096), 0);
	assert_memory_equal(in, out, sizeof(in));
	/* The grown part in between reads as zeroes. */
	assert_int_equal(vdisk_read(disk, out, sizeof(out), 2 * MiB), 0);
	assert_true(is_zero(out, sizeof(out)));
	vdisk_close(disk);
}

static void test_char_device(void **state)
{
	struct vdisk *disk;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	(void)state;
	/* A character device is not a disk. */
	assert_true(fd >= 0);
	assert_int_equal(backend_file_open(fd, false, &disk), -EINVAL);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read),
		cmocka_unit_test(test_range_errors),
		cmocka_unit_test(test_trim_frees_blocks),
		cmocka_unit_test(test_zero),
		cmocka_unit_test(test_zero_tmpfs),
		cmocka_unit_test(test_read_only_argument),
		cmocka_unit_test(test_read_only_descriptor),
		cmocka_unit_test(test_bad_descriptors),
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_char_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
