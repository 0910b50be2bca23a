/* Kernel loop driver access (LOOP_CTL_GET_FREE, LOOP_CONFIGURE, LOOP_GET_STATUS64...). */
#include "transport/loop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* How long a plain open of the device is waited out before it counts as a user. */
#define LOOP_BUSY_TRIES 5
#define LOOP_BUSY_WAIT_US 100000

void loop_device_path(uint32_t number, char *buf, size_t size)
{
	snprintf(buf, size, "/dev/loop%" PRIu32, number);
}

static int loop_open(uint32_t number, int flags)
{
	char path[32];
	int fd;

	loop_device_path(number, path, sizeof(path));
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/* The node may not exist yet in a minimal /dev: make it. */
		if (mknod(path, S_IFBLK | 0660, makedev(7, number)) < 0 && errno != EEXIST)
			return -ENOENT;
		fd = open(path, flags | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

int loop_attach(const struct loop_setup *config, uint32_t *number)
{
	int control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	int r = -EBUSY;

	if (control < 0)
		return -errno;
	/* Another process may take the free device between GET_FREE and CONFIGURE:
	 * then CONFIGURE says EBUSY and we ask for the next free one. */
	for (int attempt = 0; attempt < 64 && r == -EBUSY; attempt++) {
		struct loop_config kernel_config;
		int free_number = ioctl(control, LOOP_CTL_GET_FREE);
		int fd;

		if (free_number < 0) {
			r = -errno;
			break;
		}
		fd = loop_open((uint32_t)free_number, config->read_only ? O_RDONLY : O_RDWR);
		if (fd < 0) {
			r = fd;
			break;
		}
		memset(&kernel_config, 0, sizeof(kernel_config));
		kernel_config.fd = (uint32_t)config->backing_fd;
		kernel_config.block_size = config->block_size;
		kernel_config.info.lo_offset = config->offset;
		kernel_config.info.lo_sizelimit = config->size_limit;
		kernel_config.info.lo_flags = (config->read_only ? LO_FLAGS_READ_ONLY : 0) |
					      (config->direct_io ? LO_FLAGS_DIRECT_IO : 0);
		memcpy(kernel_config.info.lo_file_name, config->tag, LO_NAME_SIZE);
		kernel_config.info.lo_file_name[LO_NAME_SIZE - 1] = 0;
		r = ioctl(fd, LOOP_CONFIGURE, &kernel_config) < 0 ? -errno : 0;
		if (r == -EINVAL && config->direct_io) {
			/* Direct I/O is refused by some backing files (tmpfs before 6.6,
			 * misaligned offsets): buffered I/O is still correct. */
			kernel_config.info.lo_flags &= ~LO_FLAGS_DIRECT_IO;
			r = ioctl(fd, LOOP_CONFIGURE, &kernel_config) < 0 ? -errno : 0;
		}
		if (r == 0 && !config->read_only) {
			/* The block device's own read-only bit (BLKROSET) outlives a detach:
			 * a previous user's setting must not make this disk read-only. */
			int writable = 0;
			ioctl(fd, BLKROSET, &writable);
		}
		close(fd);
		if (r == 0)
			*number = (uint32_t)free_number;
	}
	close(control);
	return r;
}

int loop_get_status(uint32_t number, struct loop_status *status)
{
	struct loop_info64 info;
	int fd = loop_open(number, O_RDONLY);
	int r;

	if (fd < 0)
		return fd;
	r = ioctl(fd, LOOP_GET_STATUS64, &info) < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	memset(status, 0, sizeof(*status));
	status->number = number;
	status->offset = info.lo_offset;
	status->size_limit = info.lo_sizelimit;
	status->flags = info.lo_flags;
	status->backing_device = (dev_t)info.lo_device;
	status->backing_inode = info.lo_inode;
	memcpy(status->tag, info.lo_file_name, LO_NAME_SIZE);
	status->tag[LO_NAME_SIZE - 1] = 0;
	return 0;
}

int loop_detach(uint32_t number)
{
	int fd = loop_open(number, O_RDONLY);
	int writable = 0;
	int r;

	if (fd < 0)
		return fd;
	/* Leave the device as we found it: BLKROSET would outlive the detach. */
	ioctl(fd, BLKROSET, &writable);
	r = ioctl(fd, LOOP_CLR_FD, 0) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* Another block device stacked on it (device-mapper, md): /sys/block/loopN/holders. */
static bool loop_has_holders(uint32_t number)
{
	char path[64];
	struct dirent *entry;
	bool held = false;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/block/loop%" PRIu32 "/holders", number);
	dir = opendir(path);
	if (!dir)
		return false;
	while (!held && (entry = readdir(dir)))
		held = entry->d_name[0] != '.';
	closedir(dir);
	return held;
}

/* Whether a process other than this one has the device open.  The kernel keeps
 * no open count one can read, so this walks /proc/PID/fd as fuser(1) does. */
static bool loop_open_elsewhere(uint32_t number)
{
	char path[32];
	struct stat device;
	struct dirent *process;
	bool found = false;
	pid_t self = getpid();
	DIR *proc;

	loop_device_path(number, path, sizeof(path));
	if (stat(path, &device) < 0 || !(proc = opendir("/proc")))
		return false;
	while (!found && (process = readdir(proc))) {
		char fd_dir[300], *end;
		struct dirent *entry;
		long pid = strtol(process->d_name, &end, 10);
		DIR *fds;

		if (*end || pid <= 0 || pid == self)
			continue;
		snprintf(fd_dir, sizeof(fd_dir), "/proc/%s/fd", process->d_name);
		fds = opendir(fd_dir);
		if (!fds)
			continue; /* gone, or a kernel thread */
		while (!found && (entry = readdir(fds))) {
			struct stat st;

			if (entry->d_name[0] != '.' && fstatat(dirfd(fds), entry->d_name, &st, 0) == 0)
				found = S_ISBLK(st.st_mode) && st.st_rdev == device.st_rdev;
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}

bool loop_is_busy(uint32_t number)
{
	int fd = loop_open(number, O_RDONLY | O_EXCL);

	if (fd == -EBUSY)
		return true;
	if (fd >= 0)
		close(fd);
	if (loop_has_holders(number))
		return true;
	/* A short open (udev probing a new device, blkid) is waited out. */
	for (int tries = 0; loop_open_elsewhere(number); tries++) {
		if (tries == LOOP_BUSY_TRIES)
			return true;
		usleep(LOOP_BUSY_WAIT_US);
	}
	return false;
}

static int loop_ioctl(uint32_t number, int open_flags, unsigned long request, unsigned long argument)
{
	int fd = loop_open(number, open_flags);
	int r;

	if (fd < 0)
		return fd;
	r = ioctl(fd, request, argument) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int loop_flush(uint32_t number)
{
	int fd = loop_open(number, O_RDONLY);
	int r = 0;

	if (fd < 0)
		return fd;
	if (fsync(fd) < 0 || ioctl(fd, BLKFLSBUF, 0) < 0)
		r = -errno;
	close(fd);
	return r;
}

int loop_set_capacity(uint32_t number)
{
	return loop_ioctl(number, O_RDONLY, LOOP_SET_CAPACITY, 0);
}

int loop_set_size_limit(uint32_t number, uint64_t size_limit)
{
	struct loop_info64 info;
	int fd = loop_open(number, O_RDONLY);
	int r;

	if (fd < 0)
		return fd;
	r = ioctl(fd, LOOP_GET_STATUS64, &info) < 0 ? -errno : 0;
	if (r == 0) {
		info.lo_sizelimit = size_limit;
		r = ioctl(fd, LOOP_SET_STATUS64, &info) < 0 ? -errno : 0;
	}
	close(fd);
	return r;
}

int loop_set_read_only(uint32_t number, bool read_only)
{
	int value = read_only;

	return loop_ioctl(number, O_RDONLY, BLKROSET, (unsigned long)&value);
}

int loop_get_size(uint32_t number, uint64_t *bytes)
{
	return loop_ioctl(number, O_RDONLY, BLKGETSIZE64, (unsigned long)bytes);
}

int loop_sectors_written(uint32_t number, uint64_t *sectors)
{
	char path[64];
	unsigned long long fields[7];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/sys/block/loop%" PRIu32 "/stat", number);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* Fields: reads, merged, sectors read, ms, writes, merged, sectors written... */
	n = fscanf(f, "%llu %llu %llu %llu %llu %llu %llu", &fields[0], &fields[1], &fields[2], &fields[3],
		   &fields[4], &fields[5], &fields[6]);
	fclose(f);
	if (n != 7)
		return -EIO;
	*sectors = fields[6];
	return 0;
}
