/* Disk state on disk (well, on /run): one small key=value file per unit, written
 * atomically, so that imdiskd killed with SIGKILL and started again finds its
 * disks.  A loop device is adopted only when its ownership tag and backing inode
 * still match what we wrote: never a device that is not ours. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/daemon.h"

static void state_path(const struct daemon *daemon, uint32_t unit, char *buf, size_t size)
{
	snprintf(buf, size, "%s/unit-%" PRIu32, daemon->state_dir, unit);
}

int state_save(const struct daemon *daemon, const struct disk *disk)
{
	const struct imdisk_device *d = &disk->info;
	char path[PATH_MAX + 32], temporary[PATH_MAX + 40];
	FILE *f;
	int r = 0;

	state_path(daemon, d->unit, path, sizeof(path));
	snprintf(temporary, sizeof(temporary), "%s.new", path);
	f = fopen(temporary, "we");
	if (!f)
		return -errno;
	fprintf(f,
		"unit=%" PRIu32 "\nloop=%" PRIu32 "\ndevice=%s\ntag=%s\nflags=%" PRIu32 "\nsize=%" PRIu64
		"\noffset=%" PRIu64 "\nsector_size=%" PRIu32 "\nsectors_per_track=%" PRIu32
		"\ntracks_per_cylinder=%" PRIu32 "\ncylinders=%" PRIu64 "\ntransport=%" PRIu32
		"\nwritten_baseline=%" PRIu64 "\nbacking_device=%" PRIu64 "\nbacking_inode=%" PRIu64
		"\nimage=%s\n",
		d->unit, disk->loop_number, d->device, disk->tag, d->flags, d->size, d->image_offset, d->sector_size,
		d->sectors_per_track, d->tracks_per_cylinder, d->cylinders, d->transport, disk->written_baseline,
		(uint64_t)disk->backing_device, disk->backing_inode, d->image);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(temporary, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(temporary);
	return r;
}

void state_forget(const struct daemon *daemon, uint32_t unit)
{
	char path[PATH_MAX + 32];

	state_path(daemon, unit, path, sizeof(path));
	unlink(path);
}

/* Read one state file into *disk; -EBADMSG when a field is missing or malformed. */
static int state_load(const char *path, struct disk *disk)
{
	char line[IMDISK_PATH_MAX + 32];
	unsigned seen = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	memset(disk, 0, sizeof(*disk));
	disk->backing_fd = -1;
	while (fgets(line, sizeof(line), f)) {
		char *value = strchr(line, '=');
		uint64_t number;

		if (!value)
			continue;
		*value++ = 0;
		value[strcspn(value, "\n")] = 0;
		number = strtoull(value, NULL, 10);
		if (!strcmp(line, "unit")) disk->info.unit = (uint32_t)number, seen |= 1;
		else if (!strcmp(line, "loop")) disk->loop_number = (uint32_t)number, seen |= 2;
		else if (!strcmp(line, "tag")) snprintf(disk->tag, sizeof(disk->tag), "%s", value), seen |= 4;
		else if (!strcmp(line, "device")) snprintf(disk->info.device, sizeof(disk->info.device), "%s", value);
		else if (!strcmp(line, "flags")) disk->info.flags = (uint32_t)number;
		else if (!strcmp(line, "size")) disk->info.size = number;
		else if (!strcmp(line, "offset")) disk->info.image_offset = number;
		else if (!strcmp(line, "sector_size")) disk->info.sector_size = (uint32_t)number;
		else if (!strcmp(line, "sectors_per_track")) disk->info.sectors_per_track = (uint32_t)number;
		else if (!strcmp(line, "tracks_per_cylinder")) disk->info.tracks_per_cylinder = (uint32_t)number;
		else if (!strcmp(line, "cylinders")) disk->info.cylinders = number;
		else if (!strcmp(line, "transport")) disk->info.transport = (uint32_t)number;
		else if (!strcmp(line, "written_baseline")) disk->written_baseline = number;
		else if (!strcmp(line, "backing_device")) disk->backing_device = (dev_t)number, seen |= 8;
		else if (!strcmp(line, "backing_inode")) disk->backing_inode = number, seen |= 16;
		else if (!strcmp(line, "image")) snprintf(disk->info.image, sizeof(disk->info.image), "%s", value);
	}
	fclose(f);
	return seen == 31 && disk->tag[0] ? 0 : -EBADMSG;
}

void state_adopt_all(struct daemon *daemon)
{
	DIR *dir = opendir(daemon->state_dir);
	struct dirent *entry;

	if (!dir)
		return;
	while ((entry = readdir(dir))) {
		char path[PATH_MAX + 300];
		struct loop_status status;
		struct disk *disk;
		uint32_t unit;

		if (strncmp(entry->d_name, "unit-", 5) != 0 || strchr(entry->d_name, '.'))
			continue;
		snprintf(path, sizeof(path), "%s/%s", daemon->state_dir, entry->d_name);
		disk = calloc(1, sizeof(*disk));
		if (!disk)
			break;
		if (state_load(path, disk) < 0) {
			log_warning("ignoring malformed state file %s", path);
			unlink(path);
			free(disk);
			continue;
		}
		unit = disk->info.unit;
		if (loop_get_status(disk->loop_number, &status) < 0 || strcmp(status.tag, disk->tag) != 0 ||
		    status.backing_device != disk->backing_device || status.backing_inode != disk->backing_inode) {
			log_warning("unit %" PRIu32 ": %s is no longer ours; forgetting it", unit, disk->info.device);
			unlink(path);
			free(disk);
			continue;
		}
		if (disk->info.transport == IMDISK_TRANSPORT_FUSE) {
			/* Its bytes were served by the daemon that died: the device is dead. */
			log_warning("unit %" PRIu32 ": %s was served by the previous imdiskd; detaching it", unit,
				    disk->info.device);
			loop_detach(disk->loop_number);
			unlink(path);
			free(disk);
			continue;
		}
		if (disk_table_reserve(&daemon->table, unit, disk) < 0) {
			log_warning("unit %" PRIu32 ": described twice in %s; keeping the first", unit, daemon->state_dir);
			free(disk);
			continue;
		}
		disk->state = DISK_READY;
		log_info("unit %" PRIu32 ": re-adopted %s", unit, disk->info.device);
	}
	closedir(dir);
}
