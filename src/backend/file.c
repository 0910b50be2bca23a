/* An image file or a block device, read and written in place with pread/pwrite
 * (positional, so any number of threads may share the descriptor). */
#include "backend/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fdio.h"

struct file_disk {
	struct vdisk disk;
	int fd;
	bool is_block;
	unsigned int sector_size; /* block devices: discard/zero-out granularity */
	/* Cleared the first time the file system says it cannot, so that later
	 * requests go straight to the fallback. */
	atomic_bool can_punch;
	atomic_bool can_zero_range;
	atomic_bool can_ioctl_zero;
};

static const uint8_t zero_page[65536];

static struct file_disk *to_file(struct vdisk *disk)
{
	return (struct file_disk *)disk;
}

static bool not_supported(int err)
{
	return err == EOPNOTSUPP || err == ENOTTY || err == ENOSYS;
}

static int file_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	/* Someone may shorten the file under us: a sparse file would read zeroes there too. */
	return pread_zero_filled(to_file(disk)->fd, buf, len, (off_t)offset);
}

static int file_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	return pwrite_full(to_file(disk)->fd, buf, len, (off_t)offset);
}

static int file_flush(struct vdisk *disk)
{
	if (fdatasync(to_file(disk)->fd) < 0)
		return -errno;
	return 0;
}

static int write_zeroes(struct file_disk *file, uint64_t offset, uint64_t len)
{
	while (len) {
		size_t chunk = len < sizeof(zero_page) ? (size_t)len : sizeof(zero_page);
		int r = pwrite_full(file->fd, zero_page, chunk, (off_t)offset);
		if (r < 0)
			return r;
		offset += chunk;
		len -= chunk;
	}
	return 0;
}

static int punch_hole(struct file_disk *file, uint64_t offset, uint64_t len)
{
	if (!atomic_load(&file->can_punch))
		return -EOPNOTSUPP;
	if (fallocate(file->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len) == 0)
		return 0;
	if (!not_supported(errno))
		return -errno;
	atomic_store(&file->can_punch, false);
	return -EOPNOTSUPP;
}

/* A device takes whole sectors only: the sectors inside [offset, offset+len),
 * returned as *first and *count bytes (count 0 when none is whole). */
static void whole_sectors(const struct file_disk *file, uint64_t offset, uint64_t len,
			  uint64_t *first, uint64_t *count)
{
	uint64_t s = file->sector_size;
	uint64_t start = (offset + s - 1) / s * s;
	uint64_t end = (offset + len) / s * s;

	*first = start;
	*count = end > start ? end - start : 0;
}

static int file_trim(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	struct file_disk *file = to_file(disk);

	if (file->is_block) {
		uint64_t range[2];

		whole_sectors(file, offset, len, &range[0], &range[1]);
		if (range[1] == 0 || !atomic_load(&file->can_punch))
			return 0;
		if (ioctl(file->fd, BLKDISCARD, range) == 0)
			return 0;
		if (!not_supported(errno))
			return -errno;
		atomic_store(&file->can_punch, false);
		return 0;
	}
	/* -EOPNOTSUPP on a file system without holes: trim is advice (vdisk_trim
	 * takes it as done), and vdisk_punch then zeroes instead. */
	return punch_hole(file, offset, len);
}

static int block_zero(struct file_disk *file, uint64_t offset, uint64_t len)
{
	uint64_t range[2];
	int r;

	whole_sectors(file, offset, len, &range[0], &range[1]);
	if (range[1] == 0 || !atomic_load(&file->can_ioctl_zero))
		return write_zeroes(file, offset, len);
	if (ioctl(file->fd, BLKZEROOUT, range) < 0) {
		if (!not_supported(errno))
			return -errno;
		atomic_store(&file->can_ioctl_zero, false);
		return write_zeroes(file, offset, len);
	}
	/* The partial sectors at both ends. */
	r = write_zeroes(file, offset, range[0] - offset);
	if (r < 0)
		return r;
	return write_zeroes(file, range[0] + range[1], offset + len - range[0] - range[1]);
}

static int file_zero(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	struct file_disk *file = to_file(disk);
	int r;

	if (file->is_block)
		return block_zero(file, offset, len);
	if (atomic_load(&file->can_zero_range)) {
		if (fallocate(file->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len) == 0)
			return 0;
		if (!not_supported(errno))
			return -errno;
		atomic_store(&file->can_zero_range, false);
	}
	/* A hole reads as zeroes too (tmpfs, for one, has holes but no ZERO_RANGE). */
	r = punch_hole(file, offset, len);
	if (r != -EOPNOTSUPP)
		return r;
	return write_zeroes(file, offset, len);
}

static int file_resize(struct vdisk *disk, uint64_t new_size)
{
	struct file_disk *file = to_file(disk);

	if (file->is_block)
		return -EOPNOTSUPP;
	if (new_size > INT64_MAX)
		return -EINVAL;
	if (ftruncate(file->fd, (off_t)new_size) < 0)
		return -errno;
	disk->size = new_size;
	return 0;
}

static void file_close(struct vdisk *disk)
{
	struct file_disk *file = to_file(disk);

	close(file->fd);
	free(file);
}

static const struct vdisk_ops file_ops = {
	.name = "file",
	.read = file_read,
	.write = file_write,
	.flush = file_flush,
	.trim = file_trim,
	.zero = file_zero,
	.resize = file_resize,
	.close = file_close,
};

int backend_file_open(int fd, bool read_only, struct vdisk **out)
{
	struct file_disk *file;
	struct stat st;
	int mode;

	mode = fcntl(fd, F_GETFL);
	if (mode < 0 || fstat(fd, &st) < 0)
		return -errno;
	if ((mode & O_ACCMODE) == O_WRONLY)
		return -EBADF; /* every disk must be readable */
	if ((mode & O_ACCMODE) == O_RDONLY)
		read_only = true;
	file = calloc(1, sizeof(*file));
	if (!file)
		return -ENOMEM;
	file->fd = fd;
	file->sector_size = 512;
	if (S_ISREG(st.st_mode)) {
		file->disk.size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;
		int sector;

		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
			int r = -errno;
			free(file);
			return r;
		}
		if (ioctl(fd, BLKSSZGET, &sector) == 0 && sector > 0)
			file->sector_size = (unsigned int)sector;
		file->disk.size = bytes;
		file->is_block = true;
	} else {
		free(file);
		return -EINVAL; /* a pipe or a socket has no random access */
	}
	atomic_init(&file->can_punch, true);
	atomic_init(&file->can_zero_range, true);
	atomic_init(&file->can_ioctl_zero, true);
	file->disk.ops = &file_ops;
	file->disk.flags = VDISK_CAN_TRIM | VDISK_CAN_ZERO | VDISK_CAN_FLUSH;
	if (!file->is_block)
		file->disk.flags |= VDISK_TRIM_ZEROES; /* a punched hole reads as zeroes */
	if (read_only)
		file->disk.flags |= VDISK_READ_ONLY;
	*out = &file->disk;
	return 0;
}
