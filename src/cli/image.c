#include "cli/image.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/failure.h"
#include "common/fdio.h"
#include "common/log.h"
#include "common/size.h"
#include "image/partition.h"

#define NRG_OFFSET 307200 /* Nero images: the ISO 9660 data follows a 300 KiB header */
#define SDI_OFFSET 4096   /* System Deployment Images: a 4 KiB header */

static bool refused_for_writing(int e)
{
	return e == EACCES || e == EROFS || e == EPERM || e == ETXTBSY;
}

static void remember_path(struct image *img, const char *path)
{
	char *absolute = realpath(path, NULL);

	snprintf(img->path, sizeof(img->path), "%s", absolute ? absolute : path);
	free(absolute);
}

static int measure(struct image *img, const char *path)
{
	struct stat st;

	if (fstat(img->fd, &st) < 0)
		return fail(STEP_IMAGE, -errno, "cannot read image %s", path);
	if (S_ISDIR(st.st_mode))
		return fail(STEP_IMAGE, -EISDIR, "cannot use image %s", path);
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(img->fd, BLKGETSIZE64, &img->size) < 0)
			return fail(STEP_IMAGE, -errno, "cannot read the size of %s", path);
		img->block_device = true;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return fail_plain(STEP_IMAGE, -EINVAL,
				  "cannot use image %s: not a regular file or block device", path);
	img->size = (uint64_t)st.st_size;
	return 0;
}

int image_open(struct image *img, const char *path, bool read_only, bool may_fall_back)
{
	int flags = O_CLOEXEC | O_NOCTTY | (read_only ? O_RDONLY : O_RDWR);
	int err;

	img->fd = open(path, flags);
	if (img->fd < 0 && !read_only && may_fall_back && refused_for_writing(errno)) {
		int why = errno;

		img->fd = open(path, O_CLOEXEC | O_NOCTTY | O_RDONLY);
		if (img->fd >= 0) {
			log_info("note: %s is not writable (%s): attaching it read-only", path,
				 strerror(why));
			read_only = true;
		}
	}
	if (img->fd < 0)
		return fail(STEP_IMAGE, -errno, "cannot open image %s", path);
	img->read_only = read_only;
	img->created = false;
	if ((err = measure(img, path)) < 0) {
		image_close(img);
		return err;
	}
	remember_path(img, path);
	return 0;
}

int image_create(struct image *img, const char *path, uint64_t size, bool sparse)
{
	char human[32];
	int err = 0;

	if (size > INT64_MAX)
		return fail_plain(STEP_IMAGE, -EFBIG, "cannot create image %s: too large", path);
	img->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
	if (img->fd < 0)
		return fail(STEP_IMAGE, -errno, "cannot create image %s", path);
	img->created = true;
	img->read_only = false;
	img->block_device = false;
	img->size = 0;
	remember_path(img, path);

	if (!sparse && fallocate(img->fd, 0, 0, (off_t)size) < 0) {
		if (errno != EOPNOTSUPP) {
			err = -errno;
			size_format(size, human, sizeof(human));
			fail(STEP_IMAGE, err, "cannot allocate %s for image %s", human, path);
			image_discard(img);
			return err;
		}
		log_info("note: the file system of %s cannot allocate ahead: the image is sparse",
			 path);
		sparse = true;
	}
	if (sparse && ftruncate(img->fd, (off_t)size) < 0) {
		err = fail(STEP_IMAGE, -errno, "cannot size image %s", path);
		image_discard(img);
		return err;
	}
	img->size = size;
	return 0;
}

int image_extend(int fd, const char *path, uint64_t end, bool sparse, enum cli_step step)
{
	char human[32];
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return fail(step, -errno, "cannot read image %s", path);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size >= end)
		return 0;
	if (end > INT64_MAX)
		return fail_plain(step, -EFBIG, "cannot extend image %s: too large", path);
	r = sparse ? (ftruncate(fd, (off_t)end) < 0 ? errno : 0) : posix_fallocate(fd, 0, (off_t)end);
	if (r != 0) {
		/* A file system out of room may have allocated, and sized, part of it. */
		if (ftruncate(fd, st.st_size) < 0)
			log_warning("could not give %s its size back: %s", path, strerror(errno));
		size_format(end, human, sizeof(human));
		return fail(step, -r, "cannot extend image %s to %s", path, human);
	}
	return 0;
}

static int read_table(const struct image *img, uint64_t base, uint32_t sector_size,
		      struct partition_table *table)
{
	if (base >= img->size)
		return -ENXIO;
	/* An image always has a descriptor: libblkid reads its table. */
	return partition_table_read_fd(img->fd, base, img->size - base, sector_size, table);
}

static bool name_ends_with(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n >= s && strcasecmp(name + n - s, suffix) == 0;
}

int image_auto_offset(const struct image *img, uint64_t *offset, uint64_t *size)
{
	struct partition_table *table;
	struct partition first;

	*offset = 0;
	*size = 0;
	if (name_ends_with(img->path, ".nrg"))
		*offset = NRG_OFFSET;
	else if (name_ends_with(img->path, ".sdi"))
		*offset = SDI_OFFSET;

	table = malloc(sizeof(*table));
	if (!table)
		return fail(STEP_IMAGE, -ENOMEM, "cannot read image %s", img->path);
	/* No table, or one that does not parse: the offset alone is the answer. */
	if (read_table(img, *offset, 512, table) == 0 && table->kind != PARTITION_TABLE_NONE &&
	    partition_first(table, &first) == 0) {
		*offset += first.offset;
		*size = first.size;
	}
	free(table);
	return 0;
}

static void list_numbers(const struct partition_table *table, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < table->count && used + 12 < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%u", i ? ", " : "",
					 table->entries[i].number);
}

int image_partition(const struct image *img, uint64_t base, uint32_t sector_size,
		    uint32_t number, uint64_t *offset, uint64_t *size)
{
	struct partition_table *table;
	struct partition found;
	char numbers[128];
	int err;

	table = malloc(sizeof(*table));
	if (!table)
		return fail(STEP_IMAGE, -ENOMEM, "cannot read image %s", img->path);
	err = read_table(img, base, sector_size, table);
	if (err == -EBADMSG) {
		fail_plain(STEP_PARTITION, err, "partition %u not found: the partition table of %s "
				      "is corrupt", number, img->path);
		goto out;
	}
	if (err == -ENXIO) {
		fail_plain(STEP_PARTITION, -ENOENT,
			   "partition %u not found: %s has no data at offset %llu", number,
			   img->path, (unsigned long long)base);
		err = -ENOENT;
		goto out;
	}
	if (err < 0) {
		fail(STEP_IMAGE, err, "cannot read the partition table of %s", img->path);
		goto out;
	}
	if (table->kind == PARTITION_TABLE_NONE) {
		err = fail_plain(STEP_PARTITION, -ENOENT,
				 "partition %u not found: %s has no partition table", number,
				 img->path);
		goto out;
	}
	if (partition_find(table, number, &found) < 0) {
		list_numbers(table, numbers, sizeof(numbers));
		err = fail_plain(STEP_PARTITION, -ENOENT,
				 "partition %u not found in %s (it has %s%s)", number, img->path,
				 table->count ? "partitions " : "no partitions", numbers);
		goto out;
	}
	*offset = base + found.offset;
	*size = found.size;
out:
	free(table);
	return err;
}

void image_close(struct image *img)
{
	if (img->fd >= 0)
		close(img->fd);
	img->fd = -1;
}

void image_discard(struct image *img)
{
	image_close(img);
	if (img->created && unlink(img->path) < 0)
		log_warning("could not remove %s again: %s", img->path, strerror(errno));
	img->created = false;
}
