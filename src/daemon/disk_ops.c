/* The control calls on disks: create, query, list, set flags, grow, remove.
 * A disk is made in one sequence: its backing (disk_backing.c), the vdisk stack
 * when it needs user-space work (disk_stack.c), its geometry, then the transport:
 * the kernel loop driver straight on the memfd or image, or on the disk's file in
 * imdiskd's FUSE mount (fuse_mount.c).  Calls go only downward from here. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/fdio.h"
#include "common/log.h"
#include "common/size.h"
#include "common/trace.h"
#include "daemon/daemon.h"
#include "image/geometry.h"

static int choose_geometry(struct imdisk_device *info, const uint8_t *boot_sector, char *why)
{
	struct geometry g;
	int r = geometry_choose(info->size, IMDISK_DEVICE_TYPE(info->flags), info->image[0] ? info->image : NULL,
				boot_sector, info->sector_size, info->sectors_per_track, info->tracks_per_cylinder, &g);

	if (r < 0)
		return disk_fail(why, r, "sector size %" PRIu32 " is not one of 512, 1024, 2048, 4096", info->sector_size);
	info->flags = (info->flags & ~IMDISK_DEVICE_TYPE_MASK) | g.device_type;
	if (g.device_type == IMDISK_DEVICE_TYPE_CD)
		info->flags |= IMDISK_OPTION_RO;
	/* A floppy is removable, as in ImDisk, unless the caller asked for fixed media
	 * (-o fix): the request bit is spent here, the disk keeps only its outcome. */
	if (g.device_type == IMDISK_DEVICE_TYPE_FD && !(info->flags & IMDISK_OPTION_FIXED_MEDIA))
		info->flags |= IMDISK_OPTION_REMOVABLE;
	info->flags &= ~IMDISK_OPTION_FIXED_MEDIA;
	info->sector_size = g.sector_size;
	info->sectors_per_track = g.sectors_per_track;
	info->tracks_per_cylinder = g.tracks_per_cylinder;
	info->cylinders = g.cylinders;
	if (info->size < info->sector_size)
		return disk_fail(why, -EINVAL, "a disk of %" PRIu64 " bytes is smaller than one %" PRIu32 "-byte sector",
			    info->size, info->sector_size);
	return 0;
}

static int attach_loop(struct daemon *daemon, struct disk *disk, char *why)
{
	struct imdisk_device *info = &disk->info;
	bool memory = disk->memory != NULL;
	struct loop_setup setup = {
		.backing_fd = memory ? backend_memory_fd(disk->memory) : disk->backing_fd,
		.offset = memory ? 0 : info->image_offset,
		.size_limit = info->size,
		.block_size = info->sector_size,
		.read_only = (info->flags & IMDISK_OPTION_RO) != 0,
		/* ImDisk's buffered I/O (-o buf) is the page cache; everything else on a file
		 * goes direct, as ImDisk's queued and parallel I/O bypass the cache too. */
		.direct_io = !memory && IMDISK_FILE_TYPE(info->flags) != IMDISK_FILE_TYPE_BUFFERED_IO,
	};
	struct loop_status status;
	uint64_t random_tag;
	int published_fd = -1;
	int r;

	if (disk->stack) {
		published_fd = fuse_mount_publish(daemon, disk, &setup, why);
		if (published_fd < 0)
			return published_fd;
	} else if (memory) {
		/* The memfd as memfd_create gives it refuses the loop driver's direct I/O;
		 * the same memory reopened through /proc takes it (tmpfs has O_DIRECT),
		 * which saves the page-cache copy of every request. */
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", setup.backing_fd);
		published_fd = open(path, O_RDWR | O_CLOEXEC);
		if (published_fd >= 0) {
			setup.backing_fd = published_fd;
			setup.direct_io = true;
		}
	}
	if (getrandom(&random_tag, sizeof(random_tag), 0) != sizeof(random_tag)) {
		r = disk_fail(why, -EIO, "no random numbers for the ownership tag");
		goto out;
	}
	snprintf(disk->tag, sizeof(disk->tag), "imdisk:%016" PRIx64, random_tag);
	memcpy(setup.tag, disk->tag, sizeof(setup.tag));
	r = loop_attach(&setup, &disk->loop_number);
	if (r < 0) {
		r = disk_fail(why, r == -ENXIO || r == -ENOENT ? -ENOSPC : r, "cannot attach a loop device: %s",
			 strerror(-r));
		goto out;
	}
	loop_device_path(disk->loop_number, info->device, sizeof(info->device));
	/* What a restart's re-adoption and a grow's image check compare against; a
	 * kernel that does not tell leaves them unset (and the asked size). */
	if ((r = loop_get_status(disk->loop_number, &status)) == 0) {
		disk->backing_device = status.backing_device;
		disk->backing_inode = status.backing_inode;
	} else {
		trace_dropped(TRACE_DISK, "loop_get_status", r);
	}
	if ((r = loop_get_size(disk->loop_number, &info->size)) < 0)
		trace_dropped(TRACE_DISK, "loop_get_size", r);
	if ((r = loop_sectors_written(disk->loop_number, &disk->written_baseline)) < 0)
		trace_dropped(TRACE_DISK, "loop_sectors_written", r);
	r = 0;
	info->transport = disk->stack ? IMDISK_TRANSPORT_FUSE : IMDISK_TRANSPORT_LOOP;
out:
	if (published_fd >= 0)
		close(published_fd);
	if (r < 0)
		fuse_mount_unpublish(daemon, disk);
	else
		trace(TRACE_DISK, "unit %" PRIu32 ": %s attached (%s)", info->unit, info->device,
		      disk->stack ? "FUSE" : memory ? "memfd" : "image");
	return r;
}

static void disk_free(struct disk *disk)
{
	if (disk->backing_fd >= 0)
		close(disk->backing_fd);
	/* The stack owns everything below it, the backend included. */
	vdisk_close(disk->stack ? disk->stack : disk->backend);
	free(disk->proxy_target); /* after the proxy backend that calls back with it */
	free(disk);
}

/* The device as a client sees it: flags include "modified" from the block
 * device's own write counter. */
static void disk_snapshot(const struct disk *disk, struct imdisk_device *out)
{
	uint64_t written;

	*out = disk->info;
	if (loop_sectors_written(disk->loop_number, &written) == 0 && written > disk->written_baseline)
		out->flags |= IMDISK_IMAGE_MODIFIED;
	/* Each says false for a disk of the other kind. */
	out->connected = disk->proxy ? backend_proxy_connected(disk->proxy) || backend_nbd_connected(disk->proxy) : 0;
}

/* The stack over the disk's backend; the first sector is then read through it
 * (the window and byte swapping apply to it as to every sector). */
static int build_stack(struct disk *disk, struct boot_sector *boot, char *why)
{
	const struct imdisk_device *info = &disk->info;
	/* A RAM disk's image offset was spent on the preload: its memory is all disk. */
	uint64_t offset = disk->memory ? 0 : info->image_offset;
	int r = disk_stack_build(disk->backend, offset, info->size, info->flags, &disk->stack);

	if (r < 0) {
		disk->backend = disk->memory = disk->proxy = NULL; /* closed by the failed build */
		return disk_fail(why, r, "cannot build the disk: %s", strerror(-r));
	}
	boot->present = disk->stack->size >= BOOT_SECTOR_SIZE &&
			vdisk_read(disk->stack, boot->bytes, BOOT_SECTOR_SIZE, 0) == 0;
	trace(TRACE_DISK, "unit %" PRIu32 ": stack built (offset %" PRIu64 ", size %" PRIu64 "%s%s)", info->unit,
	      offset, info->size, (info->flags & IMDISK_OPTION_BYTE_SWAP) ? ", byte swap" : "",
	      (info->flags & IMDISK_OPTION_RO) ? ", read-only" : "");
	return 0;
}

/* Who owns a descriptor a CREATE carries (the image, or a proxy's connection):
 * the control server owns it from its arrival until it calls disk_create, and
 * never touches it after.  disk_create owns it from entry and closes it exactly
 * once, at its single exit, unless a backing took it.  A helper that keeps it
 * (the image file and the stream proxy backings, disk_backing.c) takes it by
 * setting the caller's variable to -1; a helper that fails leaves it where it was.
 * The proxy backend's open follows the same rule: on failure the descriptor is
 * still ours; on success the backend closes it with the disk.  A descriptor a
 * kind of disk does not use (a shared-memory proxy's stray one) is just closed. */
int disk_create(struct daemon *daemon, struct imdisk_device *request, int image_fd,
		const struct caller_identity *caller, char *why)
{
	struct boot_sector boot = {.present = false};
	bool userspace = disk_needs_userspace(request);
	disk_backing_open_fn *open_backing;
	struct disk *disk;
	uint32_t type;
	int r = 0;

	request->image[sizeof(request->image) - 1] = 0;
	type = IMDISK_TYPE(request->flags);
	if (type == 0)
		type = image_fd >= 0 ? IMDISK_TYPE_FILE : IMDISK_TYPE_VM;
	if (request->size % 512)
		r = disk_fail(why, -EINVAL, "size %" PRIu64 " is not a multiple of 512 bytes", request->size);
	else if ((request->flags & IMDISK_OPTION_REMOVABLE) && (request->flags & IMDISK_OPTION_FIXED_MEDIA))
		r = disk_fail(why, -EINVAL, "a disk cannot be both removable and fixed");
	else if (request->transport == IMDISK_TRANSPORT_LOOP && userspace)
		r = disk_fail(why, -EINVAL, "this disk needs user-space work: --transport=loop cannot serve it");
	if (r < 0)
		goto close_descriptor;
	disk = calloc(1, sizeof(*disk));
	if (!disk) {
		r = disk_fail(why, -ENOMEM, "out of memory");
		goto close_descriptor;
	}
	disk->backing_fd = -1;
	disk->info = *request;
	disk->info.flags = (request->flags & ~IMDISK_TYPE_MASK) | type;
	disk->info.device[0] = 0;
	disk->owner_uid = caller->uid;
	disk->owner_gid = caller->gid;
	r = disk_table_reserve_within(&daemon->table, request->unit, disk,
				      caller->uid == 0 ? UINT32_MAX : daemon->max_disks_per_user);
	if (r < 0) {
		free(disk);
		if (r == -EDQUOT)
			disk_access_count_refusal(daemon, caller, why);
		else if (r == -EEXIST)
			disk_fail(why, r, "unit %" PRIu32 " is already in use", request->unit);
		else
			disk_fail(why, r, r == -EINVAL ? "unit %" PRIu32 " is out of range" : "no free unit (%" PRIu32 ")",
				  request->unit);
		goto close_descriptor;
	}
	/* From here the unit is reserved (DISK_CREATING, invisible to the others) and
	 * the table lock is not held: reading the image, preloading it into memory and
	 * the proxy's INFO exchange run outside it; the disk is published at the end. */
	open_backing = disk_backing_for(&disk->info);
	r = open_backing(daemon, disk, &image_fd, caller, &boot, why);
	if (r == 0 && userspace)
		r = build_stack(disk, &boot, why);
	if (r == 0)
		r = choose_geometry(&disk->info, boot.present ? boot.bytes : NULL, why);
	if (r == 0 && disk->memory && disk->info.size % disk->info.sector_size)
		r = disk_fail(why, -EINVAL, "size %" PRIu64 " is not a multiple of the %" PRIu32 "-byte sector",
			 disk->info.size, disk->info.sector_size);
	/* Read-only from the geometry (a CD): the layer goes on top now. */
	if (r == 0 && disk->stack && (disk->info.flags & IMDISK_OPTION_RO)) {
		r = disk_stack_make_read_only(&disk->stack);
		if (r < 0)
			disk_fail(why, r, "cannot build the disk: %s", strerror(-r));
	}
	if (r == 0)
		r = attach_loop(daemon, disk, why);
	if (r < 0) {
		trace(TRACE_DISK, "unit %" PRIu32 ": create failed (%d): %s", disk->info.unit, r, why);
		disk_table_release(&daemon->table, disk->info.unit);
		disk_free(disk);
		goto close_descriptor;
	}
	/* The disk works unsaved: it only will not be re-adopted after a restart. */
	r = state_save(daemon, disk);
	if (r < 0) {
		trace_dropped(TRACE_DISK, "state_save", r);
		log_warning("unit %" PRIu32 " not saved in %s: a restart will not re-adopt it",
			    disk->info.unit, daemon->state_dir);
	}
	r = 0;
	trace(TRACE_DISK, "unit %" PRIu32 ": created (%s, %" PRIu64 " bytes, owner %u)", disk->info.unit,
	      disk->info.device, disk->info.size, (unsigned)caller->uid);
	pthread_mutex_lock(&daemon->table.lock);
	disk->state = DISK_READY;
	disk_snapshot(disk, request);
	pthread_mutex_unlock(&daemon->table.lock);
	events_publish(daemon, IMDISK_EVENT_CREATE, request->unit);
close_descriptor:
	if (image_fd >= 0)
		close(image_fd); /* not taken by a backing: a RAM disk's preload, a stray one, a failure */
	return r;
}

int disk_query(struct daemon *daemon, uint32_t unit, struct imdisk_device *out, uid_t *owner_uid, gid_t *owner_gid,
	       char *why)
{
	struct disk *disk;
	int r = 0;

	pthread_mutex_lock(&daemon->table.lock);
	disk = disk_table_get(&daemon->table, unit);
	if (disk) {
		disk_snapshot(disk, out);
		*owner_uid = disk->owner_uid;
		*owner_gid = disk->owner_gid;
	} else
		r = disk_fail(why, -ENOENT, "no disk with unit number %" PRIu32, unit);
	pthread_mutex_unlock(&daemon->table.lock);
	return r;
}

int disk_list(struct daemon *daemon, uint32_t *units, uint32_t max, uint32_t *total)
{
	uint32_t count = 0;

	pthread_mutex_lock(&daemon->table.lock);
	for (uint32_t u = 0; u < DISK_TABLE_MAX_UNITS; u++) {
		if (!disk_table_get(&daemon->table, u))
			continue;
		if (count < max)
			units[count] = u;
		count++;
	}
	pthread_mutex_unlock(&daemon->table.lock);
	*total = count;
	return 0;
}

#define CHANGEABLE_FLAGS \
	(IMDISK_OPTION_RO | IMDISK_OPTION_REMOVABLE | IMDISK_OPTION_SPARSE_FILE | IMDISK_IMAGE_MODIFIED)

int disk_set_flags(struct daemon *daemon, uint32_t unit, uint32_t mask, uint32_t values, const struct caller_identity *caller,
		   uint32_t *not_changed, char *why)
{
	struct state_snapshot snapshot;
	struct loop_status status;
	struct disk *disk;
	uid_t owner;
	uint32_t refused = mask & ~CHANGEABLE_FLAGS;
	int r = 0;

	pthread_mutex_lock(&daemon->table.lock);
	disk = disk_table_get(&daemon->table, unit);
	if (!disk) {
		pthread_mutex_unlock(&daemon->table.lock);
		*not_changed = mask;
		return disk_fail(why, -ENOENT, "no disk with unit number %" PRIu32, unit);
	}
	r = disk_access_check_owner(disk, caller, &owner);
	if (r < 0) {
		pthread_mutex_unlock(&daemon->table.lock);
		*not_changed = mask;
		return disk_access_owner_refusal(unit, owner, why);
	}
	if (mask & IMDISK_OPTION_RO) {
		bool read_only = values & IMDISK_OPTION_RO;
		/* A CD, or a disk whose image was opened read-only, cannot become writable. */
		bool locked_read_only = IMDISK_DEVICE_TYPE(disk->info.flags) == IMDISK_DEVICE_TYPE_CD ||
					(loop_get_status(disk->loop_number, &status) == 0 &&
					 (status.flags & LO_FLAGS_READ_ONLY));
		if ((!read_only && locked_read_only) || loop_set_read_only(disk->loop_number, read_only) < 0)
			refused |= IMDISK_OPTION_RO;
		else
			disk->info.flags = (disk->info.flags & ~IMDISK_OPTION_RO) | (read_only ? IMDISK_OPTION_RO : 0);
	}
	if (mask & IMDISK_IMAGE_MODIFIED) {
		if (values & IMDISK_IMAGE_MODIFIED) {
			disk->info.flags |= IMDISK_IMAGE_MODIFIED;
		} else {
			int counted = loop_sectors_written(disk->loop_number, &disk->written_baseline);

			if (counted < 0)
				trace_dropped(TRACE_DISK, "loop_sectors_written", counted);
			disk->info.flags &= ~IMDISK_IMAGE_MODIFIED;
		}
	}
	for (uint32_t bit = IMDISK_OPTION_REMOVABLE; bit <= IMDISK_OPTION_SPARSE_FILE; bit <<= 1) {
		if (mask & bit)
			disk->info.flags = (disk->info.flags & ~bit) | (values & bit);
	}
	/* The file is written outside the table lock: a snapshot now, the I/O after. */
	state_snapshot(daemon, disk, &snapshot);
	pthread_mutex_unlock(&daemon->table.lock);
	/* The flags are changed on the device, saved or not: unsaved, only a restart
	 * would re-adopt the disk with its flags as last saved. */
	r = state_write(daemon, &snapshot);
	if (r < 0)
		trace_dropped(TRACE_DISK, "state_write", r);
	r = 0;
	*not_changed = refused;
	if (refused & IMDISK_OPTION_RO)
		r = disk_fail(why, -EROFS, "unit %" PRIu32 " cannot be made writable (its image is read-only)", unit);
	else if (refused)
		r = disk_fail(why, -EINVAL, "only ro, rw, rem, fix, sparse and saved can change");
	events_publish(daemon, IMDISK_EVENT_FLAGS, unit);
	return r;
}

/* The descriptor of a file disk's image that a grow checks: the daemon's own, or
 * (a disk re-adopted after a restart, which lost it) the caller's, once it is
 * known to be the same file.  Returns a duplicate to fstat outside the table
 * lock (a removal meanwhile cannot close it under us), or a negative errno. */
static int image_descriptor_to_check(const struct disk *disk, int image_fd, char *why)
{
	int fd = disk->backing_fd;
	int copy;

	if (fd < 0 && image_fd >= 0) {
		struct stat st;
		if (fstat(image_fd, &st) < 0 || st.st_dev != disk->backing_device ||
		    (uint64_t)st.st_ino != disk->backing_inode)
			return disk_fail(why, -EBADF, "the descriptor passed is not unit %" PRIu32 "'s image",
					 disk->info.unit);
		fd = image_fd;
	}
	if (fd < 0)
		return disk_fail(why, -EBADF, "unit %" PRIu32 " needs its image's descriptor to grow", disk->info.unit);
	copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy < 0)
		return disk_fail(why, -errno, "cannot check the image of unit %" PRIu32 ": %s", disk->info.unit,
				 strerror(errno));
	return copy;
}

/* Is the image already `end` bytes long?  The caller extends it, with its rights. */
static int check_image_length(int fd, uint64_t end, const char *name, char *why)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return disk_fail(why, -errno, "cannot examine image %s: %s", name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return disk_fail(why, -EINVAL, "image %s is not a regular file: it cannot grow", name);
	if ((uint64_t)st.st_size < end)
		return disk_fail(why, -EINVAL, "image %s is %" PRIu64 " bytes, %" PRIu64 " needed: extend it first "
				 "(imdisk -e -s does, with your rights)", name, (uint64_t)st.st_size, end);
	return 0;
}

/* The checks every grow makes under the lock; new_size gets the size it asks for. */
static int check_growable(const struct disk *disk, uint64_t amount, const struct caller_identity *caller, uint64_t *new_size,
			  uid_t *owner, char *why)
{
	int r = disk_access_check_owner(disk, caller, owner);

	if (r < 0)
		return r; /* the message comes once the lock is released */
	if (amount == 0 || __builtin_add_overflow(disk->info.size, amount, new_size) ||
	    amount % disk->info.sector_size)
		return disk_fail(why, -EINVAL, "cannot grow by %" PRIu64 " bytes: give a positive multiple of %" PRIu32,
				 amount, disk->info.sector_size);
	if (disk->info.flags & IMDISK_OPTION_RO)
		return disk_fail(why, -EROFS, "unit %" PRIu32 " is read-only", disk->info.unit);
	return 0;
}

static int grow_memory(struct daemon *daemon, struct disk *disk, uint64_t amount, uint64_t new_size,
		       const struct caller_identity *caller, uint64_t memlock_limit, char *why)
{
	uint64_t available;
	uint32_t unit = disk->info.unit;
	int r;

	if (!disk->memory)
		return disk_fail(why, -EOPNOTSUPP, "unit %" PRIu32 " was re-adopted after a daemon restart: its memory "
				 "can no longer grow", unit);
	if (size_free_memory(&available) == 0 && amount > available)
		return disk_fail(why, -ENOMEM, "not enough memory: %" PRIu64 " more bytes asked, %" PRIu64 " available",
				 amount, available);
	r = disk_access_check_memory(daemon, caller, amount, disk_is_locked_memory(disk->info.flags), memlock_limit,
				     why);
	if (r < 0)
		return r;
	r = vdisk_resize(disk->stack ? disk->stack : disk->memory, new_size);
	if (r < 0)
		return disk_fail(why, r, "cannot grow the memory of unit %" PRIu32 ": %s", unit, strerror(-r));
	return 0;
}

/* The grown size to the loop device and the stack (under the lock); the state
 * to save is snapshot, to be written once the lock is released. */
static int apply_size(struct daemon *daemon, struct disk *disk, uint64_t new_size, struct state_snapshot *snapshot,
		      char *why)
{
	int r = fuse_mount_resized(daemon, disk);

	if (r == 0)
		r = loop_set_size_limit(disk->loop_number, new_size);
	if (r < 0)
		return disk_fail(why, r, "the loop device did not take the new size: %s", strerror(-r));
	r = loop_get_size(disk->loop_number, &disk->info.size);
	if (r < 0)
		trace_dropped(TRACE_DISK, "loop_get_size", r); /* the size asked stands */
	disk->info.cylinders = disk->info.size / ((uint64_t)disk->info.sector_size * disk->info.sectors_per_track *
						  disk->info.tracks_per_cylinder);
	state_snapshot(daemon, disk, snapshot);
	return 0;
}

int disk_grow(struct daemon *daemon, uint32_t unit, uint64_t amount, int image_fd, const struct caller_identity *caller,
	      char *why)
{
	/* Read before the lock: a look at another process is no work to hold it for. */
	uint64_t memlock_limit = disk_access_memlock_limit(caller);
	char tag[LOOP_TAG_SIZE], image[IMDISK_PATH_MAX];
	struct disk *disk;
	uint64_t new_size, end;
	struct state_snapshot snapshot;
	uid_t owner = 0;
	bool not_owner = false;
	int check_fd = -1, r;

	pthread_mutex_lock(&daemon->table.lock);
	disk = disk_table_get(&daemon->table, unit);
	if (!disk) {
		r = disk_fail(why, -ENOENT, "no disk with unit number %" PRIu32, unit);
		goto out;
	}
	r = check_growable(disk, amount, caller, &new_size, &owner, why);
	not_owner = r == -EPERM;
	if (r < 0)
		goto out;
	if (disk_is_memory(disk->info.flags)) {
		r = grow_memory(daemon, disk, amount, new_size, caller, memlock_limit, why);
		if (r == 0)
			r = apply_size(daemon, disk, new_size, &snapshot, why);
		goto out;
	}
	if (disk->stack) {
		r = disk_fail(why, -EOPNOTSUPP, "unit %" PRIu32 " is served in user space (%s): it cannot grow", unit,
			 disk->proxy ? "a proxy disk" : "an image window");
		goto out;
	}
	/* A file disk: its image's length is checked outside the lock (fstat on a
	 * stalled file system must not stall every other request), then the disk is
	 * found again by unit and ownership tag, the same disk or none. */
	r = check_fd = image_descriptor_to_check(disk, image_fd, why);
	if (r < 0)
		goto out;
	memcpy(tag, disk->tag, sizeof(tag));
	snprintf(image, sizeof(image), "%s", disk->info.image);
	end = disk->info.image_offset + new_size;
	pthread_mutex_unlock(&daemon->table.lock);

	r = check_image_length(check_fd, end, image, why);
	if (r < 0) {
		pthread_mutex_lock(&daemon->table.lock);
		goto out;
	}
	pthread_mutex_lock(&daemon->table.lock);
	disk = disk_table_get(&daemon->table, unit);
	if (!disk || memcmp(disk->tag, tag, sizeof(tag)) != 0) {
		r = disk_fail(why, -ENOENT, "unit %" PRIu32 " was removed while it grew", unit);
		goto out;
	}
	/* Another grow may have come between: ask for this one's amount on top of it,
	 * and the image must still be long enough for that. */
	r = check_growable(disk, amount, caller, &new_size, &owner, why);
	not_owner = r == -EPERM;
	if (r == 0 && disk->info.image_offset + new_size > end)
		r = check_image_length(check_fd, disk->info.image_offset + new_size, image, why);
	if (r == 0)
		r = apply_size(daemon, disk, new_size, &snapshot, why);
out:
	pthread_mutex_unlock(&daemon->table.lock);
	if (r == 0) {
		int saved = state_write(daemon, &snapshot); /* outside the table lock, as in disk_set_flags */

		if (saved < 0)
			trace_dropped(TRACE_DISK, "state_write", saved);
	}
	if (not_owner)
		disk_access_owner_refusal(unit, owner, why);
	if (check_fd >= 0)
		close(check_fd);
	if (image_fd >= 0)
		close(image_fd);
	trace(TRACE_DISK, "unit %" PRIu32 ": grow by %" PRIu64 ": %d", unit, amount, r);
	if (r == 0)
		events_publish(daemon, IMDISK_EVENT_GROW, unit);
	return r;
}

int disk_remove(struct daemon *daemon, uint32_t unit, uint32_t mode, const struct caller_identity *caller, char *why)
{
	struct disk *disk;
	uid_t owner = 0;
	int r = 0;

	if (mode > IMDISK_REMOVE_EMERGENCY)
		return disk_fail(why, -EINVAL, "unknown removal mode %" PRIu32, mode);
	pthread_mutex_lock(&daemon->table.lock);
	disk = disk_table_get(&daemon->table, unit);
	if (disk)
		r = disk_access_check_owner(disk, caller, &owner);
	if (disk && r == 0)
		disk->state = DISK_REMOVING;
	pthread_mutex_unlock(&daemon->table.lock);
	if (!disk)
		return disk_fail(why, -ENOENT, "no disk with unit number %" PRIu32, unit);
	if (r < 0)
		return disk_access_owner_refusal(unit, owner, why);

	if (mode == IMDISK_REMOVE_NORMAL && loop_is_busy(disk->loop_number)) {
		pthread_mutex_lock(&daemon->table.lock);
		disk->state = DISK_READY;
		pthread_mutex_unlock(&daemon->table.lock);
		trace(TRACE_DISK, "unit %" PRIu32 ": not removed, %s is in use", unit, disk->info.device);
		return disk_fail(why, -EBUSY, "unit %" PRIu32 " (%s) is in use", unit, disk->info.device);
	}
	/* A flush that fails (a dying image) does not keep the disk: the caller asked
	 * to remove it, and the loop driver writes what it still can at detach. */
	if (mode != IMDISK_REMOVE_EMERGENCY && (r = loop_flush(disk->loop_number)) < 0)
		trace_dropped(TRACE_DISK, "loop_flush before detach", r);
	/* On a device still open the kernel detaches at last close: the unit is gone now. */
	r = loop_detach(disk->loop_number);
	if (r < 0 && r != -ENXIO) {
		pthread_mutex_lock(&daemon->table.lock);
		disk->state = DISK_READY;
		pthread_mutex_unlock(&daemon->table.lock);
		return disk_fail(why, r, "cannot detach %s: %s", disk->info.device, strerror(-r));
	}
	fuse_mount_unpublish(daemon, disk);
	state_forget(daemon, unit);
	disk_table_release(&daemon->table, unit);
	disk_free(disk);
	trace(TRACE_DISK, "unit %" PRIu32 ": removed (mode %" PRIu32 ")", unit, mode);
	events_publish(daemon, IMDISK_EVENT_REMOVE, unit);
	return 0;
}

void disk_release_all(struct daemon *daemon)
{
	pthread_mutex_lock(&daemon->table.lock);
	for (uint32_t u = 0; u < DISK_TABLE_MAX_UNITS; u++) {
		struct disk *disk = daemon->table.units[u];

		/* A disk being created or removed belongs to the request doing it, which
		 * frees it itself: left alone here (a connection still busy at the stop). */
		if (!disk || disk->state != DISK_READY)
			continue;
		/* Loop disks live on without us; a user-space disk cannot (we serve its
		 * bytes): flush and detach it rather than leave a dead device behind. */
		if (disk->stack) {
			log_warning("unit %" PRIu32 ": %s is served by imdiskd: removing it as imdiskd stops", u,
				    disk->info.device);
			int r = loop_flush(disk->loop_number);

			if (r < 0)
				trace_dropped(TRACE_DISK, "loop_flush before detach", r);
			r = loop_detach(disk->loop_number);
			if (r < 0)
				trace_dropped(TRACE_DISK, "loop_detach at stop", r);
			fuse_mount_unpublish(daemon, disk);
			state_forget(daemon, u);
		}
		trace(TRACE_DISK, "unit %" PRIu32 ": released (%s)", u,
		      disk->stack ? "removed: served by imdiskd" : "the kernel device stays");
		disk_free(disk);
		daemon->table.units[u] = NULL;
	}
	pthread_mutex_unlock(&daemon->table.lock);
	fuse_mount_stop(daemon);
}
