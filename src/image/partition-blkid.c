/* Partition tables read through util-linux's libblkid: see partition_table_read_fd()
 * in partition.h.  libblkid knows the tables the Linux world writes (GPT with its
 * backup header, BSD, Sun, SGI, Mac, Atari, ... and the tables nested in an MBR
 * slice) and numbers partitions as the kernel does.  An MBR and its EBR chain are
 * still judged and listed by our parser (partition.c): see
 * partition_table_read_fd() for why. */
#include "image/partition.h"

#include <blkid.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* libblkid counts starts and sizes in 512-byte sectors, whatever the disk's. */
#define BLKID_SECTOR 512
#define MBR_SIZE 512

static int ranges_overlap(uint64_t a_start, uint64_t a_size, uint64_t b_start, uint64_t b_size)
{
	return a_start < b_start + b_size && b_start < a_start + a_size;
}

/* Append libblkid's partitions to table (all of them, or only those of nested
 * tables), with the checks partition_table_read() makes while it parses: every
 * partition inside the image, every logical one inside an extended partition, no
 * two logical ones overlapping, numbers increasing.  Extended entries are not
 * partitions and are not copied. */
static int copy_partitions(blkid_partlist list, uint64_t image_size, int nested_only,
			   struct partition_table *table)
{
	int n = blkid_partlist_numof_partitions(list);
	blkid_parttable root = blkid_partlist_get_table(list);
	uint64_t ext_start[PARTITION_MAX], ext_size[PARTITION_MAX];
	unsigned extended = 0;

	if (n < 0)
		return -EBADMSG;
	for (int i = 0; i < n; i++) {
		blkid_partition par = blkid_partlist_get_partition(list, i);
		blkid_loff_t start = blkid_partition_get_start(par);
		blkid_loff_t count = blkid_partition_get_size(par);
		uint64_t offset, size;

		if (start < 0 || count <= 0 || (uint64_t)start > image_size / BLKID_SECTOR ||
		    (uint64_t)count > image_size / BLKID_SECTOR - (uint64_t)start)
			return -EBADMSG;
		offset = (uint64_t)start * BLKID_SECTOR;
		size = (uint64_t)count * BLKID_SECTOR;
		if (blkid_partition_is_extended(par)) {
			if (extended == PARTITION_MAX)
				return -EBADMSG;
			ext_start[extended] = offset;
			ext_size[extended++] = size;
		}
	}
	for (int i = 0; i < n; i++) {
		blkid_partition par = blkid_partlist_get_partition(list, i);
		uint64_t offset = (uint64_t)blkid_partition_get_start(par) * BLKID_SECTOR;
		uint64_t size = (uint64_t)blkid_partition_get_size(par) * BLKID_SECTOR;
		int partno = blkid_partition_get_partno(par);
		int nested = blkid_partition_get_table(par) != root;
		/* libblkid calls the partitions of a nested table logical too. */
		int logical = !nested && blkid_partition_is_logical(par);
		struct partition *part;
		int inside = 0;

		if (blkid_partition_is_extended(par) || (nested_only && !nested))
			continue;
		if (partno <= 0 || partno > PARTITION_NUMBER_MAX)
			return -EBADMSG;
		if (logical) {
			for (unsigned k = 0; k < extended; k++)
				if (offset >= ext_start[k] && size <= ext_start[k] + ext_size[k] - offset)
					inside = 1;
			if (!inside)
				return -EBADMSG;
			for (uint32_t j = 0; j < table->count; j++)
				if (table->entries[j].logical &&
				    ranges_overlap(offset, size, table->entries[j].offset,
						   table->entries[j].size))
					return -EBADMSG;
		}
		if (table->count && (uint32_t)partno <= table->entries[table->count - 1].number)
			return -EBADMSG; /* libblkid numbers nested ones after the rest */
		if (table->count == PARTITION_MAX)
			return table->kind == PARTITION_TABLE_GPT ? -E2BIG : -EBADMSG;
		part = &table->entries[table->count++];
		part->number = (uint32_t)partno;
		part->offset = offset;
		part->size = size;
		part->type = table->kind == PARTITION_TABLE_GPT ? 0 : (uint32_t)blkid_partition_get_type(par);
		part->logical = logical;
		part->nested = nested;
	}
	return 0;
}

static int table_kind(const char *name)
{
	if (!name)
		return PARTITION_TABLE_OTHER;
	if (!strcmp(name, "dos"))
		return PARTITION_TABLE_MBR;
	if (!strcmp(name, "gpt"))
		return PARTITION_TABLE_GPT;
	return PARTITION_TABLE_OTHER;
}

/* Our parser reads the MBR through this: the fd's window. */
struct fd_window {
	int fd;
	uint64_t offset;
};

static int read_window(void *context, void *buf, size_t len, uint64_t offset)
{
	const struct fd_window *w = context;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(w->fd, (uint8_t *)buf + done, len - done,
				  (off_t)(w->offset + offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int partition_table_read_fd(int fd, uint64_t offset, uint64_t image_size, uint32_t sector_size,
			    struct partition_table *table)
{
	struct fd_window window = {.fd = fd, .offset = offset};
	blkid_probe probe;
	blkid_partlist list;
	blkid_parttable root = NULL;
	int kind = PARTITION_TABLE_NONE;
	int r;

	memset(table, 0, sizeof(*table));
	table->kind = PARTITION_TABLE_NONE;
	if (sector_size != 512 && sector_size != 1024 && sector_size != 2048 && sector_size != 4096)
		return -EINVAL;
	if (image_size < MBR_SIZE)
		return 0;
	if (offset > INT64_MAX || image_size > INT64_MAX - offset)
		return -EINVAL;

	probe = blkid_new_probe();
	if (!probe)
		return -ENOMEM;
	if (blkid_probe_set_device(probe, fd, (blkid_loff_t)offset, (blkid_loff_t)image_size) < 0 ||
	    blkid_probe_set_sectorsize(probe, sector_size) < 0) {
		blkid_free_probe(probe);
		return -EIO;
	}
	blkid_probe_enable_superblocks(probe, 0);
	blkid_probe_enable_partitions(probe, 1);
	blkid_probe_set_partitions_flags(probe, BLKID_PARTS_ENTRY_DETAILS);
	/* NULL (or a list with no table) both when there is no table and when it
	 * cannot be read. */
	list = blkid_probe_get_partitions(probe);
	if (list)
		root = blkid_partlist_get_table(list);
	if (root)
		kind = table_kind(blkid_parttable_get_type(root));

	if (kind == PARTITION_TABLE_NONE || kind == PARTITION_TABLE_MBR) {
		/* Our parser judges and lists an MBR and its EBR chain, because libblkid
		 * reads them another way than ImDisk and fdisk do: it serves what it can
		 * of a corrupt table (it drops a table whose entries reach past the end
		 * of the image, skips logical partitions outside their extended
		 * partition, follows a looping EBR chain up to its loop limit) where a
		 * partition of a corrupt table must not be served; and, as the kernel,
		 * it lists an entry of type 0 that has a size, which is empty for fdisk
		 * and ImDisk and takes no number.  libblkid adds the partitions of the
		 * tables nested in MBR slices (BSD, Solaris, Minix, UnixWare), numbered
		 * after the logical ones.  Our parser also tells a GPT whose primary and
		 * backup headers are both bad (libblkid: no table) as corrupt. */
		r = partition_table_read(read_window, &window, image_size, sector_size, table);
		if (r < 0 || kind == PARTITION_TABLE_NONE || table->kind != PARTITION_TABLE_MBR) {
			blkid_free_probe(probe);
			return r;
		}
		r = copy_partitions(list, image_size, 1, table);
	} else {
		table->kind = kind;
		r = copy_partitions(list, image_size, 0, table);
	}
	blkid_free_probe(probe);
	if (r < 0) {
		/* Leave no half-read table behind. */
		memset(table, 0, sizeof(*table));
		table->kind = PARTITION_TABLE_NONE;
	}
	return r;
}
