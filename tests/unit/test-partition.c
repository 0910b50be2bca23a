/* Unit tests for MBR/EBR/GPT parsing (src/image/partition.c), on images built in
 * memory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/crc32.h"
#include "common/endian.h"
#include "image/partition.h"

#define IMAGE_SECTORS 2048

struct image {
	uint8_t *data;
	uint64_t size;
	uint32_t sector_size;
	int reads;
	int fail_reads; /* make every read fail with -EIO */
};

static int image_read(void *context, void *buf, size_t len, uint64_t offset)
{
	struct image *img = context;

	img->reads++;
	if (img->fail_reads)
		return -EIO;
	/* The parser promises to stay inside the image: hold it to that. */
	if (offset > img->size || len > img->size - offset)
		fail_msg("read of %zu bytes at %llu outside a %llu-byte image", len,
			 (unsigned long long)offset, (unsigned long long)img->size);
	memcpy(buf, img->data + offset, len);
	return 0;
}

static struct image *image_new(uint32_t sector_size, uint64_t sectors)
{
	struct image *img = calloc(1, sizeof(*img));

	assert_non_null(img);
	img->size = sector_size * sectors;
	img->sector_size = sector_size;
	img->data = calloc(1, img->size);
	assert_non_null(img->data);
	return img;
}

static void image_free(struct image *img)
{
	free(img->data);
	free(img);
}

static uint8_t *sector_at(struct image *img, uint64_t lba)
{
	return img->data + lba * img->sector_size;
}

/* Write entry `index` of the MBR-style table in the 512 bytes at `sector`, and sign it. */
static void set_entry(uint8_t *sector, unsigned index, uint8_t boot_flag, uint8_t type,
		      uint32_t start, uint32_t count)
{
	uint8_t *e = sector + 446 + 16 * index;

	e[0] = boot_flag;
	e[4] = type;
	put_le32(e + 8, start);
	put_le32(e + 12, count);
	sector[510] = 0x55;
	sector[511] = 0xAA;
}

/* The image in a memfd, for libblkid, which reads only through a descriptor. */
static int image_memfd(const struct image *img)
{
	int fd = memfd_create("test-partition", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, img->data, img->size), (ssize_t)img->size);
	return fd;
}

static int parse_fd(struct image *img, struct partition_table *table)
{
	int fd = image_memfd(img);
	int r = partition_table_read_fd(fd, 0, img->size, img->sector_size, table);

	close(fd);
	return r;
}

static int parse_ours(struct image *img, struct partition_table *table)
{
	return partition_table_read(image_read, img, img->size, img->sector_size, table);
}

/* Both readers, our parser and libblkid's, must give the same answer. */
static int parse(struct image *img, struct partition_table *table)
{
	static struct partition_table by_blkid;
	int r = partition_table_read(image_read, img, img->size, img->sector_size, table);
	int r_blkid;

	if (img->fail_reads)
		return r;
	r_blkid = parse_fd(img, &by_blkid);
	if (r_blkid != r || by_blkid.kind != table->kind || by_blkid.count != table->count ||
	    memcmp(by_blkid.entries, table->entries, table->count * sizeof(table->entries[0])))
		fail_msg("the readers disagree: ours %d (kind %d, %u partitions), libblkid's %d "
			 "(kind %d, %u partitions)", r, table->kind, table->count, r_blkid,
			 by_blkid.kind, by_blkid.count);
	return r;
}

static void assert_partition(const struct partition_table *table, uint32_t number,
			     uint64_t offset, uint64_t size, uint32_t type, int logical)
{
	struct partition p;

	assert_int_equal(partition_find(table, number, &p), 0);
	assert_int_equal(p.number, number);
	assert_int_equal(p.offset, offset);
	assert_int_equal(p.size, size);
	assert_int_equal(p.type, type);
	assert_int_equal(p.logical, logical);
}

static void assert_no_partition(const struct partition_table *table, uint32_t number)
{
	struct partition p;

	assert_int_equal(partition_find(table, number, &p), -ENOENT);
}

static void test_crc32(void **state)
{
	(void)state;
	assert_int_equal(crc32_update(0, "123456789", 9), 0xCBF43926);
	assert_int_equal(crc32_update(0, "", 0), 0);
	assert_int_equal(crc32_update(crc32_update(0, "1234", 4), "56789", 5), 0xCBF43926);
}

static void test_primaries(void **state)
{
	struct image *img = image_new(512, IMAGE_SECTORS);
	struct partition_table table;

	(void)state;
	set_entry(img->data, 0, 0x80, 0x0C, 1, 100);
	set_entry(img->data, 2, 0x00, 0x83, 200, 300);
	set_entry(img->data, 3, 0x00, 0x07, 600, 1448); /* up to the last sector */
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_MBR);
	assert_int_equal(table.count, 3);
	/* Numbered by slot: the empty second slot keeps number 2 unused. */
	assert_partition(&table, 1, 512, 100 * 512, 0x0C, 0);
	assert_partition(&table, 3, 200 * 512, 300 * 512, 0x83, 0);
	assert_partition(&table, 4, 600 * 512, 1448 * 512, 0x07, 0);
	assert_no_partition(&table, 0);
	assert_no_partition(&table, 2);
	assert_no_partition(&table, 5);
	image_free(img);
}

static void test_primaries_large_sectors(void **state)
{
	struct image *img = image_new(4096, 256);
	struct partition_table table;

	(void)state;
	set_entry(img->data, 0, 0x00, 0x83, 1, 255);
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_MBR);
	assert_partition(&table, 1, 4096, 255 * 4096, 0x83, 0);
	image_free(img);
}

/* An MBR with a primary in slot 1, an extended partition at 100..999 in slot 2
 * holding three logicals, and a primary after it in slot 3.  The EBR links are
 * relative to the first EBR (100); the logicals relative to their own EBR. */
static struct image *image_with_logicals(void)
{
	struct image *img = image_new(512, IMAGE_SECTORS);

	set_entry(img->data, 0, 0x00, 0x83, 1, 99);
	set_entry(img->data, 1, 0x00, 0x0F, 100, 900);
	set_entry(img->data, 2, 0x00, 0x82, 1000, 100);
	/* EBR 1 at 100: logical 101..199, next EBR at 100 + 100 = 200. */
	set_entry(sector_at(img, 100), 0, 0x00, 0x83, 1, 99);
	set_entry(sector_at(img, 100), 1, 0x00, 0x05, 100, 300);
	/* EBR 2 at 200: logical 202..299, next EBR at 100 + 300 = 400 (not 200 + 300). */
	set_entry(sector_at(img, 200), 0, 0x00, 0x07, 2, 98);
	set_entry(sector_at(img, 200), 1, 0x00, 0x05, 300, 500);
	/* EBR 3 at 400: logical 401..899, end of chain. */
	set_entry(sector_at(img, 400), 0, 0x00, 0x0B, 1, 499);
	return img;
}

static void test_extended_chain(void **state)
{
	struct image *img = image_with_logicals();
	struct partition_table table;

	(void)state;
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_MBR);
	assert_int_equal(table.count, 5);
	/* Primaries keep their slot numbers; the extended entry (slot 2) is no
	 * partition; the logicals are 5, 6, 7 in chain order. */
	assert_partition(&table, 1, 1 * 512, 99 * 512, 0x83, 0);
	assert_partition(&table, 3, 1000 * 512, 100 * 512, 0x82, 0);
	assert_partition(&table, 5, 101 * 512, 99 * 512, 0x83, 1);
	assert_partition(&table, 6, 202 * 512, 98 * 512, 0x07, 1);
	assert_partition(&table, 7, 401 * 512, 499 * 512, 0x0B, 1);
	assert_no_partition(&table, 2);
	assert_no_partition(&table, 4);
	assert_no_partition(&table, 8);
	image_free(img);
}

static void test_empty_slot_and_extended(void **state)
{
	static const uint32_t numbers[] = {1, 4, 5, 6, 7};
	struct image *img = image_with_logicals();
	struct partition_table table;

	(void)state;
	/* Slot 3 emptied, the primary moved to slot 4: fdisk's img1, img4, img5-7. */
	memset(img->data + 446 + 2 * 16, 0, 16);
	set_entry(img->data, 3, 0x00, 0x82, 1000, 100);
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_MBR);
	assert_int_equal(table.count, 5);
	assert_partition(&table, 1, 1 * 512, 99 * 512, 0x83, 0);
	assert_partition(&table, 4, 1000 * 512, 100 * 512, 0x82, 0);
	assert_partition(&table, 5, 101 * 512, 99 * 512, 0x83, 1);
	assert_partition(&table, 6, 202 * 512, 98 * 512, 0x07, 1);
	assert_partition(&table, 7, 401 * 512, 499 * 512, 0x0B, 1);
	for (uint32_t n = 2; n <= 3; n++)
		assert_no_partition(&table, n);
	assert_no_partition(&table, 8);
	/* The entries are listed by number (the CLI prints them in this order). */
	for (uint32_t i = 0; i < table.count; i++)
		assert_int_equal(table.entries[i].number, numbers[i]);
	image_free(img);
}

static void test_two_extended(void **state)
{
	struct image *img = image_new(512, IMAGE_SECTORS);
	struct partition_table table;

	(void)state;
	/* Two extended entries, one logical each: the numbers run on across them in
	 * slot order, as Linux numbers them. */
	set_entry(img->data, 0, 0x00, 0x05, 100, 100);
	set_entry(sector_at(img, 100), 0, 0x00, 0x83, 1, 99);
	set_entry(img->data, 1, 0x00, 0x83, 10, 90);
	set_entry(img->data, 2, 0x00, 0x0F, 300, 100);
	set_entry(sector_at(img, 300), 0, 0x00, 0x07, 2, 98);
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.count, 3);
	assert_partition(&table, 2, 10 * 512, 90 * 512, 0x83, 0);
	assert_partition(&table, 5, 101 * 512, 99 * 512, 0x83, 1);
	assert_partition(&table, 6, 302 * 512, 98 * 512, 0x07, 1);
	assert_no_partition(&table, 1);
	assert_no_partition(&table, 3);
	assert_no_partition(&table, 7);
	image_free(img);
}

static void test_extended_type_0x85_and_empty_ebr(void **state)
{
	struct image *img = image_new(512, IMAGE_SECTORS);
	struct partition_table table;

	(void)state;
	/* A first EBR with no logical of its own (one was deleted) that links on. */
	set_entry(img->data, 0, 0x00, 0x85, 10, 100);
	set_entry(sector_at(img, 10), 1, 0x00, 0x05, 50, 50);
	set_entry(sector_at(img, 60), 0, 0x00, 0x83, 1, 49);
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.count, 1);
	/* The empty first EBR takes no number: its successor's logical is 5. */
	assert_partition(&table, 5, 61 * 512, 49 * 512, 0x83, 1);
	assert_no_partition(&table, 1);
	assert_no_partition(&table, 6);

	/* Type 0 with a size left behind is empty too, in a primary slot and in an
	 * EBR, and takes no number (libblkid, as the kernel, would list both). */
	set_entry(img->data, 1, 0x00, 0x00, 200, 100);
	set_entry(sector_at(img, 10), 0, 0x00, 0x00, 1, 20);
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.count, 1);
	assert_partition(&table, 5, 61 * 512, 49 * 512, 0x83, 1);
	image_free(img);
}

static void test_blank_extended(void **state)
{
	struct image *img = image_new(512, IMAGE_SECTORS);
	struct partition_table table;

	(void)state;
	/* A fresh extended partition: its first EBR is all zero. */
	set_entry(img->data, 0, 0x00, 0x05, 10, 100);
	set_entry(img->data, 1, 0x00, 0x83, 200, 10);
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_MBR);
	assert_int_equal(table.count, 1);
	/* Slot 1 is the extended entry, which is no partition of its own. */
	assert_partition(&table, 2, 200 * 512, 10 * 512, 0x83, 0);
	assert_no_partition(&table, 1);
	assert_no_partition(&table, 5);
	image_free(img);
}

static void test_looping_chain(void **state)
{
	struct image *img = image_with_logicals();
	struct partition_table table;

	(void)state;
	/* EBR 3 links back to EBR 2 (100 + 100 = 200). */
	set_entry(sector_at(img, 400), 1, 0x00, 0x05, 100, 100);
	assert_int_equal(parse(img, &table), -EBADMSG);
	assert_int_equal(table.kind, PARTITION_TABLE_NONE);
	assert_int_equal(table.count, 0);
	image_free(img);
}

static void test_self_link(void **state)
{
	struct image *img = image_with_logicals();
	struct partition_table table;

	(void)state;
	/* A link of 0 points at the first EBR itself. */
	set_entry(sector_at(img, 100), 1, 0x00, 0x05, 0, 300);
	assert_int_equal(parse(img, &table), -EBADMSG);
	image_free(img);
}

static void test_chain_too_long(void **state)
{
	struct image *img = image_new(512, 4096);
	struct partition_table table;
	const uint32_t ext_start = 100, ext_count = 2 * (PARTITION_MAX + 1);

	(void)state;
	set_entry(img->data, 0, 0x00, 0x05, ext_start, ext_count);
	/* PARTITION_MAX + 1 EBRs, two sectors apart, each with a one-sector logical. */
	for (uint32_t i = 0; i <= PARTITION_MAX; i++) {
		uint8_t *ebr = sector_at(img, ext_start + 2 * i);
		set_entry(ebr, 0, 0x00, 0x83, 1, 1);
		if (i < PARTITION_MAX)
			set_entry(ebr, 1, 0x00, 0x05, 2 * (i + 1), 2);
	}
	assert_int_equal(parse(img, &table), -EBADMSG);

	/* Cut at PARTITION_MAX logicals the same chain fits exactly. */
	memset(sector_at(img, ext_start + 2 * (PARTITION_MAX - 1)) + 446 + 16, 0, 16);
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.count, PARTITION_MAX);
	assert_partition(&table, 5, (ext_start + 1) * 512ull, 512, 0x83, 1);
	/* Logicals count from 5: the last one's number is past PARTITION_MAX. */
	assert_partition(&table, PARTITION_MAX + 4, (ext_start + 2 * PARTITION_MAX - 1) * 512ull,
			 512, 0x83, 1);

	/* One primary more, and the table overflows. */
	set_entry(img->data, 1, 0x00, 0x83, 3000, 10);
	assert_int_equal(parse(img, &table), -EBADMSG);
	image_free(img);
}

static void test_past_the_end(void **state)
{
	struct image *img = image_new(512, IMAGE_SECTORS);
	struct partition_table table;

	(void)state;
	set_entry(img->data, 0, 0x00, 0x83, 2000, 49);
	assert_int_equal(parse(img, &table), -EBADMSG);
	set_entry(img->data, 0, 0x00, 0x83, 2000, 48);
	assert_int_equal(parse(img, &table), 0);
	set_entry(img->data, 0, 0x00, 0x83, 0xFFFFFFFF, 0xFFFFFFFF);
	assert_int_equal(parse(img, &table), -EBADMSG);
	set_entry(img->data, 0, 0x00, 0x83, 10, 0); /* a type but no sectors */
	assert_int_equal(parse(img, &table), -EBADMSG);
	/* An extended partition past the end is never followed. */
	set_entry(img->data, 0, 0x00, 0x05, 4000, 10);
	img->reads = 0;
	assert_int_equal(parse(img, &table), -EBADMSG);
	assert_int_equal(img->reads, 1);
	image_free(img);
}

static void test_logical_outside_extended(void **state)
{
	struct image *img = image_with_logicals();
	struct partition_table table;

	(void)state;
	/* Logical 3 would end at 400 + 1 + 600 = 1001, past the extended end 1000. */
	set_entry(sector_at(img, 400), 0, 0x00, 0x0B, 1, 600);
	assert_int_equal(parse(img, &table), -EBADMSG);
	image_free(img);

	img = image_with_logicals();
	/* A link past the extended partition. */
	set_entry(sector_at(img, 200), 1, 0x00, 0x05, 900, 10);
	assert_int_equal(parse(img, &table), -EBADMSG);
	image_free(img);

	img = image_with_logicals();
	/* A link to a sector with no EBR signature. */
	set_entry(sector_at(img, 200), 1, 0x00, 0x05, 350, 10);
	assert_int_equal(parse(img, &table), -EBADMSG);
	image_free(img);

	img = image_with_logicals();
	/* A link whose type is not extended. */
	set_entry(sector_at(img, 200), 1, 0x00, 0x83, 300, 500);
	assert_int_equal(parse(img, &table), -EBADMSG);
	image_free(img);
}

static void test_overlapping_logicals(void **state)
{
	struct image *img = image_with_logicals();
	struct partition_table table;

	(void)state;
	/* EBR 1 at 100: logical 101..109.  EBR 2 at 200: logical 202..449.  EBR 3
	 * back at 120: logical 420..449, inside logical 2, while no logical covers
	 * an EBR. */
	set_entry(sector_at(img, 100), 0, 0x00, 0x83, 1, 9);
	set_entry(sector_at(img, 200), 0, 0x00, 0x07, 2, 248);
	set_entry(sector_at(img, 200), 1, 0x00, 0x05, 20, 400);
	memset(sector_at(img, 400), 0, 512);
	set_entry(sector_at(img, 120), 0, 0x00, 0x0B, 300, 30);
	assert_int_equal(parse(img, &table), -EBADMSG);
	/* Logical 3 moved to 450..479: the same backward chain is fine. */
	set_entry(sector_at(img, 120), 0, 0x00, 0x0B, 330, 30);
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.count, 5);
	assert_partition(&table, 7, 450 * 512, 30 * 512, 0x0B, 1);
	image_free(img);

	img = image_with_logicals();
	/* Logical 1 at 101..200 covers EBR 2 at 200 (and no other logical). */
	set_entry(sector_at(img, 100), 0, 0x00, 0x83, 1, 100);
	assert_int_equal(parse(img, &table), -EBADMSG);
	image_free(img);
}

static void test_bad_boot_flag(void **state)
{
	struct image *img = image_new(512, IMAGE_SECTORS);
	struct partition_table table;

	(void)state;
	set_entry(img->data, 0, 0x00, 0x83, 1, 100);
	set_entry(img->data, 2, 0x81, 0x00, 0, 0); /* even on an empty entry */
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_NONE);
	assert_int_equal(table.count, 0);
	assert_no_partition(&table, 1);

	set_entry(img->data, 2, 0x80, 0x00, 0, 0);
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_MBR);
	image_free(img);
}

static void test_no_table(void **state)
{
	struct image *img = image_new(512, IMAGE_SECTORS);
	struct partition_table table;

	(void)state;
	/* No signature at all. */
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_NONE);
	/* A table but no signature. */
	set_entry(img->data, 0, 0x00, 0x83, 1, 100);
	img->data[511] = 0;
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_NONE);
	/* A signature and four empty entries: a FAT boot sector, say. */
	memset(img->data + 446, 0, 64);
	img->data[511] = 0xAA;
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_NONE);
	image_free(img);

	/* An image smaller than one sector is not read at all. */
	img = image_new(1, 100);
	img->sector_size = 512;
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_NONE);
	assert_int_equal(img->reads, 0);
	image_free(img);
}

static void test_bad_arguments_and_read_errors(void **state)
{
	struct image *img = image_with_logicals();
	struct partition_table table;

	(void)state;
	assert_int_equal(partition_table_read(image_read, img, img->size, 0, &table), -EINVAL);
	assert_int_equal(partition_table_read(image_read, img, img->size, 513, &table), -EINVAL);
	assert_int_equal(partition_table_read(image_read, img, img->size, 8192, &table), -EINVAL);
	img->fail_reads = 1;
	assert_int_equal(parse(img, &table), -EIO);
	image_free(img);
}

/* libblkid reads the image where it lies in the descriptor (imdisk -b, devio's
 * offset): the table at `offset`, nothing before it or past its size. */
static void test_fd_window(void **state)
{
	struct image *img = image_with_logicals();
	struct partition_table table, at_zero;
	const uint64_t offset = 64 * 1024;
	uint8_t junk[512];
	int fd = memfd_create("test-partition-window", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(parse(img, &at_zero), 0);
	/* Another table before the window, and one sector of it after. */
	memset(junk, 0, sizeof(junk));
	set_entry(junk, 0, 0x00, 0x83, 1, 10);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	assert_int_equal(pwrite(fd, img->data, img->size, offset), (ssize_t)img->size);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), offset + img->size), (ssize_t)sizeof(junk));
	assert_int_equal(partition_table_read_fd(fd, offset, img->size, 512, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_MBR);
	assert_int_equal(table.count, at_zero.count);
	assert_memory_equal(table.entries, at_zero.entries, table.count * sizeof(table.entries[0]));
	/* A window that ends at sector 800 cuts the extended partition and partition 3
	 * (sectors 1000..1099) off: corrupt. */
	assert_int_equal(partition_table_read_fd(fd, offset, 800 * 512, 512, &table), -EBADMSG);
	assert_int_equal(table.count, 0);
	assert_int_equal(table.kind, PARTITION_TABLE_NONE);
	/* Bad sector sizes, as partition_table_read(). */
	assert_int_equal(partition_table_read_fd(fd, offset, img->size, 0, &table), -EINVAL);
	assert_int_equal(partition_table_read_fd(fd, offset, img->size, 513, &table), -EINVAL);
	assert_int_equal(partition_table_read_fd(fd, offset, img->size, 8192, &table), -EINVAL);
	close(fd);
	image_free(img);
}

/* --- GPT --- */

struct gpt_slot {
	uint32_t index;
	uint64_t first, last;
};

static void gpt_seal_header(uint8_t *header)
{
	put_le32(header + 16, 0);
	put_le32(header + 16, crc32_update(0, header, get_le32(header + 12)));
}

static void gpt_seal_array(struct image *img)
{
	uint8_t *header = sector_at(img, 1);
	uint64_t bytes = (uint64_t)get_le32(header + 80) * get_le32(header + 84);

	put_le32(header + 88, crc32_update(0, sector_at(img, get_le64(header + 72)), bytes));
	gpt_seal_header(header);
}

/* A protective MBR, a primary header at LBA 1 and 128 entries of 128 bytes at LBA 2. */
static struct image *image_with_gpt(uint32_t sector_size, uint64_t sectors,
				    const struct gpt_slot *slots, unsigned slot_count)
{
	struct image *img = image_new(sector_size, sectors);
	uint32_t array_sectors = 128 * 128 / sector_size;
	uint8_t *header = sector_at(img, 1);
	uint8_t *array = sector_at(img, 2);

	set_entry(img->data, 0, 0x00, 0xEE, 1, (uint32_t)(sectors - 1));
	memcpy(header, "EFI PART", 8);
	put_le32(header + 8, 0x00010000);
	put_le32(header + 12, 92);
	put_le64(header + 24, 1);
	put_le64(header + 32, sectors - 1);
	put_le64(header + 40, 2 + array_sectors);
	put_le64(header + 48, sectors - 2 - array_sectors);
	memset(header + 56, 0x42, 16);
	put_le64(header + 72, 2);
	put_le32(header + 80, 128);
	put_le32(header + 84, 128);
	for (unsigned i = 0; i < slot_count; i++) {
		uint8_t *entry = array + 128 * slots[i].index;
		memset(entry, 0xA0, 16);      /* type GUID: never all zero */
		memset(entry + 16, 0xB0, 16); /* unique GUID */
		put_le32(entry + 16, i);
		put_le64(entry + 32, slots[i].first);
		put_le64(entry + 40, slots[i].last);
	}
	gpt_seal_array(img);
	return img;
}

static const struct gpt_slot two_slots[] = {
	{0, 40, 139},
	{2, 200, 399}, /* slot 1 left empty: this one is partition 3, as in Linux */
};

static void test_gpt(void **state)
{
	struct image *img = image_with_gpt(512, IMAGE_SECTORS, two_slots, 2);
	struct partition_table table;

	(void)state;
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_GPT);
	assert_int_equal(table.count, 2);
	assert_partition(&table, 1, 40 * 512, 100 * 512, 0, 0);
	assert_partition(&table, 3, 200 * 512, 200 * 512, 0, 0);
	assert_no_partition(&table, 2);
	assert_no_partition(&table, 4);
	image_free(img);
}

static void test_gpt_4k_sectors(void **state)
{
	static const struct gpt_slot slot = {5, 10, 99};
	struct image *img = image_with_gpt(4096, 256, &slot, 1);
	struct partition_table table;

	(void)state;
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_GPT);
	assert_int_equal(table.count, 1);
	assert_partition(&table, 6, 10 * 4096, 90 * 4096, 0, 0);
	assert_no_partition(&table, 1);
	image_free(img);
}

static void test_gpt_bad_crc(void **state)
{
	struct image *img = image_with_gpt(512, IMAGE_SECTORS, two_slots, 2);
	struct partition_table table;

	(void)state;
	/* A header field changed behind the CRC's back. */
	sector_at(img, 1)[48] ^= 1;
	assert_int_equal(parse(img, &table), -EBADMSG);
	assert_int_equal(table.count, 0);
	sector_at(img, 1)[48] ^= 1;
	assert_int_equal(parse(img, &table), 0);

	/* An entry changed behind the array CRC's back. */
	sector_at(img, 2)[32] ^= 1;
	assert_int_equal(parse(img, &table), -EBADMSG);
	sector_at(img, 2)[32] ^= 1;

	/* The stored header CRC itself wrong. */
	sector_at(img, 1)[16] ^= 0x80;
	assert_int_equal(parse(img, &table), -EBADMSG);
	image_free(img);
}

static void test_gpt_bad_headers(void **state)
{
	struct partition_table table;
	struct image *img;

	(void)state;
	/* Each case changes one field and re-seals, so only the field is at fault. */
	static const struct {
		unsigned offset, width;
		uint64_t value;
	} cases[] = {
		{0, 1, 'X'},          /* signature */
		{12, 4, 91},          /* header smaller than the fields */
		{12, 4, 513},         /* header larger than its sector */
		{24, 8, 2},           /* not the primary header */
		{40, 8, 5000},        /* first usable after last usable */
		{72, 8, 1},           /* array over the header */
		{72, 8, IMAGE_SECTORS}, /* array past the end */
		{72, 8, IMAGE_SECTORS - 2}, /* array running past the end */
		{84, 4, 64},          /* entries too small */
		{84, 4, 200},         /* entries not 128 << n */
		{80, 4, 0x10000000},  /* absurd count */
		{80, 4, 0xFFFFFFFF},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *header;

		img = image_with_gpt(512, IMAGE_SECTORS, two_slots, 2);
		header = sector_at(img, 1);
		if (cases[i].width == 1)
			header[cases[i].offset] = (uint8_t)cases[i].value;
		else if (cases[i].width == 4)
			put_le32(header + cases[i].offset, (uint32_t)cases[i].value);
		else
			put_le64(header + cases[i].offset, cases[i].value);
		gpt_seal_header(header);
		if (parse(img, &table) != -EBADMSG)
			fail_msg("GPT header case %zu accepted", i);
		image_free(img);
	}

	/* A protective MBR on an image too small for a header. */
	img = image_new(512, 1);
	set_entry(img->data, 0, 0x00, 0xEE, 1, 1);
	assert_int_equal(parse(img, &table), -EBADMSG);
	image_free(img);
}

static void test_gpt_bad_entries(void **state)
{
	static const struct gpt_slot past_end[] = {{0, 40, 139}, {1, 2000, IMAGE_SECTORS}};
	static const struct gpt_slot reversed[] = {{0, 140, 139}};
	static const struct gpt_slot before_usable[] = {{0, 1, 139}};
	static const struct gpt_slot huge[] = {{0, 40, UINT64_MAX}};
	struct partition_table table;
	struct image *img;

	(void)state;
	img = image_with_gpt(512, IMAGE_SECTORS, past_end, 2);
	/* Past the usable area too: widen it so that the image end is what fails. */
	put_le64(sector_at(img, 1) + 48, UINT64_MAX);
	gpt_seal_header(sector_at(img, 1));
	assert_int_equal(parse(img, &table), -EBADMSG);
	image_free(img);

	img = image_with_gpt(512, IMAGE_SECTORS, reversed, 1);
	assert_int_equal(parse(img, &table), -EBADMSG);
	image_free(img);

	img = image_with_gpt(512, IMAGE_SECTORS, before_usable, 1);
	/* An entry over the header and its array: ours refuses the table; libblkid,
	 * whose two CRCs vouch for the rest, skips the entry, and a GPT with no
	 * usable entry serves no partition either way. */
	assert_int_equal(parse_ours(img, &table), -EBADMSG);
	assert_int_equal(parse_fd(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_GPT);
	assert_int_equal(table.count, 0);
	image_free(img);

	img = image_with_gpt(512, IMAGE_SECTORS, huge, 1);
	put_le64(sector_at(img, 1) + 48, UINT64_MAX);
	gpt_seal_header(sector_at(img, 1));
	assert_int_equal(parse(img, &table), -EBADMSG);
	image_free(img);
}

/* Write the backup header at the last LBA and its copy of the entry array just
 * before it, as a partitioning tool does. */
static void gpt_add_backup(struct image *img)
{
	uint64_t sectors = img->size / img->sector_size;
	uint8_t *primary = sector_at(img, 1);
	uint8_t *backup = sector_at(img, sectors - 1);
	uint64_t array_sectors = 128 * 128 / img->sector_size;
	uint64_t array_lba = sectors - 1 - array_sectors;

	memcpy(sector_at(img, array_lba), sector_at(img, 2), 128 * 128);
	memcpy(backup, primary, img->sector_size);
	put_le64(backup + 24, sectors - 1);
	put_le64(backup + 32, 1);
	put_le64(backup + 72, array_lba);
	gpt_seal_header(backup);
}

/* libblkid reads a GPT whose primary header or array is damaged from its backup;
 * our parser, which reads only the primary, calls it corrupt. */
static void test_gpt_backup(void **state)
{
	struct image *img = image_with_gpt(512, IMAGE_SECTORS, two_slots, 2);
	struct partition_table table;

	(void)state;
	gpt_add_backup(img);
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.count, 2);

	/* The primary header wiped out. */
	memset(sector_at(img, 1), 0, 512);
	assert_int_equal(parse_ours(img, &table), -EBADMSG);
	assert_int_equal(parse_fd(img, &table), 0);
	assert_int_equal(table.kind, PARTITION_TABLE_GPT);
	assert_int_equal(table.count, 2);
	assert_partition(&table, 1, 40 * 512, 100 * 512, 0, 0);
	assert_partition(&table, 3, 200 * 512, 200 * 512, 0, 0);
	assert_no_partition(&table, 2);
	image_free(img);

	/* The primary array damaged behind its CRC. */
	img = image_with_gpt(512, IMAGE_SECTORS, two_slots, 2);
	gpt_add_backup(img);
	sector_at(img, 2)[32] ^= 1;
	assert_int_equal(parse_ours(img, &table), -EBADMSG);
	assert_int_equal(parse_fd(img, &table), 0);
	assert_int_equal(table.count, 2);
	assert_partition(&table, 1, 40 * 512, 100 * 512, 0, 0);

	/* Both damaged: corrupt, whichever reader. */
	memset(sector_at(img, IMAGE_SECTORS - 1), 0, 512);
	assert_int_equal(parse(img, &table), -EBADMSG);
	assert_int_equal(table.count, 0);
	image_free(img);
}

static void test_gpt_too_many(void **state)
{
	struct gpt_slot slots[PARTITION_MAX + 1];
	struct partition_table table;
	struct image *img;

	(void)state;
	/* 129 entries need a 256-entry array: build 128 first, then grow it. */
	for (unsigned i = 0; i < PARTITION_MAX + 1; i++)
		slots[i] = (struct gpt_slot){i, 100 + i, 100 + i};
	img = image_with_gpt(512, IMAGE_SECTORS, slots, PARTITION_MAX);
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.count, PARTITION_MAX);

	put_le32(sector_at(img, 1) + 80, 256);
	put_le64(sector_at(img, 1) + 40, 2 + 64);
	memset(sector_at(img, 2) + 128 * 128, 0xCC, 16);
	put_le64(sector_at(img, 2) + 128 * 128 + 32, 300);
	put_le64(sector_at(img, 2) + 128 * 128 + 40, 300);
	/* Move the first entries clear of the larger array. */
	for (unsigned i = 0; i < PARTITION_MAX; i++) {
		put_le64(sector_at(img, 2) + 128 * i + 32, 400 + i);
		put_le64(sector_at(img, 2) + 128 * i + 40, 400 + i);
	}
	gpt_seal_array(img);
	assert_int_equal(parse(img, &table), -E2BIG);

	/* Slot 0 emptied: 128 used entries again, the last in slot 128, which is
	 * partition 129, past PARTITION_MAX. */
	memset(sector_at(img, 2), 0, 128);
	gpt_seal_array(img);
	assert_int_equal(parse(img, &table), 0);
	assert_int_equal(table.count, PARTITION_MAX);
	assert_no_partition(&table, 1);
	assert_partition(&table, 2, 401 * 512, 512, 0, 0);
	assert_partition(&table, PARTITION_MAX + 1, 300 * 512, 512, 0, 0);
	image_free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_primaries),
		cmocka_unit_test(test_primaries_large_sectors),
		cmocka_unit_test(test_extended_chain),
		cmocka_unit_test(test_empty_slot_and_extended),
		cmocka_unit_test(test_two_extended),
		cmocka_unit_test(test_extended_type_0x85_and_empty_ebr),
		cmocka_unit_test(test_blank_extended),
		cmocka_unit_test(test_looping_chain),
		cmocka_unit_test(test_self_link),
		cmocka_unit_test(test_chain_too_long),
		cmocka_unit_test(test_past_the_end),
		cmocka_unit_test(test_logical_outside_extended),
		cmocka_unit_test(test_overlapping_logicals),
		cmocka_unit_test(test_bad_boot_flag),
		cmocka_unit_test(test_no_table),
		cmocka_unit_test(test_bad_arguments_and_read_errors),
		cmocka_unit_test(test_fd_window),
		cmocka_unit_test(test_gpt),
		cmocka_unit_test(test_gpt_4k_sectors),
		cmocka_unit_test(test_gpt_bad_crc),
		cmocka_unit_test(test_gpt_bad_headers),
		cmocka_unit_test(test_gpt_bad_entries),
		cmocka_unit_test(test_gpt_backup),
		cmocka_unit_test(test_gpt_too_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
