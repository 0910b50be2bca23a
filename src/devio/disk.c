/* What devio serves: an image file (raw, or the virtual disk of a VHD image), a
 * block device or a RAM disk, seen through a window (an offset, a size, or a
 * partition of the table found at the offset). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/log.h"
#include "common/size.h"
#include "devio/devio.h"
#include "image/partition.h"
#include "layer/layer.h"

#define MEMORY_PREFIX "memory:"

struct table_source {
	struct vdisk *disk;
	uint64_t base;
};

static int read_for_table(void *context, void *buf, size_t len, uint64_t offset)
{
	struct table_source *source = context;

	return vdisk_read(source->disk, buf, len, source->base + offset);
}

/* The table of the disk from `base` on: through libblkid when the disk is a file's
 * bytes (a raw image, a device, a fixed VHD), which has a descriptor; our parser
 * through vdisk_read() otherwise (a dynamic VHD's or a memory: disk's bytes exist
 * in no descriptor libblkid could read). */
static int read_table(const struct devio_disk_spec *spec, struct vdisk *disk,
		      struct partition_table *table)
{
	struct table_source source = {.disk = disk, .base = spec->offset};
	int fd, r;

	if (!strcmp(disk->ops->name, "file")) {
		fd = open(spec->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		r = partition_table_read_fd(fd, spec->offset, disk->size - spec->offset, 512, table);
		close(fd);
		return r;
	}
	return partition_table_read(read_for_table, &source, disk->size - spec->offset, 512, table);
}

static int open_memory(const char *text, struct vdisk **out)
{
	struct size_request request;
	uint64_t free_bytes = 0, size;
	int r = size_parse(text, &request);

	if (r == 0 && request.kind != SIZE_BYTES)
		r = size_free_memory(&free_bytes);
	if (r == 0)
		r = size_resolve(&request, free_bytes, &size);
	if (r < 0) {
		log_error("bad RAM disk size '%s'", text);
		return r;
	}
	r = backend_memory_open(size, out);
	if (r < 0)
		log_error("cannot make a RAM disk of %" PRIu64 " bytes: %s", size, strerror(-r));
	return r;
}

/* The message for backend_vhd_open's errors. */
static const char *vhd_error(int r)
{
	switch (r) {
	case -EBADMSG:
		return "a corrupt VHD image (bad cookie, checksum or header field); --raw serves "
		       "its bytes as they are";
	case -ERANGE:
		return "a corrupt VHD image (its table or a block lies outside the file); --raw "
		       "serves its bytes as they are";
	case -EOPNOTSUPP:
		return "a differencing VHD image: only dynamic and fixed ones are served";
	default:
		return strerror(-r);
	}
}

/* A VHD image (detected as ImDisk does, unless raw) is served as the virtual
 * disk it holds; any other file or device as its bytes. */
static int open_image(const struct devio_disk_spec *spec, struct vdisk **out)
{
	const char *path = spec->path;
	bool read_only = spec->read_only;
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	int r, is_vhd = 0;

	if (fd < 0) {
		r = -errno;
		if (!read_only && (r == -EROFS || r == -EACCES || r == -EPERM || r == -ETXTBSY))
			log_error("cannot open %s for writing: %s (-r serves it read-only)", path,
				  strerror(-r));
		else
			log_error("cannot open %s: %s", path, strerror(-r));
		return r;
	}
	if (!spec->raw) {
		is_vhd = backend_vhd_detect(fd);
		if (is_vhd < 0) {
			log_error("cannot read %s: %s", path, strerror(-is_vhd));
			close(fd);
			return is_vhd;
		}
	}
	if (is_vhd) {
		r = backend_vhd_open(fd, read_only, out);
		if (r < 0) {
			log_error("cannot serve %s: %s", path, vhd_error(r));
			close(fd);
			return r;
		}
		log_info("%s is a %s VHD image: serving its virtual disk of %" PRIu64 " bytes", path,
			 strcmp((*out)->ops->name, "vhd") ? "fixed" : "dynamic", (*out)->size);
		return 0;
	}
	r = backend_file_open(fd, read_only, out);
	if (r < 0) {
		log_error("cannot serve %s: %s", path, strerror(-r));
		close(fd);
	}
	return r;
}

/* Where the served disk lies in the image: 0 with *offset and *size, or an error
 * already logged. */
static int find_window(const struct devio_disk_spec *spec, struct vdisk *disk, uint64_t *offset,
		       uint64_t *size)
{
	struct partition_table *table;
	struct partition partition;
	uint32_t number;
	int r;

	if (spec->offset > disk->size) {
		log_error("offset %" PRIu64 " is past the end of %s (%" PRIu64 " bytes)",
			  spec->offset, spec->path, disk->size);
		return -EINVAL;
	}
	*offset = spec->offset;
	*size = disk->size - spec->offset;
	switch (spec->window) {
	case DEVIO_WINDOW_SIZE:
		if (spec->size > disk->size - spec->offset) {
			log_error("%" PRIu64 " bytes at offset %" PRIu64 " do not fit in %s (%" PRIu64
				  " bytes)", spec->size, spec->offset, spec->path, disk->size);
			return -EINVAL;
		}
		*size = spec->size;
		return 0;
	case DEVIO_WINDOW_PARTITION:
		if (spec->partition == 0)
			return 0;
		break;
	case DEVIO_WINDOW_AUTO:
		break;
	}

	number = spec->partition;
	table = malloc(sizeof(*table));
	if (!table)
		return -ENOMEM;
	r = read_table(spec, disk, table);
	if (r == 0)
		r = table->kind == PARTITION_TABLE_NONE	     ? -ENOMEDIUM
		    : spec->window == DEVIO_WINDOW_AUTO ? partition_first(table, &partition)
							: partition_find(table, number, &partition);
	free(table);
	if (spec->window == DEVIO_WINDOW_AUTO) {
		/* No table, or an empty one: the whole image, as the reference. */
		if (r == -EBADMSG)
			log_warning("%s: the partition table is corrupt; serving the whole image",
				    spec->path);
		else if (r < 0 && r != -ENOMEDIUM && r != -ENOENT)
			log_warning("%s: cannot read the partition table (%s); serving the whole image",
				    spec->path, strerror(-r));
		if (r == 0) {
			*offset += partition.offset;
			*size = partition.size;
			log_info("serving partition 1 of %s", spec->path);
		}
		return 0;
	}
	if (r == -ENOMEDIUM)
		log_error("%s has no partition table: partition %u does not exist", spec->path,
			  number);
	else if (r == -ENOENT)
		log_error("partition %u does not exist in %s", number, spec->path);
	else if (r == -EBADMSG)
		log_error("the partition table of %s is corrupt", spec->path);
	else if (r < 0)
		log_error("cannot read the partition table of %s: %s", spec->path, strerror(-r));
	if (r < 0)
		return r == -ENOMEDIUM ? -ENOENT : r;
	*offset += partition.offset;
	*size = partition.size;
	return 0;
}

int devio_disk_open(const struct devio_disk_spec *spec, struct vdisk **out)
{
	struct vdisk *disk, *layered;
	uint64_t offset, size;
	int r;

	if (!strncmp(spec->path, MEMORY_PREFIX, strlen(MEMORY_PREFIX)))
		r = open_memory(spec->path + strlen(MEMORY_PREFIX), &disk);
	else
		r = open_image(spec, &disk);
	if (r < 0)
		return r;
	if (spec->read_only && !(disk->flags & VDISK_READ_ONLY)) {
		r = layer_readonly_open(disk, &layered);
		if (r < 0)
			goto fail;
		disk = layered;
	}

	r = find_window(spec, disk, &offset, &size);
	if (r < 0)
		goto fail;
	if (offset != 0 || size != disk->size) {
		r = layer_window_open(disk, offset, size, &layered);
		if (r < 0) {
			log_error("cannot make a window on %s: %s", spec->path, strerror(-r));
			goto fail;
		}
		disk = layered;
	}
	if (disk->size <= 65536)
		log_warning("%s: %" PRIu64 " bytes served; ImDisk clients want more than 65536",
			    spec->path, disk->size);
	*out = disk;
	return 0;
fail:
	vdisk_close(disk);
	return r;
}
