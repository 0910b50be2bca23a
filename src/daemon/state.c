/* Disk state on disk (well, on /run): one small key=value file per unit, written
 * atomically, so that imdiskd killed with SIGKILL and started again finds its
 * disks.  A loop device is adopted only when its ownership tag and backing inode
 * still match what we wrote: never a device that is not ours.
 *
 * The state folder is opened once and checked (trusted_file.h); every file in it is
 * opened relative to that descriptor without following links, and what is read back
 * passes state_parse.c before it is believed.  Saving is split in two so that the
 * disk table lock is never held across file I/O: a snapshot taken under the table
 * lock, then written outside it, serialised by state_save_lock.  Each snapshot
 * carries a per-unit generation; a write older than what was last written or
 * forgotten for the unit is dropped, so the files end as the table's last change
 * left them whatever order the writers reach the lock in. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fdio.h"
#include "common/log.h"
#include "common/trace.h"
#include "daemon/daemon.h"
#include "daemon/state_parse.h"
#include "daemon/trusted_file.h"

_Static_assert(STATE_MAX_UNITS == DISK_TABLE_MAX_UNITS, "the state parser checks units against the table");
_Static_assert(STATE_TAG_SIZE == LOOP_TAG_SIZE, "the state parser keeps the loop tag");

/* At most this many files are looked at in the state folder: a folder filled with
 * junk must not make the start take unbounded memory. */
#define STATE_MAX_FILES (2 * DISK_TABLE_MAX_UNITS)

void state_open_directory(struct daemon *daemon)
{
	char why[TRUSTED_WHY_MAX];
	int fd;

	pthread_mutex_init(&daemon->state_save_lock, NULL);
	fd = trusted_directory_open(daemon->state_dir, why);
	if (fd < 0)
		log_error("%s: disk state is neither read nor saved (disks will not be re-adopted after a restart)",
			  why);
	daemon->state_dir_fd = fd;
}

static void state_name(uint32_t unit, char *buf, size_t size)
{
	snprintf(buf, size, "unit-%" PRIu32, unit);
}

static uint64_t next_generation(struct daemon *daemon, uint32_t unit)
{
	return __atomic_add_fetch(&daemon->state_generation[unit], 1, __ATOMIC_SEQ_CST);
}

void state_snapshot(struct daemon *daemon, const struct disk *disk, struct state_snapshot *out)
{
	const struct imdisk_device *d = &disk->info;
	struct state_record *r = &out->record;

	memset(r, 0, sizeof(*r));
	r->unit = d->unit;
	r->loop_number = disk->loop_number;
	snprintf(r->device, sizeof(r->device), "%s", d->device);
	snprintf(r->tag, sizeof(r->tag), "%s", disk->tag);
	r->flags = d->flags;
	r->size = d->size;
	r->image_offset = d->image_offset;
	r->sector_size = d->sector_size;
	r->sectors_per_track = d->sectors_per_track;
	r->tracks_per_cylinder = d->tracks_per_cylinder;
	r->cylinders = d->cylinders;
	r->transport = d->transport;
	r->written_baseline = disk->written_baseline;
	r->backing_device = (uint64_t)disk->backing_device;
	r->backing_inode = disk->backing_inode;
	snprintf(r->image, sizeof(r->image), "%s", d->image);
	r->owner_uid = disk->owner_uid;
	r->owner_gid = disk->owner_gid;
	out->generation = next_generation(daemon, d->unit);
}

/* Whether a change of generation `generation` to unit's file is still the latest
 * (then it becomes the last one done).  Call with state_save_lock held. */
static bool generation_is_latest(struct daemon *daemon, uint32_t unit, uint64_t generation)
{
	if (generation <= daemon->state_written[unit]) {
		trace(TRACE_DISK, "unit %" PRIu32 ": state of generation %" PRIu64 " not written: %" PRIu64 " is newer",
		      unit, generation, daemon->state_written[unit]);
		return false;
	}
	daemon->state_written[unit] = generation;
	return true;
}

static int write_file(int dir_fd, const char *name, const char *temporary, const char *text, size_t length)
{
	char why[TRUSTED_WHY_MAX];
	int fd, r;

	/* A temporary left by a crash (or planted): removed, then created afresh. */
	if (unlinkat(dir_fd, temporary, 0) < 0 && errno != ENOENT)
		return -errno;
	fd = trusted_file_open(dir_fd, temporary, O_WRONLY | O_CREAT | O_EXCL, 0600, why);
	if (fd < 0)
		return fd;
	r = write_full(fd, text, length);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dir_fd, temporary, dir_fd, name) < 0)
		r = -errno;
	if (r < 0 && unlinkat(dir_fd, temporary, 0) < 0)
		trace_dropped(TRACE_DISK, "unlinkat of a state file's temporary", -errno);
	return r;
}

int state_write(struct daemon *daemon, const struct state_snapshot *snapshot)
{
	const struct state_record *record = &snapshot->record;
	char name[32], temporary[40], text[STATE_TEXT_MAX];
	int length, r = 0;

	if (daemon->state_dir_fd < 0)
		return -EPERM; /* reported once, at the start */
	length = state_format_record(record, text, sizeof(text));
	if (length < 0)
		return length;
	state_name(record->unit, name, sizeof(name));
	snprintf(temporary, sizeof(temporary), "%s.new", name);
	pthread_mutex_lock(&daemon->state_save_lock);
	if (generation_is_latest(daemon, record->unit, snapshot->generation))
		r = write_file(daemon->state_dir_fd, name, temporary, text, (size_t)length);
	pthread_mutex_unlock(&daemon->state_save_lock);
	return r;
}

int state_save(struct daemon *daemon, const struct disk *disk)
{
	struct state_snapshot *snapshot = malloc(sizeof(*snapshot));
	int r;

	if (!snapshot)
		return -ENOMEM;
	state_snapshot(daemon, disk, snapshot);
	r = state_write(daemon, snapshot);
	free(snapshot);
	return r;
}

void state_forget(struct daemon *daemon, uint32_t unit)
{
	uint64_t generation;
	char name[32];

	if (daemon->state_dir_fd < 0 || unit >= DISK_TABLE_MAX_UNITS)
		return;
	generation = next_generation(daemon, unit);
	state_name(unit, name, sizeof(name));
	pthread_mutex_lock(&daemon->state_save_lock);
	if (generation_is_latest(daemon, unit, generation) && unlinkat(daemon->state_dir_fd, name, 0) < 0 &&
	    errno != ENOENT)
		trace_dropped(TRACE_DISK, "unlinkat of a forgotten unit's state file", -errno);
	pthread_mutex_unlock(&daemon->state_save_lock);
}

/* A state file that is not believed (context: the daemon): one line naming what is
 * wrong, and the file goes (it describes nothing we will serve). */
static void skip_state_file(void *context, const char *name, const char *why)
{
	const struct daemon *daemon = context;

	log_warning("state file %s/%s skipped: %s", daemon->state_dir, name, why);
	unlinkat(daemon->state_dir_fd, name, 0);
}

/* A state file that could not be read now (out of descriptors or memory, an I/O
 * error): skipped, but kept, since it may well describe a disk of ours. */
static bool read_error_is_passing(int error)
{
	return error != -ELOOP && error != -EPERM && error != -EINVAL && error != -EFBIG;
}

/* Read one state file into a fresh buffer (*text, *length); -EFBIG past the limit. */
static int read_state_file(int dir_fd, const char *name, char **text, size_t *length, char *why)
{
	char *buf;
	ssize_t n;
	int fd = trusted_file_open(dir_fd, name, O_RDONLY, 0, why);

	if (fd < 0)
		return fd;
	buf = malloc(STATE_TEXT_MAX + 1);
	if (!buf) {
		close(fd);
		snprintf(why, TRUSTED_WHY_MAX, "out of memory");
		return -ENOMEM;
	}
	n = read_up_to(fd, buf, STATE_TEXT_MAX + 1);
	close(fd);
	if (n < 0) {
		snprintf(why, TRUSTED_WHY_MAX, "cannot read it: %s", strerror((int)-n));
		free(buf);
		return (int)n;
	}
	if (n > STATE_TEXT_MAX) {
		snprintf(why, TRUSTED_WHY_MAX, "it is larger than %d bytes", STATE_TEXT_MAX);
		free(buf);
		return -EFBIG;
	}
	*text = buf;
	*length = (size_t)n;
	return 0;
}

/* Whether a disk described by a valid record is still the one on its loop device. */
static void adopt_record(struct daemon *daemon, const struct state_record *record)
{
	struct loop_status status;
	struct disk *disk;
	char name[32];
	uint32_t unit = record->unit;

	state_name(unit, name, sizeof(name));
	if (loop_get_status(record->loop_number, &status) < 0 || strcmp(status.tag, record->tag) != 0 ||
	    status.backing_device != (dev_t)record->backing_device || status.backing_inode != record->backing_inode) {
		log_warning("unit %" PRIu32 ": %s is no longer ours; forgetting it", unit, record->device);
		unlinkat(daemon->state_dir_fd, name, 0);
		return;
	}
	if (record->transport == IMDISK_TRANSPORT_FUSE) {
		/* Its bytes were served by the daemon that died: the device is dead. */
		log_warning("unit %" PRIu32 ": %s was served by the previous imdiskd; detaching it", unit, record->device);
		int r = loop_detach(record->loop_number);

		if (r < 0)
			trace_dropped(TRACE_DISK, "loop_detach of a dead user-space disk", r);
		unlinkat(daemon->state_dir_fd, name, 0);
		return;
	}
	disk = calloc(1, sizeof(*disk));
	if (!disk) {
		log_warning("unit %" PRIu32 ": out of memory; not re-adopted", unit);
		return;
	}
	disk->backing_fd = -1;
	disk->info.unit = unit;
	disk->loop_number = record->loop_number;
	snprintf(disk->info.device, sizeof(disk->info.device), "%s", record->device);
	snprintf(disk->tag, sizeof(disk->tag), "%s", record->tag);
	disk->info.flags = record->flags;
	disk->info.size = record->size;
	disk->info.image_offset = record->image_offset;
	disk->info.sector_size = record->sector_size;
	disk->info.sectors_per_track = record->sectors_per_track;
	disk->info.tracks_per_cylinder = record->tracks_per_cylinder;
	disk->info.cylinders = record->cylinders;
	disk->info.transport = record->transport;
	disk->owner_uid = record->owner_uid;
	disk->owner_gid = record->owner_gid;
	disk->written_baseline = record->written_baseline;
	disk->backing_device = (dev_t)record->backing_device;
	disk->backing_inode = record->backing_inode;
	snprintf(disk->info.image, sizeof(disk->info.image), "%s", record->image);
	if (disk_table_reserve(&daemon->table, unit, disk) < 0) {
		log_warning("unit %" PRIu32 ": described twice in %s; keeping the first", unit, daemon->state_dir);
		free(disk);
		return;
	}
	disk->state = DISK_READY;
	log_info("unit %" PRIu32 ": re-adopted %s", unit, disk->info.device);
}

void state_adopt_all(struct daemon *daemon)
{
	struct state_text *texts = NULL;
	struct state_record *records = NULL;
	struct dirent *entry;
	size_t count = 0, adopted;
	int dir_copy;
	DIR *dir;

	if (daemon->state_dir_fd < 0)
		return;
	dir_copy = fcntl(daemon->state_dir_fd, F_DUPFD_CLOEXEC, 0);
	dir = dir_copy >= 0 ? fdopendir(dir_copy) : NULL;
	texts = calloc(STATE_MAX_FILES, sizeof(*texts));
	if (!dir || !texts) {
		log_warning("cannot read the state folder %s: %s", daemon->state_dir, strerror(errno));
		if (dir)
			closedir(dir);
		else if (dir_copy >= 0)
			close(dir_copy);
		free(texts);
		return;
	}
	while ((entry = readdir(dir))) {
		char why[TRUSTED_WHY_MAX];
		char *text = NULL;
		size_t length = 0;
		int r;

		if (strncmp(entry->d_name, "unit-", 5) != 0 || strchr(entry->d_name, '.'))
			continue;
		if (count == STATE_MAX_FILES) {
			log_warning("more than %d state files in %s: the rest are skipped", STATE_MAX_FILES,
				    daemon->state_dir);
			break;
		}
		r = read_state_file(daemon->state_dir_fd, entry->d_name, &text, &length, why);
		if (r < 0 && read_error_is_passing(r)) {
			log_warning("state file %s/%s skipped for now: %s", daemon->state_dir, entry->d_name, why);
			continue;
		}
		if (r < 0) {
			skip_state_file(daemon, entry->d_name, why);
			continue;
		}
		texts[count].name = strdup(entry->d_name);
		texts[count].text = text;
		texts[count].length = length;
		if (!texts[count].name) {
			free(text);
			break;
		}
		count++;
	}
	records = calloc(count ? count : 1, sizeof(*records));
	if (records) {
		adopted = state_parse_all(texts, count, records, skip_state_file, daemon);
		for (size_t i = 0; i < adopted; i++)
			adopt_record(daemon, &records[i]);
	}
	for (size_t i = 0; i < count; i++) {
		free((char *)texts[i].name);
		free((char *)texts[i].text);
	}
	free(records);
	free(texts);
	closedir(dir);
}
