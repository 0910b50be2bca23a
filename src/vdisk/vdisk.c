#include "vdisk/vdisk.h"

#include <errno.h>
#include <stdlib.h>

static int vdisk_check_range(const struct vdisk *disk, uint64_t offset, uint64_t len)
{
	if (offset > disk->size || len > disk->size - offset)
		return -EINVAL;
	return 0;
}

int vdisk_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	int r = vdisk_check_range(disk, offset, len);

	if (r < 0 || len == 0)
		return r;
	return disk->ops->read(disk, buf, len, offset);
}

int vdisk_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	int r = vdisk_check_range(disk, offset, len);

	if (r < 0 || len == 0)
		return r;
	if (disk->flags & VDISK_READ_ONLY)
		return -EROFS;
	return disk->ops->write(disk, buf, len, offset);
}

int vdisk_flush(struct vdisk *disk)
{
	/* A disk without VDISK_CAN_FLUSH keeps nothing that a flush would make
	 * durable: its op (if any) is not called. */
	if (!(disk->flags & VDISK_CAN_FLUSH) || !disk->ops->flush)
		return 0;
	return disk->ops->flush(disk);
}

int vdisk_try_trim(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	int r = vdisk_check_range(disk, offset, len);

	if (r < 0 || len == 0)
		return r;
	if (disk->flags & VDISK_READ_ONLY)
		return -EROFS;
	return disk->ops->trim ? disk->ops->trim(disk, offset, len) : -EOPNOTSUPP;
}

int vdisk_trim(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	int r = vdisk_try_trim(disk, offset, len);

	return r == -EOPNOTSUPP ? 0 : r;
}

int vdisk_zero(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	static const uint8_t zeroes[65536];
	int r = vdisk_check_range(disk, offset, len);

	if (r < 0 || len == 0)
		return r;
	if (disk->flags & VDISK_READ_ONLY)
		return -EROFS;
	if (disk->ops->zero) {
		r = disk->ops->zero(disk, offset, len);
		if (r != -EOPNOTSUPP)
			return r;
	}
	while (len) {
		size_t chunk = len < sizeof(zeroes) ? (size_t)len : sizeof(zeroes);
		r = disk->ops->write(disk, zeroes, chunk, offset);
		if (r < 0)
			return r;
		offset += chunk;
		len -= chunk;
	}
	return 0;
}

int vdisk_punch(struct vdisk *disk, uint64_t offset, uint64_t len)
{
	int r = vdisk_check_range(disk, offset, len);

	if (r < 0 || len == 0)
		return r;
	if (disk->flags & VDISK_READ_ONLY)
		return -EROFS;
	if ((disk->flags & VDISK_TRIM_ZEROES) && disk->ops->trim) {
		r = disk->ops->trim(disk, offset, len);
		if (r != -EOPNOTSUPP)
			return r;
	}
	return vdisk_zero(disk, offset, len);
}

const void *vdisk_view(struct vdisk *disk, size_t len, uint64_t offset)
{
	if (!disk->ops->view || len == 0 || vdisk_check_range(disk, offset, len) < 0)
		return NULL;
	return disk->ops->view(disk, len, offset);
}

void vdisk_view_end(struct vdisk *disk)
{
	disk->ops->view_end(disk);
}

int vdisk_read_async(struct vdisk *disk, size_t len, uint64_t offset, vdisk_read_done_fn done, void *opaque)
{
	if (!disk->ops->read_async)
		return -EOPNOTSUPP;
	if (len == 0 || vdisk_check_range(disk, offset, len) < 0)
		return -EINVAL;
	return disk->ops->read_async(disk, len, offset, done, opaque);
}

int vdisk_write_async(struct vdisk *disk, const void *buf, size_t len, uint64_t offset, vdisk_write_done_fn done,
		      void *opaque)
{
	if (!disk->ops->write_async)
		return -EOPNOTSUPP;
	if (len == 0 || vdisk_check_range(disk, offset, len) < 0)
		return -EINVAL;
	if (disk->flags & VDISK_READ_ONLY)
		return -EROFS;
	return disk->ops->write_async(disk, buf, len, offset, done, opaque);
}

int vdisk_resize(struct vdisk *disk, uint64_t new_size)
{
	if (!disk->ops->resize)
		return -EOPNOTSUPP;
	return disk->ops->resize(disk, new_size);
}

void vdisk_close(struct vdisk *disk)
{
	if (disk)
		disk->ops->close(disk);
}
