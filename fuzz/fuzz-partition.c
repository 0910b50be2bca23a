/* libFuzzer harness: the input is a whole disk image, read by both partition
 * readers: our parser (partition_table_read(), through a read function) and
 * libblkid's (partition_table_read_fd(), through a memfd holding the image).
 * Each must accept or refuse any image, our parser without reading outside it,
 * and every partition either accepts must lie inside the image and be numbered as
 * Linux numbers it: MBR primaries 1-4 by slot and logicals 5, 6, ... with no gap,
 * GPT entries by slot; the table lists them by increasing number and
 * partition_find() finds exactly those numbers.  Where libblkid serves an MBR, our
 * parser has judged it sound and must list the very same partitions (libblkid adds
 * only nested ones, a BSD label's say).  libblkid itself is not instrumented: what
 * is fuzzed is our use of it and our checks of what it returns.
 *
 * A mutated GPT almost never keeps its two CRCs right, which would leave the
 * entry parsing unexplored; so each input is parsed twice: as it is, and as a
 * copy whose GPT CRCs (if it has a GPT header at LBA 1) are made right first. */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32.h"
#include "common/endian.h"
#include "image/partition.h"

#define SECTOR 512
/* partition_find() is checked for every number up to here: past every MBR
 * number (at most 4 + PARTITION_MAX) and the first GPT slots. */
#define FIND_CHECK_MAX (PARTITION_MAX + 8)

struct image {
	const uint8_t *data;
	size_t size;
};

static int image_read(void *context, void *buf, size_t len, uint64_t offset)
{
	const struct image *img = context;

	/* The parser promises to stay inside the image: a read outside is a bug. */
	if (offset > img->size || len > img->size - offset)
		abort();
	memcpy(buf, img->data + offset, len);
	return 0;
}

/* Recompute the entry array CRC and the header CRC of the GPT header at LBA 1,
 * where the fields that locate them allow it. */
static void seal_gpt(uint8_t *image, size_t size)
{
	uint8_t *header = image + SECTOR;
	uint32_t header_size;
	uint64_t array_lba, array_bytes;

	if (size < 2 * SECTOR || memcmp(header, "EFI PART", 8) != 0)
		return;
	header_size = get_le32(header + 12);
	array_lba = get_le64(header + 72);
	array_bytes = (uint64_t)get_le32(header + 80) * get_le32(header + 84);
	if (array_lba >= 2 && array_lba < size / SECTOR && array_bytes <= size - array_lba * SECTOR)
		put_le32(header + 88, crc32_update(0, image + array_lba * SECTOR, (size_t)array_bytes));
	if (header_size >= 20 && header_size <= SECTOR) {
		put_le32(header + 16, 0);
		put_le32(header + 16, crc32_update(0, header, header_size));
	}
}

static int mbr_type_is_extended(uint32_t type)
{
	return type == 0x05 || type == 0x0F || type == 0x85;
}

/* The entry numbered `number`, by a plain search; NULL when there is none. */
static const struct partition *entry_numbered(const struct partition_table *table, uint32_t number)
{
	for (uint32_t i = 0; i < table->count; i++)
		if (table->entries[i].number == number)
			return &table->entries[i];
	return NULL;
}

/* The invariants of a table either reader returned (r its result). */
static void check_table(const struct partition_table *result, int r, size_t size)
{
	const struct partition_table table = *result;
	struct partition part;
	uint32_t logicals = 0;

	if (r != 0) {
		if (table.count != 0 || table.kind != PARTITION_TABLE_NONE)
			abort();
		return;
	}
	if (table.count > PARTITION_MAX || (table.kind == PARTITION_TABLE_NONE && table.count))
		abort();
	for (uint32_t i = 0; i < table.count; i++) {
		const struct partition *p = &table.entries[i];
		if (p->number == 0 || (i > 0 && p->number <= table.entries[i - 1].number) ||
		    p->size == 0 || p->offset % 512 || p->size % 512 || p->offset > size ||
		    p->size > size - p->offset)
			abort();
		if (table.kind == PARTITION_TABLE_GPT) {
			if (p->type != 0 || p->logical || p->nested)
				abort();
		} else if (table.kind == PARTITION_TABLE_OTHER || p->nested) {
			if (p->logical)
				abort();
		} else if (p->type == 0 || mbr_type_is_extended(p->type)) {
			abort(); /* an empty or extended entry is never a partition */
		} else if (p->logical ? p->number != 5 + logicals++ : p->number > 4) {
			abort();
		}
	}
	for (uint32_t number = 0; number <= FIND_CHECK_MAX; number++) {
		const struct partition *want = entry_numbered(&table, number);
		int r = partition_find(&table, number, &part);
		if ((r == 0) != (want != NULL))
			abort();
		if (r == 0 && (part.number != want->number || part.offset != want->offset ||
			       part.size != want->size || part.type != want->type ||
			       part.logical != want->logical))
			abort();
	}
}

/* The image in a memfd, reused from one input to the next; -1 when none can be
 * made. */
static int image_fd(const uint8_t *data, size_t size)
{
	static int fd = -1;

	if (fd < 0)
		fd = memfd_create("fuzz-partition", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 0) < 0)
		return -1;
	if (size && pwrite(fd, data, size, 0) != (ssize_t)size)
		return -1;
	return fd;
}

static int same_partition(const struct partition *a, const struct partition *b)
{
	return a->number == b->number && a->offset == b->offset && a->size == b->size &&
	       a->type == b->type && a->logical == b->logical;
}

static void parse_and_check(const uint8_t *data, size_t size)
{
	static struct partition_table ours, by_blkid;
	struct image img = {data, size};
	int r_ours, r_blkid, fd;
	uint32_t j = 0;

	r_ours = partition_table_read(image_read, &img, size, 512, &ours);
	check_table(&ours, r_ours, size);

	fd = image_fd(data, size);
	if (fd < 0)
		return;
	r_blkid = partition_table_read_fd(fd, 0, size, 512, &by_blkid);
	check_table(&by_blkid, r_blkid, size);
	if (r_blkid != 0 || by_blkid.kind != PARTITION_TABLE_MBR)
		return;
	/* An MBR libblkid serves is one our parser passed, partition for partition. */
	if (r_ours != 0 || ours.kind != PARTITION_TABLE_MBR)
		abort();
	for (uint32_t i = 0; i < by_blkid.count; i++) {
		if (by_blkid.entries[i].nested)
			continue;
		if (j >= ours.count || !same_partition(&by_blkid.entries[i], &ours.entries[j++]))
			abort();
	}
	if (j != ours.count)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *sealed;

	parse_and_check(data, size);
	if (size < 2 * SECTOR || memcmp(data + SECTOR, "EFI PART", 8) != 0)
		return 0;
	sealed = malloc(size);
	if (!sealed)
		return 0;
	memcpy(sealed, data, size);
	seal_gpt(sealed, size);
	parse_and_check(sealed, size);
	free(sealed);
	return 0;
}
