/* Partition tables: this machine's kernel parses none, so a partition is served
 * as a loop offset + size window computed here.  An image with a descriptor is
 * read through util-linux's libblkid (partition_table_read_fd(): GPT with its
 * backup header, BSD, Sun, SGI, Mac and the other tables libblkid knows, and the
 * tables nested in MBR slices).  partition_table_read() is our own MBR/GPT parser,
 * kept where libblkid cannot reach: a disk that exists only behind a read function
 * (devio's dynamic VHD and memory: disks, whose virtual bytes no descriptor holds),
 * and the judging of an MBR and its EBR chain, where libblkid serves what it can
 * of a corrupt table and numbers empty entries (see partition-blkid.c). */
#ifndef IMDISK_IMAGE_PARTITION_H
#define IMDISK_IMAGE_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#define PARTITION_MAX 128
/* The highest number a partition can have: a GPT's last slot (1 MiB of 128-byte
 * entries). */
#define PARTITION_NUMBER_MAX 8192

struct partition {
	uint32_t number;  /* 1-based, as Linux numbers it: see partition_table_read() */
	uint64_t offset;  /* bytes from the start of the image */
	uint64_t size;    /* bytes */
	uint32_t type;    /* MBR type byte, or 0 for GPT */
	int logical;      /* 1 for a logical partition inside an extended one */
	int nested;       /* 1 for a partition of a table inside a partition (a BSD
			   * disklabel in an MBR slice): numbered after the logicals */
};

/* Reads `len` bytes at `offset` of the image into buf; returns 0 or negative errno.
 * Short reads past the end of the image are errors (-EIO).  The parser only asks
 * for ranges inside [0, image_size). */
typedef int (*partition_read_fn)(void *context, void *buf, size_t len, uint64_t offset);

struct partition_table {
	/* OTHER: a table only libblkid reads (BSD, Sun, SGI, Mac, Atari, ...). */
	enum {
		PARTITION_TABLE_NONE,
		PARTITION_TABLE_MBR,
		PARTITION_TABLE_GPT,
		PARTITION_TABLE_OTHER
	} kind;
	uint32_t count;
	struct partition entries[PARTITION_MAX]; /* by increasing number */
};

/* Parse the table of an image of `image_size` bytes with `sector_size`-byte sectors
 * (512, 1024, 2048 or 4096; LBAs in the tables count these sectors).
 *
 * Partitions are numbered as Linux numbers them (img1, img2, img5... in `fdisk -l`),
 * not as ImDisk does (it numbers logicals in place of their extended entry and
 * shifts the primaries after it), so that -v N is the N a user sees:
 * MBR: 0x55AA at byte 510 and the low 7 bits of every boot flag zero.  A primary
 * with a non-zero type is numbered by its slot, 1-4 (empty slots keep their
 * numbers: slots 1, 2 and 4 used give partitions 1, 2 and 4); an extended entry
 * (0x05, 0x0F, 0x85) is not a partition itself; the logical partitions found
 * through its EBR chain are numbered 5, 6, 7... in chain order.  A valid MBR whose
 * four entries are all empty is reported as NONE: it cannot be told from a FAT
 * boot sector with no table.
 * GPT: a protective entry (0xEE) in the MBR; the header at LBA 1 and its entry array
 * must pass their CRC32s (the backup header is not consulted).  A used entry is
 * numbered by its slot, index + 1 (empty slots keep their numbers).
 * Either way a number can exceed PARTITION_MAX: that bounds how many partitions
 * a table holds, not their numbers.
 *
 * Returns 0 (kind NONE when there is no table), -EINVAL for a bad sector size,
 * -EBADMSG for a corrupt table (a partition past the end of the image or outside
 * its extended partition, overlapping logical partitions or a logical one over an
 * EBR, an EBR chain that loops or is longer than PARTITION_MAX, a bad GPT header
 * or CRC), -E2BIG for a GPT with more than PARTITION_MAX used entries, -ENOMEM, or
 * what `read` returned. */
int partition_table_read(partition_read_fn read, void *context, uint64_t image_size,
			 uint32_t sector_size, struct partition_table *table);

/* The table of the `image_size` bytes at `offset` of fd, with the numbering and
 * the results of partition_table_read().  libblkid finds the table; an MBR and its
 * EBR chain are then judged and listed by partition_table_read() (same numbers,
 * same -EBADMSG for a corrupt one), and libblkid adds the partitions of tables
 * nested in its slices (a BSD disklabel's: `nested`, numbered after the logical
 * partitions, as the kernel and partx number them).  Every other table is
 * libblkid's: a GPT with a bad primary header or array but a good backup is read
 * from the backup (-EBADMSG only when both are bad); the tables libblkid knows
 * beyond MBR and GPT are kind OTHER.  A GPT entry libblkid skips as outside the
 * usable area is no partition (our parser refuses the table).  Returns as
 * partition_table_read() does, -EIO when fd cannot be probed. */
int partition_table_read_fd(int fd, uint64_t offset, uint64_t image_size, uint32_t sector_size,
			    struct partition_table *table);

/* Find partition `number` (1-based); -ENOENT when it does not exist. */
int partition_find(const struct partition_table *table, uint32_t number, struct partition *out);

/* The partition with the lowest number (what ImDisk's automatic offset and devio's
 * default serve); -ENOENT when the table has none. */
int partition_first(const struct partition_table *table, struct partition *out);

#endif
