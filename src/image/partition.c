/* Our own MBR and GPT parser: see partition.h.  It stays beside libblkid
 * (partition-blkid.c) for two things libblkid cannot do: read a disk that exists
 * only behind a read function (no descriptor to give libblkid), and refuse a
 * corrupt MBR or EBR chain and number MBR entries as ImDisk and fdisk do, where
 * libblkid serves what it can and lists empty entries that have a size.  Every
 * field read from the image is checked before it is used as a size, an offset or
 * a count. */
#include "image/partition.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32.h"
#include "common/endian.h"

#define MBR_SIZE 512
#define MBR_TABLE_OFFSET 446
#define MBR_ENTRY_SIZE 16
#define MBR_ENTRIES 4
#define MBR_SIGNATURE_OFFSET 510
/* Linux numbers logical partitions from 5 on, after the four primary slots. */
#define MBR_FIRST_LOGICAL (MBR_ENTRIES + 1)

#define MBR_TYPE_EMPTY 0x00
#define MBR_TYPE_GPT_PROTECTIVE 0xEE

#define GPT_SIGNATURE "EFI PART"
#define GPT_HEADER_MIN_SIZE 92
#define GPT_ENTRY_MIN_SIZE 128
/* Entry arrays are 16 KiB in practice; anything past 1 MiB is not a real table. */
#define GPT_ARRAY_MAX_BYTES (1u << 20)
#define SECTOR_SIZE_MAX 4096

struct mbr_entry {
	uint8_t boot_flag;
	uint8_t type;
	uint32_t start; /* LBA */
	uint32_t count; /* sectors */
};

/* What the parser carries around: the image and the table being filled. */
struct parser {
	partition_read_fn read;
	void *context;
	uint64_t image_size;
	uint64_t image_sectors; /* whole sectors in the image */
	uint32_t sector_size;
	uint32_t next_logical; /* the number the next logical partition takes */
	struct partition_table *table;
};

static void mbr_entry_get(const uint8_t *sector, unsigned index, struct mbr_entry *e)
{
	const uint8_t *raw = sector + MBR_TABLE_OFFSET + MBR_ENTRY_SIZE * index;

	e->boot_flag = raw[0];
	e->type = raw[4];
	e->start = get_le32(raw + 8);
	e->count = get_le32(raw + 12);
}

static int mbr_has_signature(const uint8_t *sector)
{
	return sector[MBR_SIGNATURE_OFFSET] == 0x55 && sector[MBR_SIGNATURE_OFFSET + 1] == 0xAA;
}

static int mbr_type_is_extended(uint8_t type)
{
	return type == 0x05 || type == 0x0F || type == 0x85;
}

/* ImDisk's test for an MBR: the signature, and boot flags that are 0x00 or 0x80
 * (or any value with the low 7 bits clear).  Boot code or a FAT boot sector's
 * message text in the table area almost always fails the second test. */
static int mbr_is_valid(const uint8_t *sector)
{
	struct mbr_entry e;

	if (!mbr_has_signature(sector))
		return 0;
	for (unsigned i = 0; i < MBR_ENTRIES; i++) {
		mbr_entry_get(sector, i, &e);
		if (e.boot_flag & 0x7F)
			return 0;
	}
	return 1;
}

/* Sectors [lba, lba + count) as bytes, or -EBADMSG when the range is empty or not
 * wholly inside the image. */
static int sectors_to_bytes(const struct parser *p, uint64_t lba, uint64_t count,
			    uint64_t *offset, uint64_t *size)
{
	if (count == 0 || lba > p->image_sectors || count > p->image_sectors - lba)
		return -EBADMSG;
	*offset = lba * p->sector_size;
	*size = count * p->sector_size;
	return 0;
}

/* Append partition `number`; -E2BIG when the table is full.  Callers add in
 * increasing number order, so the table stays sorted by number. */
static int add_partition(struct parser *p, uint32_t number, uint64_t offset, uint64_t size,
			 uint32_t type, int logical)
{
	struct partition_table *t = p->table;
	struct partition *part;

	if (t->count >= PARTITION_MAX)
		return -E2BIG;
	part = &t->entries[t->count];
	part->number = number;
	part->offset = offset;
	part->size = size;
	part->type = type;
	part->logical = logical;
	t->count++;
	return 0;
}

static int ranges_overlap(uint64_t a_start, uint64_t a_size, uint64_t b_start, uint64_t b_size)
{
	return a_start < b_start + b_size && b_start < a_start + a_size;
}

/* Walk the EBR chain of the extended partition at sectors [ext_lba, ext_lba +
 * ext_count), appending its logical partitions numbered from p->next_logical on
 * in chain order (an EBR whose first entry is empty takes no number).  In each
 * EBR the first entry is the logical partition, relative to that EBR; the second
 * links to the next EBR, relative to the first EBR (ext_lba).  The chain must stay
 * inside the extended partition, visit no EBR twice and hold at most PARTITION_MAX
 * EBRs; logical partitions must neither overlap each other nor cover any EBR of
 * the chain. */
static int mbr_read_logicals(struct parser *p, uint64_t ext_lba, uint64_t ext_count)
{
	uint64_t ebr_lbas[PARTITION_MAX];
	uint32_t first_logical = p->table->count;
	uint64_t ext_end = ext_lba + ext_count;
	uint64_t ebr_lba = ext_lba;
	unsigned ebr_count = 0;
	uint8_t ebr[MBR_SIZE];
	int r;

	for (;;) {
		struct mbr_entry data, link;

		for (unsigned i = 0; i < ebr_count; i++)
			if (ebr_lbas[i] == ebr_lba)
				return -EBADMSG; /* the chain loops */
		if (ebr_count == PARTITION_MAX)
			return -EBADMSG;
		ebr_lbas[ebr_count++] = ebr_lba;

		/* ebr_lba < ext_end <= image_sectors, and sectors are >= 512 bytes. */
		r = p->read(p->context, ebr, sizeof(ebr), ebr_lba * p->sector_size);
		if (r < 0)
			return r;
		if (!mbr_has_signature(ebr)) {
			/* A fresh extended partition has a blank first EBR: no logicals.
			 * A blank EBR that a link points at is corruption. */
			if (ebr_count == 1)
				break;
			return -EBADMSG;
		}

		mbr_entry_get(ebr, 0, &data);
		if (mbr_type_is_extended(data.type))
			return -EBADMSG;
		if (data.type != MBR_TYPE_EMPTY) {
			uint64_t start = ebr_lba + data.start, offset, size;

			/* start 0 would put the partition over its own EBR. */
			if (data.start == 0 || start >= ext_end || data.count > ext_end - start)
				return -EBADMSG;
			r = sectors_to_bytes(p, start, data.count, &offset, &size);
			if (r < 0)
				return r;
			r = add_partition(p, p->next_logical++, offset, size, data.type, 1);
			if (r < 0)
				return r == -E2BIG ? -EBADMSG : r;
		}

		mbr_entry_get(ebr, 1, &link);
		if (link.type == MBR_TYPE_EMPTY)
			break;
		if (!mbr_type_is_extended(link.type) || link.start == 0 || link.start >= ext_count)
			return -EBADMSG;
		ebr_lba = ext_lba + link.start;
	}

	for (uint32_t i = first_logical; i < p->table->count; i++) {
		const struct partition *a = &p->table->entries[i];

		for (uint32_t j = i + 1; j < p->table->count; j++) {
			const struct partition *b = &p->table->entries[j];
			if (ranges_overlap(a->offset, a->size, b->offset, b->size))
				return -EBADMSG;
		}
		for (unsigned k = 0; k < ebr_count; k++)
			if (ranges_overlap(a->offset, a->size, ebr_lbas[k] * p->sector_size, p->sector_size))
				return -EBADMSG;
	}
	return 0;
}

/* Linux's numbering, the one fdisk and sfdisk show: a primary is numbered by its
 * slot (1-4, an empty slot keeping its number unused), the extended entry takes
 * no number, and the logicals follow from 5 on in chain order (through each
 * extended entry in slot order, should there be more than one).  All four slots
 * are checked before any EBR is read. */
static int mbr_read(struct parser *p, const uint8_t *mbr)
{
	struct mbr_entry e[MBR_ENTRIES];
	int r;

	p->table->kind = PARTITION_TABLE_MBR;
	for (unsigned i = 0; i < MBR_ENTRIES; i++) {
		uint64_t offset, size;

		mbr_entry_get(mbr, i, &e[i]);
		if (e[i].type == MBR_TYPE_EMPTY)
			continue;
		r = sectors_to_bytes(p, e[i].start, e[i].count, &offset, &size);
		if (r < 0)
			return r;
		if (mbr_type_is_extended(e[i].type)) {
			if (e[i].start == 0)
				return -EBADMSG; /* its first EBR would be the MBR */
			continue;
		}
		r = add_partition(p, i + 1, offset, size, e[i].type, 0);
		if (r < 0)
			return r;
	}

	p->next_logical = MBR_FIRST_LOGICAL;
	for (unsigned i = 0; i < MBR_ENTRIES; i++) {
		if (!mbr_type_is_extended(e[i].type))
			continue;
		r = mbr_read_logicals(p, e[i].start, e[i].count);
		if (r < 0)
			return r == -E2BIG ? -EBADMSG : r;
	}
	return 0;
}

static int guid_is_zero(const uint8_t *guid)
{
	for (unsigned i = 0; i < 16; i++)
		if (guid[i])
			return 0;
	return 1;
}

/* A used GPT entry (a non-zero type GUID) is numbered by its slot, index + 1, as
 * Linux numbers gptN and fdisk shows a table with holes: an empty slot keeps its
 * number unused. */
static int gpt_read_entries(struct parser *p, const uint8_t *array, uint32_t count,
			    uint32_t entry_size, uint64_t first_usable, uint64_t last_usable)
{
	int r;

	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *entry = array + (size_t)i * entry_size;
		uint64_t first = get_le64(entry + 32), last = get_le64(entry + 40);
		uint64_t offset, size;

		if (guid_is_zero(entry))
			continue;
		if (first > last || first < first_usable || last > last_usable)
			return -EBADMSG;
		if (last - first == UINT64_MAX)
			return -EBADMSG;
		r = sectors_to_bytes(p, first, last - first + 1, &offset, &size);
		if (r < 0)
			return r;
		r = add_partition(p, i + 1, offset, size, 0, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The primary GPT header at LBA 1 and its entry array. */
static int gpt_read(struct parser *p)
{
	uint32_t ss = p->sector_size;
	uint8_t header[SECTOR_SIZE_MAX];
	uint32_t header_size, stored_crc, count, entry_size, array_crc;
	uint64_t first_usable, last_usable, array_lba, array_bytes;
	uint8_t *array;
	int r;

	p->table->kind = PARTITION_TABLE_GPT;
	if (p->image_sectors < 2)
		return -EBADMSG;
	r = p->read(p->context, header, ss, ss);
	if (r < 0)
		return r;
	if (memcmp(header, GPT_SIGNATURE, 8) != 0)
		return -EBADMSG;
	header_size = get_le32(header + 12);
	if (header_size < GPT_HEADER_MIN_SIZE || header_size > ss)
		return -EBADMSG;
	/* The header CRC covers header_size bytes with the CRC field itself zero. */
	stored_crc = get_le32(header + 16);
	put_le32(header + 16, 0);
	if (crc32_update(0, header, header_size) != stored_crc)
		return -EBADMSG;
	if (get_le64(header + 24) != 1)
		return -EBADMSG; /* "my LBA" of a primary header */

	first_usable = get_le64(header + 40);
	last_usable = get_le64(header + 48);
	array_lba = get_le64(header + 72);
	count = get_le32(header + 80);
	entry_size = get_le32(header + 84);
	array_crc = get_le32(header + 88);
	if (first_usable > last_usable)
		return -EBADMSG;
	/* 128 << n bytes per entry, by the specification. */
	if (entry_size < GPT_ENTRY_MIN_SIZE || (entry_size & (entry_size - 1)))
		return -EBADMSG;
	array_bytes = (uint64_t)count * entry_size;
	if (array_bytes > GPT_ARRAY_MAX_BYTES)
		return -EBADMSG;
	if (array_bytes == 0)
		return 0;
	/* The array lies after the header and inside the image. */
	if (array_lba < 2 || array_lba >= p->image_sectors ||
	    array_bytes > (p->image_sectors - array_lba) * ss)
		return -EBADMSG;

	array = malloc((size_t)array_bytes);
	if (!array)
		return -ENOMEM;
	r = p->read(p->context, array, (size_t)array_bytes, array_lba * ss);
	if (r == 0 && crc32_update(0, array, (size_t)array_bytes) != array_crc)
		r = -EBADMSG;
	if (r == 0)
		r = gpt_read_entries(p, array, count, entry_size, first_usable, last_usable);
	free(array);
	return r;
}

int partition_table_read(partition_read_fn read, void *context, uint64_t image_size,
			 uint32_t sector_size, struct partition_table *table)
{
	struct parser p = {
		.read = read,
		.context = context,
		.image_size = image_size,
		.sector_size = sector_size,
		.table = table,
	};
	uint8_t mbr[MBR_SIZE];
	int protective = 0, used = 0;
	int r;

	memset(table, 0, sizeof(*table));
	table->kind = PARTITION_TABLE_NONE;
	if (sector_size != 512 && sector_size != 1024 && sector_size != 2048 && sector_size != 4096)
		return -EINVAL;
	p.image_sectors = image_size / sector_size;
	if (image_size < MBR_SIZE)
		return 0;
	r = read(context, mbr, sizeof(mbr), 0);
	if (r < 0)
		return r;
	if (!mbr_is_valid(mbr))
		return 0;
	for (unsigned i = 0; i < MBR_ENTRIES; i++) {
		struct mbr_entry e;

		mbr_entry_get(mbr, i, &e);
		if (e.type != MBR_TYPE_EMPTY)
			used++;
		if (e.type == MBR_TYPE_GPT_PROTECTIVE)
			protective = 1;
	}
	if (!used)
		return 0;
	r = protective ? gpt_read(&p) : mbr_read(&p, mbr);
	if (r < 0) {
		/* Leave no half-read table behind. */
		memset(table, 0, sizeof(*table));
		table->kind = PARTITION_TABLE_NONE;
	}
	return r;
}

int partition_find(const struct partition_table *table, uint32_t number, struct partition *out)
{
	for (uint32_t i = 0; i < table->count && i < PARTITION_MAX; i++) {
		if (table->entries[i].number == number) {
			*out = table->entries[i];
			return 0;
		}
	}
	return -ENOENT;
}

int partition_first(const struct partition_table *table, struct partition *out)
{
	if (table->count == 0)
		return -ENOENT;
	*out = table->entries[0]; /* kept sorted by number */
	return 0;
}
