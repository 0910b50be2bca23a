/* A VHD image (Microsoft's "Virtual Hard Disk Image Format Specification"), the
 * format ImDisk's devio serves besides raw images.
 *
 * Every VHD ends with a 512-byte big-endian footer ("conectix", the disk type,
 * the virtual disk's size).  A fixed disk is its raw bytes followed by that
 * footer: served as a window (layer/window.c) of the file (backend/file.c).  A
 * dynamic disk keeps a copy of the footer at offset 0, a 1024-byte header
 * ("cxsparse") at the footer's data offset, and a block allocation table (BAT):
 * one big-endian sector number per block of the virtual disk, 0xFFFFFFFF for a
 * block never written.  Each allocated block is a sector bitmap (one bit per
 * sector, most significant bit first, padded to whole sectors) and then the
 * block's bytes.  Differencing disks (a parent's blocks under ours) are refused.
 *
 * Everything read from the file is outside input: cookies, checksums, sizes and
 * every table entry are checked before a byte is served.
 *
 * Reads take the BAT entry and read the block in place; the bitmap is not
 * consulted (as qemu does): the blocks this code allocates are zeroed, so their
 * never-written sectors read as zeroes either way.  Writes into an allocated
 * block go in place, then mark their sectors in the bitmap.  Allocation (one
 * mutex) appends the block where the footer was; see allocate_block for the
 * order that keeps a crash from leaving a BAT entry that points at garbage.
 * Reads and in-place writes run in parallel: the in-memory BAT entries are
 * atomics, positional I/O shares the descriptor. */
#include "backend/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/endian.h"
#include "common/fdio.h"
#include "layer/layer.h"

#define VHD_SECTOR 512u
#define VHD_FOOTER_SIZE 512u
#define VHD_HEADER_SIZE 1024u
#define VHD_UNALLOCATED 0xFFFFFFFFu

#define VHD_TYPE_FIXED 2u
#define VHD_TYPE_DYNAMIC 3u
#define VHD_TYPE_DIFFERENCING 4u

/* Footer fields (byte offsets). */
#define FOOTER_COOKIE 0
#define FOOTER_DATA_OFFSET 16
#define FOOTER_CURRENT_SIZE 48
#define FOOTER_DISK_TYPE 60
#define FOOTER_CHECKSUM 64
/* Dynamic header fields. */
#define HEADER_COOKIE 0
#define HEADER_TABLE_OFFSET 16
#define HEADER_MAX_ENTRIES 28
#define HEADER_BLOCK_SIZE 32
#define HEADER_CHECKSUM 36

/* Sanity bounds on what a header may ask for.  Real images use 512 KiB or 2 MiB
 * blocks; 2^24 entries (a 64 MiB table) covers the format's 2 TiB limit with
 * blocks down to 128 KiB, and bounds the memory an image can make us take. */
#define VHD_MIN_BLOCK_SIZE 512u
#define VHD_MAX_BLOCK_SIZE (256u << 20)
#define VHD_MAX_ENTRIES (1u << 24)

struct vhd_disk {
	struct vdisk disk;
	int fd;
	uint32_t block_size;
	uint32_t bitmap_size;    /* bytes before each block's data */
	uint32_t entries;        /* in the BAT */
	uint64_t bat_offset;
	_Atomic uint32_t *bat;   /* host order: VHD_UNALLOCATED or the block's first sector */
	_Atomic uint8_t *bitmap_full; /* 1: every sector bit of the block is known set */
	uint8_t footer[VHD_FOOTER_SIZE]; /* written again at the end after each allocation */
	/* Serializes allocation and bitmap updates; data_end (where the next block
	 * goes: the footer's place) is only used under it. */
	pthread_mutex_t lock;
	uint64_t data_end;
};

static const uint8_t zeroes[65536];

static struct vhd_disk *to_vhd(struct vdisk *disk)
{
	return (struct vhd_disk *)disk;
}

/* The one's complement of the byte sum, the checksum field itself left out. */
static uint32_t vhd_checksum(const uint8_t *p, size_t len, size_t checksum_at)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i++)
		if (i < checksum_at || i >= checksum_at + 4)
			sum += p[i];
	return ~sum;
}

static bool has_footer_cookie(const uint8_t *p)
{
	return memcmp(p + FOOTER_COOKIE, "conectix", 8) == 0;
}

static bool footer_checksum_ok(const uint8_t *p)
{
	return get_be32(p + FOOTER_CHECKSUM) == vhd_checksum(p, VHD_FOOTER_SIZE, FOOTER_CHECKSUM);
}

static uint64_t round_up_sector(uint64_t value)
{
	return (value + VHD_SECTOR - 1) / VHD_SECTOR * VHD_SECTOR;
}

static bool ranges_overlap(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len)
{
	return a < b + b_len && b < a + a_len;
}

/* Where block data starting with sector `entry` begins (past its bitmap). */
static uint64_t block_data(const struct vhd_disk *vhd, uint32_t entry)
{
	return (uint64_t)entry * VHD_SECTOR + vhd->bitmap_size;
}

static int write_zeroes(int fd, uint64_t offset, uint64_t len)
{
	while (len) {
		size_t chunk = len < sizeof(zeroes) ? (size_t)len : sizeof(zeroes);
		int r = pwrite_full(fd, zeroes, chunk, (off_t)offset);
		if (r < 0)
			return r;
		offset += chunk;
		len -= chunk;
	}
	return 0;
}

/* Calls piece() for each part of [offset, offset + len) that lies in one block:
 * the block's index, where the part starts in it, its length, and how many bytes
 * of the range came before it.  Stops at the first error. */
typedef int (*block_piece_fn)(struct vhd_disk *vhd, uint64_t index, uint32_t inside, size_t n, uint64_t done,
			      void *arg);

static int for_each_block(struct vhd_disk *vhd, uint64_t offset, uint64_t len, block_piece_fn piece, void *arg)
{
	for (uint64_t done = 0; done < len;) {
		uint64_t index = (offset + done) / vhd->block_size;
		uint32_t inside = (uint32_t)((offset + done) % vhd->block_size);
		size_t n = vhd->block_size - inside < len - done ? vhd->block_size - inside : (size_t)(len - done);
		int r = piece(vhd, index, inside, n, done, arg);

		if (r < 0)
			return r;
		done += n;
	}
	return 0;
}

static int read_piece(struct vhd_disk *vhd, uint64_t index, uint32_t inside, size_t n, uint64_t done, void *arg)
{
	uint8_t *out = (uint8_t *)arg + done;
	uint32_t entry = atomic_load_explicit(&vhd->bat[index], memory_order_acquire);

	if (entry == VHD_UNALLOCATED) {
		memset(out, 0, n);
		return 0;
	}
	/* Zero-filled past the end: someone may shorten the file under us. */
	return pread_zero_filled(vhd->fd, out, n, (off_t)(block_data(vhd, entry) + inside));
}

static int vhd_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	return for_each_block(to_vhd(disk), offset, len, read_piece, buf);
}

/* After data went to sectors [inside, inside + len) of an allocated block: set
 * their bits in the block's sector bitmap, which readers that follow the spec
 * (a dynamic disk reads zeroes where a bit is clear) consult.  The data is
 * written first, so a crash in between loses only the unacknowledged write. */
static int mark_written(struct vhd_disk *vhd, uint64_t index, uint32_t entry, uint32_t inside, size_t len)
{
	uint32_t sectors = vhd->block_size / VHD_SECTOR;
	uint32_t first = inside / VHD_SECTOR, last = (uint32_t)((inside + len - 1) / VHD_SECTOR);
	uint64_t where = (uint64_t)entry * VHD_SECTOR;
	bool changed = false, full = true;
	uint8_t *bitmap;
	int r;

	if (atomic_load_explicit(&vhd->bitmap_full[index], memory_order_acquire))
		return 0;
	bitmap = malloc(vhd->bitmap_size);
	if (!bitmap)
		return -ENOMEM;
	pthread_mutex_lock(&vhd->lock);
	r = pread_zero_filled(vhd->fd, bitmap, vhd->bitmap_size, (off_t)where);
	if (r < 0)
		goto out;
	for (uint32_t s = first; s <= last; s++) {
		uint8_t bit = (uint8_t)(0x80u >> (s % 8));
		if (!(bitmap[s / 8] & bit)) {
			bitmap[s / 8] |= bit;
			changed = true;
		}
	}
	if (changed) {
		r = pwrite_full(vhd->fd, bitmap, vhd->bitmap_size, (off_t)where);
		if (r < 0)
			goto out;
	}
	for (uint32_t s = 0; s < sectors && full; s++)
		full = bitmap[s / 8] & (0x80u >> (s % 8));
	if (full)
		atomic_store_explicit(&vhd->bitmap_full[index], 1, memory_order_release);
out:
	pthread_mutex_unlock(&vhd->lock);
	free(bitmap);
	return r;
}

/* Appends block `index` holding `len` bytes of buf at `inside`, with vhd->lock
 * held.  The order, so that a crash at any point leaves a valid image:
 *   1. the bitmap (all ones: the block is zeroed, so every sector of it is
 *      defined) where the footer was, then the data; what lies between them and
 *      the new end stays a hole, reading as zeroes (the few bytes of the old
 *      file that fall there are zeroed explicitly);
 *   2. the footer at the new end;
 *   3. fdatasync: the block is durable;
 *   4. only then the BAT entry (big-endian) that points at it.
 * Before 4 reaches the disk the table still says "unallocated": the image ends
 * with a block nothing points to, or, before 2, without a footer at its end;
 * the footer's copy at offset 0 (which never changes) still identifies it, and
 * qemu and ImDisk read that copy. */
static int allocate_block(struct vhd_disk *vhd, uint64_t index, uint32_t inside, const void *buf, size_t len)
{
	uint64_t start = vhd->data_end, data = start + vhd->bitmap_size;
	uint64_t end = data + vhd->block_size, old_eof;
	uint8_t *bitmap, entry_be[4];
	struct stat st;
	int r;

	if (start / VHD_SECTOR >= VHD_UNALLOCATED || end > (uint64_t)INT64_MAX - VHD_FOOTER_SIZE)
		return -EFBIG; /* the table counts sectors in 32 bits */
	if (fstat(vhd->fd, &st) < 0)
		return -errno;
	old_eof = (uint64_t)st.st_size;
	bitmap = malloc(vhd->bitmap_size);
	if (!bitmap)
		return -ENOMEM;
	memset(bitmap, 0xff, vhd->bitmap_size);
	r = pwrite_full(vhd->fd, bitmap, vhd->bitmap_size, (off_t)start);
	free(bitmap);
	if (r == 0 && old_eof > data)
		r = write_zeroes(vhd->fd, data, (old_eof < end ? old_eof : end) - data);
	if (r == 0)
		r = pwrite_full(vhd->fd, buf, len, (off_t)(data + inside));
	if (r == 0)
		r = pwrite_full(vhd->fd, vhd->footer, VHD_FOOTER_SIZE, (off_t)end);
	if (r == 0 && fdatasync(vhd->fd) < 0)
		r = -errno;
	if (r < 0) {
		/* Best effort: put the old end back as it was (the footer where the
		 * block was to start), so the image keeps its footer at the end. */
		if (old_eof == start + VHD_FOOTER_SIZE &&
		    pwrite_full(vhd->fd, vhd->footer, VHD_FOOTER_SIZE, (off_t)start) == 0 &&
		    ftruncate(vhd->fd, (off_t)old_eof) == 0)
			(void)fdatasync(vhd->fd);
		return r;
	}

	put_be32(entry_be, (uint32_t)(start / VHD_SECTOR));
	r = pwrite_full(vhd->fd, entry_be, sizeof(entry_be), (off_t)(vhd->bat_offset + 4 * index));
	/* Even when the entry may not be on disk, the space is never handed out
	 * again: two entries must never share a block. */
	vhd->data_end = end;
	if (r < 0)
		return r;
	atomic_store_explicit(&vhd->bitmap_full[index], 1, memory_order_release);
	atomic_store_explicit(&vhd->bat[index], (uint32_t)(start / VHD_SECTOR), memory_order_release);
	return 0;
}

/* Writes len bytes at `inside` of block `index` (len within the block). */
static int write_in_block(struct vhd_disk *vhd, uint64_t index, uint32_t inside, const void *buf, size_t len)
{
	uint32_t entry = atomic_load_explicit(&vhd->bat[index], memory_order_acquire);
	int r;

	if (entry == VHD_UNALLOCATED) {
		pthread_mutex_lock(&vhd->lock);
		/* Another writer may have allocated it while we waited. */
		entry = atomic_load_explicit(&vhd->bat[index], memory_order_acquire);
		if (entry == VHD_UNALLOCATED) {
			r = allocate_block(vhd, index, inside, buf, len);
			pthread_mutex_unlock(&vhd->lock);
			return r;
		}
		pthread_mutex_unlock(&vhd->lock);
	}
	r = pwrite_full(vhd->fd, buf, len, (off_t)(block_data(vhd, entry) + inside));
	if (r < 0)
		return r;
	return mark_written(vhd, index, entry, inside, len);
}

static int write_piece(struct vhd_disk *vhd, uint64_t index, uint32_t inside, size_t n, uint64_t done, void *arg)
{
	return write_in_block(vhd, index, inside, (const uint8_t *)arg + done, n);
}

static int vhd_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	return for_each_block(to_vhd(disk), offset, len, write_piece, (void *)buf);
}

/* Zeroes only the allocated blocks of the range: the others read as zeroes
 * already, and allocating them just to hold zeroes would grow the image. */
static int zero_piece(struct vhd_disk *vhd, uint64_t index, uint32_t inside, size_t n, uint64_t done, void *arg)
{
	(void)done;
	(void)arg;
	if (atomic_load_explicit(&vhd->bat[index], memory_order_acquire) == VHD_UNALLOCATED)
		return 0;
	for (size_t at = 0; at < n;) {
		size_t chunk = n - at < sizeof(zeroes) ? n - at : sizeof(zeroes);
		int r = write_in_block(vhd, index, (uint32_t)(inside + at), zeroes, chunk);

		if (r < 0)
			return r;
		at += chunk;
	}
	return 0;
}

static int vhd_zero(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	return for_each_block(to_vhd(disk), offset, len, zero_piece, NULL);
}

static int vhd_flush(struct vdisk *disk)
{
	if (fdatasync(to_vhd(disk)->fd) < 0)
		return -errno;
	return 0;
}

static void vhd_free(struct vhd_disk *vhd)
{
	pthread_mutex_destroy(&vhd->lock);
	free(vhd->bat);
	free((void *)vhd->bitmap_full);
	free(vhd);
}

static void vhd_close(struct vdisk *disk)
{
	struct vhd_disk *vhd = to_vhd(disk);

	close(vhd->fd);
	vhd_free(vhd);
}

/* No trim (vdisk_trim takes it as done) and no resize. */
static const struct vdisk_ops vhd_ops = {
	.name = "vhd",
	.read = vhd_read,
	.write = vhd_write,
	.flush = vhd_flush,
	.zero = vhd_zero,
	.close = vhd_close,
};

/* A fixed disk: the first current-size bytes of the file, the footer after them
 * out of reach. */
static int open_fixed(int fd, bool read_only, uint64_t file_size, const uint8_t *footer, struct vdisk **out)
{
	uint64_t size = get_be64(footer + FOOTER_CURRENT_SIZE);
	struct vdisk *file;
	int own, r;

	if (size > file_size - VHD_FOOTER_SIZE)
		return -ERANGE;
	/* The file disk gets its own descriptor, so that fd stays the caller's
	 * until everything succeeded. */
	own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (own < 0)
		return -errno;
	r = backend_file_open(own, read_only, &file);
	if (r < 0) {
		close(own);
		return r;
	}
	r = layer_window_open(file, 0, size, out);
	if (r < 0) {
		vdisk_close(file);
		return r;
	}
	close(fd);
	return 0;
}

static int compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* -EBADMSG when two allocated blocks share bytes: a write to one would change
 * the other. */
static int check_blocks_apart(const struct vhd_disk *vhd)
{
	uint32_t span = (vhd->bitmap_size + vhd->block_size) / VHD_SECTOR, count = 0;
	uint32_t *starts = malloc((vhd->entries ? vhd->entries : 1) * sizeof(*starts));
	int r = 0;

	if (!starts)
		return -ENOMEM;
	for (uint32_t i = 0; i < vhd->entries; i++) {
		uint32_t entry = atomic_load_explicit(&vhd->bat[i], memory_order_relaxed);
		if (entry != VHD_UNALLOCATED)
			starts[count++] = entry;
	}
	qsort(starts, count, sizeof(*starts), compare_u32);
	for (uint32_t i = 1; i < count && r == 0; i++)
		if ((uint64_t)starts[i] - starts[i - 1] < span)
			r = -EBADMSG;
	free(starts);
	return r;
}

/* The header's table: its place and size, checked against the file and the
 * other metadata, then loaded and every entry checked. */
static int load_bat(struct vhd_disk *vhd, uint64_t file_size, uint64_t header_offset)
{
	uint64_t bat_bytes = (uint64_t)vhd->entries * 4;
	uint8_t *raw;
	int r;

	if (vhd->bat_offset > file_size || bat_bytes > file_size - vhd->bat_offset)
		return -ERANGE;
	if (ranges_overlap(vhd->bat_offset, bat_bytes, 0, VHD_FOOTER_SIZE) ||
	    ranges_overlap(vhd->bat_offset, bat_bytes, header_offset, VHD_HEADER_SIZE))
		return -EBADMSG;
	vhd->bat = calloc(vhd->entries ? vhd->entries : 1, sizeof(*vhd->bat));
	vhd->bitmap_full = calloc(vhd->entries ? vhd->entries : 1, sizeof(*vhd->bitmap_full));
	raw = malloc(bat_bytes ? bat_bytes : 1);
	if (!vhd->bat || !vhd->bitmap_full || !raw) {
		free(raw);
		return -ENOMEM;
	}
	r = pread_full(vhd->fd, raw, bat_bytes, (off_t)vhd->bat_offset);
	if (r < 0) {
		free(raw);
		return r == -EPIPE ? -ERANGE : r;
	}

	/* The next block goes past all metadata and every block, and past the
	 * footer at the end of the file (which it replaces). */
	vhd->data_end = round_up_sector(header_offset + VHD_HEADER_SIZE);
	if (round_up_sector(vhd->bat_offset + bat_bytes) > vhd->data_end)
		vhd->data_end = round_up_sector(vhd->bat_offset + bat_bytes);
	if (file_size >= VHD_FOOTER_SIZE && round_up_sector(file_size - VHD_FOOTER_SIZE) > vhd->data_end)
		vhd->data_end = round_up_sector(file_size - VHD_FOOTER_SIZE);
	for (uint32_t i = 0; i < vhd->entries; i++) {
		uint32_t entry = get_be32(raw + 4 * (size_t)i);
		uint64_t start = (uint64_t)entry * VHD_SECTOR;
		uint64_t span = (uint64_t)vhd->bitmap_size + vhd->block_size;

		atomic_init(&vhd->bitmap_full[i], 0);
		atomic_init(&vhd->bat[i], entry);
		if (entry == VHD_UNALLOCATED)
			continue;
		if (start > file_size || span > file_size - start) {
			r = -ERANGE;
			break;
		}
		if (ranges_overlap(start, span, 0, VHD_FOOTER_SIZE) ||
		    ranges_overlap(start, span, header_offset, VHD_HEADER_SIZE) ||
		    ranges_overlap(start, span, vhd->bat_offset, bat_bytes)) {
			r = -EBADMSG;
			break;
		}
		if (start + span > vhd->data_end)
			vhd->data_end = start + span;
	}
	free(raw);
	return r < 0 ? r : check_blocks_apart(vhd);
}

static int open_dynamic(int fd, bool read_only, uint64_t file_size, const uint8_t *footer, struct vdisk **out)
{
	uint64_t header_offset = get_be64(footer + FOOTER_DATA_OFFSET);
	uint64_t size = get_be64(footer + FOOTER_CURRENT_SIZE);
	uint8_t header[VHD_HEADER_SIZE];
	struct vhd_disk *vhd;
	uint32_t block_size;
	int r;

	if (header_offset < VHD_FOOTER_SIZE || header_offset > file_size ||
	    file_size - header_offset < VHD_HEADER_SIZE)
		return -ERANGE;
	r = pread_full(fd, header, sizeof(header), (off_t)header_offset);
	if (r < 0)
		return r == -EPIPE ? -ERANGE : r;
	if (memcmp(header + HEADER_COOKIE, "cxsparse", 8) != 0 ||
	    get_be32(header + HEADER_CHECKSUM) != vhd_checksum(header, sizeof(header), HEADER_CHECKSUM))
		return -EBADMSG;
	block_size = get_be32(header + HEADER_BLOCK_SIZE);
	if (block_size < VHD_MIN_BLOCK_SIZE || block_size > VHD_MAX_BLOCK_SIZE ||
	    (block_size & (block_size - 1)))
		return -EBADMSG;
	if (get_be32(header + HEADER_MAX_ENTRIES) > VHD_MAX_ENTRIES)
		return -ERANGE;
	/* The table must cover the whole virtual disk (this also bounds its size). */
	if ((uint64_t)get_be32(header + HEADER_MAX_ENTRIES) * block_size < size)
		return -EBADMSG;

	vhd = calloc(1, sizeof(*vhd));
	if (!vhd)
		return -ENOMEM;
	vhd->fd = fd;
	vhd->block_size = block_size;
	/* One bit per sector, padded to whole sectors. */
	vhd->bitmap_size = (uint32_t)round_up_sector((block_size / VHD_SECTOR + 7) / 8);
	vhd->entries = get_be32(header + HEADER_MAX_ENTRIES);
	vhd->bat_offset = get_be64(header + HEADER_TABLE_OFFSET);
	memcpy(vhd->footer, footer, VHD_FOOTER_SIZE);
	pthread_mutex_init(&vhd->lock, NULL);
	r = load_bat(vhd, file_size, header_offset);
	if (r < 0) {
		vhd_free(vhd);
		return r;
	}
	vhd->disk.ops = &vhd_ops;
	vhd->disk.size = size;
	vhd->disk.flags = VDISK_CAN_FLUSH;
	if (read_only)
		vhd->disk.flags |= VDISK_READ_ONLY;
	*out = &vhd->disk;
	return 0;
}

/* The footer to trust: the copy at offset 0 of a dynamic or differencing disk,
 * else the one at the end (all a fixed disk has).  -EMEDIUMTYPE when neither is
 * there; -EBADMSG for a damaged one, or two that disagree. */
static int find_footer(int fd, uint64_t file_size, uint8_t head[VHD_FOOTER_SIZE],
		       uint8_t tail[VHD_FOOTER_SIZE], const uint8_t **footer)
{
	bool tail_ok;
	int r;

	if (file_size < VHD_FOOTER_SIZE)
		return -EMEDIUMTYPE;
	r = pread_full(fd, head, VHD_FOOTER_SIZE, 0);
	if (r == 0)
		r = pread_full(fd, tail, VHD_FOOTER_SIZE, (off_t)(file_size - VHD_FOOTER_SIZE));
	if (r < 0)
		return r == -EPIPE ? -EMEDIUMTYPE : r; /* shortened under us */
	tail_ok = has_footer_cookie(tail) && footer_checksum_ok(tail);
	*footer = NULL;
	if (has_footer_cookie(head)) {
		if (!footer_checksum_ok(head))
			return -EBADMSG;
		/* A fixed disk has no copy at 0: one there is its data. */
		if (get_be32(head + FOOTER_DISK_TYPE) != VHD_TYPE_FIXED)
			*footer = head;
	}
	if (!*footer) {
		if (tail_ok)
			*footer = tail;
		else
			return has_footer_cookie(head) || has_footer_cookie(tail) ? -EBADMSG : -EMEDIUMTYPE;
	}
	/* A footer at the end (absent after a crash in the middle of an allocation)
	 * must describe the same disk. */
	if (tail_ok && *footer == head &&
	    (get_be32(head + FOOTER_DISK_TYPE) != get_be32(tail + FOOTER_DISK_TYPE) ||
	     get_be64(head + FOOTER_CURRENT_SIZE) != get_be64(tail + FOOTER_CURRENT_SIZE) ||
	     get_be64(head + FOOTER_DATA_OFFSET) != get_be64(tail + FOOTER_DATA_OFFSET)))
		return -EBADMSG;
	return 0;
}

int backend_vhd_detect(int fd)
{
	uint8_t head[VHD_FOOTER_SIZE], tail[VHD_FOOTER_SIZE];
	const uint8_t *footer;
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	r = find_footer(fd, (uint64_t)st.st_size, head, tail, &footer);
	if (r == -EMEDIUMTYPE)
		return 0;
	/* A damaged VHD is still one: opening it says what is wrong. */
	return r == 0 || r == -EBADMSG ? 1 : r;
}

int backend_vhd_open(int fd, bool read_only, struct vdisk **out)
{
	uint8_t head[VHD_FOOTER_SIZE], tail[VHD_FOOTER_SIZE];
	const uint8_t *footer;
	uint64_t file_size;
	struct stat st;
	int mode, r;

	mode = fcntl(fd, F_GETFL);
	if (mode < 0 || fstat(fd, &st) < 0)
		return -errno;
	if ((mode & O_ACCMODE) == O_WRONLY)
		return -EBADF; /* every disk must be readable */
	if ((mode & O_ACCMODE) == O_RDONLY)
		read_only = true;
	if (!S_ISREG(st.st_mode))
		return -EINVAL; /* a dynamic disk grows at its end: a file's */
	file_size = (uint64_t)st.st_size;
	r = find_footer(fd, file_size, head, tail, &footer);
	if (r < 0)
		return r;
	switch (get_be32(footer + FOOTER_DISK_TYPE)) {
	case VHD_TYPE_FIXED:
		return open_fixed(fd, read_only, file_size, footer, out);
	case VHD_TYPE_DYNAMIC:
		return open_dynamic(fd, read_only, file_size, footer, out);
	case VHD_TYPE_DIFFERENCING:
		return -EOPNOTSUPP;
	default:
		return -EBADMSG;
	}
}
