/* MBR (with extended/logical partitions) and GPT partition tables, parsed from
 * bytes the caller reads: this machine's kernel parses no partition tables, so a
 * partition is served as a loop offset + size window computed here. */
#ifndef IMDISK_IMAGE_PARTITION_H
#define IMDISK_IMAGE_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#define PARTITION_MAX 128

struct partition {
	uint32_t number;  /* 1-based, ImDisk's numbering (MBR) or GPT entry order */
	uint64_t offset;  /* bytes from the start of the image */
	uint64_t size;    /* bytes */
	uint32_t type;    /* MBR type byte, or 0 for GPT */
	int logical;      /* 1 for a logical partition inside an extended one */
};

/* Reads `len` bytes at `offset` of the image into buf; returns 0 or negative errno.
 * Short reads past the end of the image are errors (-EIO).  The parser only asks
 * for ranges inside [0, image_size). */
typedef int (*partition_read_fn)(void *context, void *buf, size_t len, uint64_t offset);

struct partition_table {
	enum { PARTITION_TABLE_NONE, PARTITION_TABLE_MBR, PARTITION_TABLE_GPT } kind;
	uint32_t count;
	struct partition entries[PARTITION_MAX];
};

/* Parse the table of an image of `image_size` bytes with `sector_size`-byte sectors
 * (512, 1024, 2048 or 4096; LBAs in the tables count these sectors).
 *
 * MBR: 0x55AA at byte 510 and the low 7 bits of every boot flag zero.  Primaries
 * with a non-zero type are numbered in table order; an extended entry (0x05, 0x0F,
 * 0x85) is not numbered itself, its logical partitions are, at the place of the
 * extended entry.  A valid MBR whose four entries are all empty is reported as
 * NONE: it cannot be told from a FAT boot sector with no table.
 * GPT: a protective entry (0xEE) in the MBR; the header at LBA 1 and its entry array
 * must pass their CRC32s (the backup header is not consulted).
 *
 * Returns 0 (kind NONE when there is no table), -EINVAL for a bad sector size,
 * -EBADMSG for a corrupt table (a partition past the end of the image or outside
 * its extended partition, overlapping partitions, an EBR chain that loops or is
 * longer than PARTITION_MAX, a bad GPT header or CRC), -E2BIG for a GPT with more
 * than PARTITION_MAX used entries, -ENOMEM, or what `read` returned. */
int partition_table_read(partition_read_fn read, void *context, uint64_t image_size,
			 uint32_t sector_size, struct partition_table *table);

/* Find partition `number` (1-based); -ENOENT when it does not exist. */
int partition_find(const struct partition_table *table, uint32_t number, struct partition *out);

#endif
