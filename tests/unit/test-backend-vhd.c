/* The VHD backend on images built here (4 KiB blocks, in a memfd): reads of
 * allocated and unallocated blocks and across their boundaries, allocation (the
 * file grows by bitmap + block, the footer follows, the BAT entry is big-endian),
 * bitmap bits on writes into a block allocated by someone else, zero without
 * allocation, parallel allocation, read-only, fixed disks, detection, and every
 * refusal of a damaged image. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "common/endian.h"

#define BLOCK 4096u
#define BITMAP 512u /* 8 sectors: one byte, padded to a sector */
#define SPAN (BITMAP + BLOCK)
#define BAT_AT 1536u

struct image {
	uint8_t *bytes;
	size_t len;
};

static uint32_t checksum(const uint8_t *p, size_t len, size_t at)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i++)
		if (i < at || i >= at + 4)
			sum += p[i];
	return ~sum;
}

static void seal(struct image *img)
{
	put_be32(img->bytes + 64, checksum(img->bytes, 512, 64));
	memcpy(img->bytes + img->len - 512, img->bytes, 512);
	if (get_be32(img->bytes + 60) != 2)
		put_be32(img->bytes + 512 + 36, checksum(img->bytes + 512, 1024, 36));
}

static void make_footer(uint8_t *f, uint32_t type, uint64_t size, uint64_t data_offset)
{
	memset(f, 0, 512);
	memcpy(f, "conectix", 8);
	put_be32(f + 8, 2);
	put_be32(f + 12, 0x10000);
	put_be64(f + 16, data_offset);
	put_be64(f + 40, size);
	put_be64(f + 48, size);
	put_be32(f + 60, type);
}

/* A dynamic disk of `blocks` blocks (its size too); the blocks whose bit is set
 * in `allocated` are there, filled with their number + 1, bitmap `bitmap_fill`. */
static struct image dynamic_image(uint32_t blocks, uint32_t allocated, uint8_t bitmap_fill)
{
	uint32_t bat_bytes = (blocks * 4 + 511) / 512 * 512, count = 0;
	struct image img;
	size_t at;

	for (uint32_t i = 0; i < blocks; i++)
		count += (allocated >> i) & 1;
	img.len = BAT_AT + bat_bytes + (size_t)count * SPAN + 512;
	img.bytes = calloc(1, img.len);
	assert_non_null(img.bytes);
	make_footer(img.bytes, 3, (uint64_t)blocks * BLOCK, 512);
	memcpy(img.bytes + 512, "cxsparse", 8);
	put_be64(img.bytes + 512 + 8, UINT64_MAX);
	put_be64(img.bytes + 512 + 16, BAT_AT);
	put_be32(img.bytes + 512 + 24, 0x10000);
	put_be32(img.bytes + 512 + 28, blocks);
	put_be32(img.bytes + 512 + 32, BLOCK);
	memset(img.bytes + BAT_AT, 0xff, bat_bytes);
	at = BAT_AT + bat_bytes;
	for (uint32_t i = 0; i < blocks; i++) {
		if (!((allocated >> i) & 1))
			continue;
		put_be32(img.bytes + BAT_AT + 4 * i, (uint32_t)(at / 512));
		memset(img.bytes + at, bitmap_fill, BITMAP);
		memset(img.bytes + at + BITMAP, (int)(i + 1), BLOCK);
		at += SPAN;
	}
	seal(&img);
	return img;
}

static int image_fd(struct image *img)
{
	int fd = memfd_create("test-vhd", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, img->bytes, img->len, 0), (ssize_t)img->len);
	free(img->bytes);
	img->bytes = NULL;
	return fd;
}

static off_t file_size(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_size;
}

static uint32_t bat_entry(int fd, uint32_t index)
{
	uint8_t be[4];

	assert_int_equal(pread(fd, be, 4, BAT_AT + 4 * index), 4);
	return get_be32(be);
}

static bool all_bytes(const uint8_t *p, size_t len, uint8_t value)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != value)
			return false;
	return true;
}

static void test_read_allocated_and_not(void **state)
{
	struct image img = dynamic_image(4, 0x2, 0xff); /* block 1 only */
	int fd = image_fd(&img);
	uint8_t buf[3 * BLOCK];
	struct vdisk *disk;

	(void)state;
	assert_int_equal(backend_vhd_detect(fd), 1);
	assert_int_equal(backend_vhd_open(fd, false, &disk), 0);
	assert_string_equal(disk->ops->name, "vhd");
	assert_int_equal(disk->size, 4 * BLOCK);
	assert_false(disk->flags & (VDISK_READ_ONLY | VDISK_CAN_TRIM));
	/* Blocks 0..2 in one read, from the middle of block 0 to the middle of 2. */
	assert_int_equal(vdisk_read(disk, buf, 2 * BLOCK, BLOCK / 2), 0);
	assert_true(all_bytes(buf, BLOCK / 2, 0));
	assert_true(all_bytes(buf + BLOCK / 2, BLOCK, 2));
	assert_true(all_bytes(buf + 3 * BLOCK / 2, BLOCK / 2, 0));
	assert_int_equal(vdisk_read(disk, buf, 1, 4 * BLOCK), -EINVAL);
	vdisk_close(disk);
}

static void test_allocation(void **state)
{
	struct image img = dynamic_image(4, 0x1, 0xff);
	int fd = image_fd(&img), keep = dup(fd);
	uint8_t data[1000], buf[BLOCK], footer[512], tail[512];
	off_t before = file_size(keep);
	struct vdisk *disk;

	(void)state;
	assert_int_equal(pread(keep, footer, 512, 0), 512);
	assert_int_equal(backend_vhd_open(fd, false, &disk), 0);
	memset(data, 0x77, sizeof(data));
	/* Across the boundary of blocks 2 and 3, both unallocated. */
	assert_int_equal(vdisk_write(disk, data, sizeof(data), 3 * BLOCK - 300), 0);
	assert_int_equal(file_size(keep), before + 2 * SPAN);
	/* Appended in order where the footer was; the footer after them. */
	assert_int_equal(bat_entry(keep, 2), (uint32_t)((before - 512) / 512));
	assert_int_equal(bat_entry(keep, 3), (uint32_t)((before - 512 + SPAN) / 512));
	assert_int_equal(bat_entry(keep, 1), 0xFFFFFFFFu);
	assert_int_equal(pread(keep, tail, 512, file_size(keep) - 512), 512);
	assert_memory_equal(tail, footer, 512);
	assert_int_equal(pread(keep, buf, BITMAP, (off_t)bat_entry(keep, 2) * 512), BITMAP);
	assert_true(all_bytes(buf, BITMAP, 0xff));
	/* Zeroes around the data, the data where it was written. */
	assert_int_equal(vdisk_read(disk, buf, BLOCK, 2 * BLOCK), 0);
	assert_true(all_bytes(buf, BLOCK - 300, 0));
	assert_true(all_bytes(buf + BLOCK - 300, 300, 0x77));
	assert_int_equal(vdisk_read(disk, buf, BLOCK, 3 * BLOCK), 0);
	assert_true(all_bytes(buf, 700, 0x77));
	assert_true(all_bytes(buf + 700, BLOCK - 700, 0));
	/* An allocated block takes writes in place: the file stays as it is. */
	assert_int_equal(vdisk_write(disk, data, sizeof(data), 10), 0);
	assert_int_equal(file_size(keep), before + 2 * SPAN);
	assert_int_equal(vdisk_flush(disk), 0);
	vdisk_close(disk);

	/* Opened again: the same bytes. */
	assert_int_equal(backend_vhd_open(keep, true, &disk), 0);
	assert_true(disk->flags & VDISK_READ_ONLY);
	assert_int_equal(vdisk_read(disk, buf, 1000, 3 * BLOCK - 300), 0);
	assert_true(all_bytes(buf, 1000, 0x77));
	assert_int_equal(vdisk_read(disk, buf, 20, 0), 0);
	assert_true(all_bytes(buf, 10, 1));
	assert_true(all_bytes(buf + 10, 10, 0x77));
	assert_int_equal(vdisk_write(disk, data, 1, 0), -EROFS);
	vdisk_close(disk);
}

/* A block allocated by someone else, with an empty bitmap: a write sets the
 * bits of the sectors it touched, and only those. */
static void test_bitmap_bits(void **state)
{
	struct image img = dynamic_image(2, 0x1, 0x00);
	int fd = image_fd(&img), keep = dup(fd);
	uint8_t data[600], bitmap;
	struct vdisk *disk;

	(void)state;
	assert_int_equal(backend_vhd_open(fd, false, &disk), 0);
	memset(data, 0x33, sizeof(data));
	assert_int_equal(vdisk_write(disk, data, sizeof(data), 1000), 0); /* sectors 1 to 3 */
	assert_int_equal(pread(keep, &bitmap, 1, (off_t)bat_entry(keep, 0) * 512), 1);
	assert_int_equal(bitmap, 0x70);
	assert_int_equal(vdisk_write(disk, data, 1, 4095), 0); /* sector 7 */
	assert_int_equal(pread(keep, &bitmap, 1, (off_t)bat_entry(keep, 0) * 512), 1);
	assert_int_equal(bitmap, 0x71);
	vdisk_close(disk);
	close(keep);
}

static void test_zero_does_not_allocate(void **state)
{
	struct image img = dynamic_image(4, 0x1, 0xff);
	int fd = image_fd(&img), keep = dup(fd);
	off_t before = file_size(keep);
	uint8_t buf[BLOCK];
	struct vdisk *disk;

	(void)state;
	assert_int_equal(backend_vhd_open(fd, false, &disk), 0);
	assert_int_equal(vdisk_zero(disk, 100, 3 * BLOCK), 0);
	assert_int_equal(vdisk_punch(disk, BLOCK, 2 * BLOCK), 0);
	assert_int_equal(file_size(keep), before);
	assert_int_equal(vdisk_read(disk, buf, BLOCK, 0), 0);
	assert_true(all_bytes(buf, 100, 1));
	assert_true(all_bytes(buf + 100, BLOCK - 100, 0));
	vdisk_close(disk);
	close(keep);
}

struct writer {
	struct vdisk *disk;
	uint32_t first; /* writes blocks first, first + 4, first + 8, ... */
};

static void *write_blocks(void *arg)
{
	struct writer *w = arg;
	uint8_t data[BLOCK];

	for (uint32_t b = w->first; b < 64; b += 4) {
		memset(data, (int)(b + 1), sizeof(data));
		if (vdisk_write(w->disk, data, sizeof(data), (uint64_t)b * BLOCK) != 0)
			return (void *)1;
	}
	return NULL;
}

static void test_parallel_allocation(void **state)
{
	struct image img = dynamic_image(64, 0, 0xff);
	int fd = image_fd(&img), keep = dup(fd);
	off_t before = file_size(keep);
	struct writer writers[4];
	pthread_t threads[4];
	uint8_t buf[BLOCK];
	struct vdisk *disk;
	void *result;

	(void)state;
	assert_int_equal(backend_vhd_open(fd, false, &disk), 0);
	for (int i = 0; i < 4; i++) {
		writers[i] = (struct writer){disk, (uint32_t)i};
		assert_int_equal(pthread_create(&threads[i], NULL, write_blocks, &writers[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(threads[i], &result), 0);
		assert_null(result);
	}
	assert_int_equal(file_size(keep), before + 64 * SPAN);
	for (uint32_t b = 0; b < 64; b++) {
		assert_int_equal(vdisk_read(disk, buf, BLOCK, (uint64_t)b * BLOCK), 0);
		assert_true(all_bytes(buf, BLOCK, (uint8_t)(b + 1)));
	}
	vdisk_close(disk);
	close(keep);
}

static void test_fixed(void **state)
{
	struct image img = {calloc(1, 3 * BLOCK + 512), 3 * BLOCK + 512};
	uint8_t buf[BLOCK];
	struct vdisk *disk;
	int fd, keep;

	(void)state;
	memset(img.bytes, 0x5a, 3 * BLOCK);
	make_footer(img.bytes + 3 * BLOCK, 2, 3 * BLOCK, UINT64_MAX);
	put_be32(img.bytes + 3 * BLOCK + 64, checksum(img.bytes + 3 * BLOCK, 512, 64));
	fd = image_fd(&img);
	keep = dup(fd);
	assert_int_equal(backend_vhd_detect(fd), 1);
	assert_int_equal(backend_vhd_open(fd, false, &disk), 0);
	assert_int_equal(disk->size, 3 * BLOCK);
	assert_int_equal(vdisk_read(disk, buf, BLOCK, 2 * BLOCK), 0);
	assert_true(all_bytes(buf, BLOCK, 0x5a));
	assert_int_equal(vdisk_write(disk, buf, 1, 3 * BLOCK), -EINVAL); /* the footer is out of reach */
	vdisk_close(disk);
	assert_int_equal(file_size(keep), 3 * BLOCK + 512);
	close(keep);
}

/* open must fail with `want` and leave fd to the caller. */
static void expect_refused(struct image *img, int want)
{
	int fd = image_fd(img);
	struct vdisk *disk = NULL;

	assert_int_equal(backend_vhd_open(fd, false, &disk), want);
	assert_null(disk);
	assert_true(fcntl(fd, F_GETFD) >= 0);
	close(fd);
}

static void test_refusals(void **state)
{
	struct image img;
	int fd;

	(void)state;
	img = dynamic_image(4, 0x1, 0xff);
	img.bytes[40] ^= 1; /* no reseal: the footer's checksum is wrong */
	expect_refused(&img, -EBADMSG);

	img = dynamic_image(4, 0x1, 0xff);
	img.bytes[512 + 100] ^= 1; /* the header's checksum */
	expect_refused(&img, -EBADMSG);

	img = dynamic_image(4, 0x1, 0xff);
	put_be32(img.bytes + 60, 4);
	seal(&img);
	expect_refused(&img, -EOPNOTSUPP);

	img = dynamic_image(4, 0x1, 0xff);
	put_be32(img.bytes + 60, 7);
	seal(&img);
	expect_refused(&img, -EBADMSG);

	img = dynamic_image(4, 0x1, 0xff);
	put_be32(img.bytes + 512 + 32, 3000); /* not a power of two */
	seal(&img);
	expect_refused(&img, -EBADMSG);

	img = dynamic_image(4, 0x1, 0xff);
	put_be64(img.bytes + 48, 5 * BLOCK); /* more than the table covers */
	seal(&img);
	expect_refused(&img, -EBADMSG);

	img = dynamic_image(4, 0x1, 0xff);
	put_be64(img.bytes + 512 + 16, UINT64_MAX - 8); /* the table past the end */
	seal(&img);
	expect_refused(&img, -ERANGE);

	img = dynamic_image(4, 0x1, 0xff);
	put_be32(img.bytes + BAT_AT + 4, 0x10000000); /* a block past the end */
	expect_refused(&img, -ERANGE);

	img = dynamic_image(4, 0x1, 0xff);
	put_be32(img.bytes + BAT_AT + 4, 1); /* a block over the header */
	expect_refused(&img, -EBADMSG);

	img = dynamic_image(4, 0x3, 0xff);
	put_be32(img.bytes + BAT_AT + 4, get_be32(img.bytes + BAT_AT) + 1); /* blocks that overlap */
	expect_refused(&img, -EBADMSG);

	img = dynamic_image(4, 0x1, 0xff);
	put_be64(img.bytes + 16, img.len); /* the header past the end */
	seal(&img);
	expect_refused(&img, -ERANGE);

	/* The footer at the end disagrees with the copy at 0. */
	img = dynamic_image(4, 0x1, 0xff);
	seal(&img);
	put_be64(img.bytes + img.len - 512 + 48, 2 * BLOCK);
	put_be32(img.bytes + img.len - 512 + 64, checksum(img.bytes + img.len - 512, 512, 64));
	expect_refused(&img, -EBADMSG);

	/* No VHD at all. */
	img.len = 8192;
	img.bytes = calloc(1, img.len);
	fd = image_fd(&img);
	assert_int_equal(backend_vhd_detect(fd), 0);
	close(fd);
	img.len = 8192;
	img.bytes = calloc(1, img.len);
	expect_refused(&img, -EMEDIUMTYPE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_allocated_and_not),
		cmocka_unit_test(test_allocation),
		cmocka_unit_test(test_bitmap_bits),
		cmocka_unit_test(test_zero_does_not_allocate),
		cmocka_unit_test(test_parallel_allocation),
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
