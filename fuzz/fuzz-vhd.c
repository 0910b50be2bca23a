/* libFuzzer harness: the input is a whole VHD image file (put in a memfd).  The
 * VHD backend must refuse it or open it; an image it opens must then serve reads
 * anywhere in its size, take writes (into unallocated blocks too: the file then
 * grows, sparsely), read back what was written, and still open afterwards with
 * the same bytes.  Never a crash, a hang, or memory out of proportion to the
 * input (the table must lie inside the file; blocks grow the memfd as holes).
 *
 * A mutated image almost never keeps its checksums right, which would leave all
 * but the checksum tests unexplored; so each input is tried twice: as it is,
 * and with the checksums of both footer copies and of the dynamic header made
 * right first. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/endian.h"
#include "common/fdio.h"

#define IO_MAX 8192

static uint32_t checksum(const uint8_t *p, size_t len, size_t at)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i++)
		if (i < at || i >= at + 4)
			sum += p[i];
	return ~sum;
}

static void seal(uint8_t *image, size_t size)
{
	uint64_t header;

	if (size < 512)
		return;
	put_be32(image + 64, checksum(image, 512, 64));
	put_be32(image + size - 512 + 64, checksum(image + size - 512, 512, 64));
	header = get_be64(image + 16);
	if (header <= size && size - header >= 1024)
		put_be32(image + header + 36, checksum(image + header, 1024, 36));
}

static int image_fd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-vhd", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size && pwrite_full(fd, data, size, 0) < 0)
		abort();
	return fd;
}

/* Where the i-th test write of len bytes goes, one in each third of the disk
 * (so that none overlaps another): the start, the middle (off the sector
 * grid), the end. */
static uint64_t spot(const struct vdisk *disk, int i, size_t len)
{
	uint64_t third = disk->size / 3;

	return i == 0 ? 0 : i == 1 ? third + (third - len) / 2 : disk->size - len;
}

static void check_reads_back(struct vdisk *disk, const uint8_t *want, size_t len, uint64_t offset)
{
	static uint8_t got[IO_MAX];

	if (vdisk_read(disk, got, len, offset) != 0 || memcmp(got, want, len) != 0)
		abort();
}

static void exercise(const uint8_t *data, size_t size)
{
	static uint8_t buf[IO_MAX], pattern[3][IO_MAX];
	struct vdisk *disk;
	size_t len;
	int fd = image_fd(data, size), keep = dup(fd);

	if (keep < 0)
		abort();
	if (backend_vhd_open(fd, false, &disk) != 0) {
		close(fd);
		close(keep);
		return;
	}
	len = disk->size / 3 < IO_MAX ? (size_t)(disk->size / 3) : IO_MAX;
	if (len == 0) {
		vdisk_close(disk);
		close(keep);
		return;
	}
	/* Reads: the start, across the middle, the end. */
	if (vdisk_read(disk, buf, len, 0) != 0 || vdisk_read(disk, buf, len, disk->size - len) != 0 ||
	    vdisk_read(disk, buf, len, (disk->size - len) / 2) != 0)
		abort();
	/* Writes, each read back; a zeroed range in the middle one.  A write may fail
	 * only for want of room in the table's 32-bit sector numbers. */
	for (int i = 0; i < 3; i++) {
		for (size_t j = 0; j < len; j++)
			pattern[i][j] = (uint8_t)(i * 31 + j * 7 + 1);
		int r = vdisk_write(disk, pattern[i], len, spot(disk, i, len));
		if (r == -EFBIG)
			goto out;
		if (r != 0)
			abort();
	}
	if (len >= 3 && vdisk_zero(disk, spot(disk, 1, len) + 1, 1) != 0)
		abort();
	if (len >= 3)
		pattern[1][1] = 0;
	for (int i = 2; i >= 0; i--)
		check_reads_back(disk, pattern[i], len, spot(disk, i, len));
	if (vdisk_flush(disk) != 0)
		abort();
	vdisk_close(disk);
	disk = NULL;

	/* What was written is a VHD still, and holds the writes. */
	if (backend_vhd_open(keep, true, &disk) != 0)
		abort();
	keep = -1;
	for (int i = 2; i >= 0; i--)
		check_reads_back(disk, pattern[i], len, spot(disk, i, len));
out:
	vdisk_close(disk);
	if (keep >= 0)
		close(keep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *sealed;

	exercise(data, size);
	if (size < 512 || size > (16u << 20))
		return 0;
	sealed = malloc(size);
	if (!sealed)
		return 0;
	memcpy(sealed, data, size);
	seal(sealed, size);
	exercise(sealed, size);
	free(sealed);
	return 0;
}
