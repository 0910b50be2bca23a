/* imdiskd's own FUSE mount, where user-space disks are published as files for
 * the kernel loop driver (direct I/O) to serve: started with the first disk that
 * needs it, a file added and removed per disk, stopped at exit, and a stale one
 * left by a killed daemon cleaned at the start. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/trace.h"
#include "daemon/daemon.h"
#include "transport/fuse.h"
#include "transport/fuse_uring_switch.h"

void daemon_fuse_directory(const struct daemon *daemon, char *buf, size_t size)
{
	char copy[PATH_MAX];
	char *slash;

	snprintf(copy, sizeof(copy), "%s", daemon->socket_path);
	slash = strrchr(copy, '/');
	if (slash)
		*slash = 0;
	snprintf(buf, size, "%s/fuse", slash ? (copy[0] ? copy : "/") : ".");
}

/* FUSE over io_uring is the faster channel (one system call per batch of
 * requests instead of two per request; docs/performance.md), but the kernel's
 * switch for it is machine-wide and off by default: it is on only while our
 * connection is made (src/transport/fuse_uring_switch.h). */
static int start_transport(struct daemon *daemon, const char *directory)
{
	struct fuse_uring_switch uring_switch;
	int on = -ENOENT, r;

	if (daemon->fuse_channel != DAEMON_FUSE_DEVICE) {
		on = fuse_uring_switch_on(&uring_switch);
		if (on < 0 && daemon->fuse_channel == DAEMON_FUSE_IO_URING)
			log_warning("cannot turn on FUSE over io_uring (%s): using /dev/fuse", FUSE_URING_SWITCH_PATH);
		else if (on < 0)
			log_info("FUSE over io_uring not available (%s): using /dev/fuse", FUSE_URING_SWITCH_PATH);
	}
	r = transport_fuse_start(directory, daemon->fuse_workers, &daemon->fuse);
	if (on == 0 && fuse_uring_switch_restore(&uring_switch) < 0)
		log_warning("cannot set %s back to %c", FUSE_URING_SWITCH_PATH, uring_switch.before);
	return r;
}

/* The mount, started with the first disk that needs it. */
static int fuse_mount_get(struct daemon *daemon, struct transport_fuse **out, char *why)
{
	char directory[PATH_MAX];
	int r = 0;

	pthread_mutex_lock(&daemon->fuse_lock);
	if (!daemon->fuse) {
		daemon_fuse_directory(daemon, directory, sizeof(directory));
		if (mkdir(directory, 0700) < 0 && errno != EEXIST)
			r = -errno;
		if (r == 0)
			r = start_transport(daemon, directory);
		if (r < 0)
			disk_fail(why, r, "cannot start the FUSE transport in %s: %s", directory, strerror(-r));
		else
			trace(TRACE_DISK, "FUSE mount started in %s", directory);
	}
	*out = daemon->fuse;
	pthread_mutex_unlock(&daemon->fuse_lock);
	return r;
}

int fuse_mount_publish(struct daemon *daemon, struct disk *disk, struct loop_setup *setup, char *why)
{
	struct transport_fuse *fuse;
	char path[PATH_MAX];
	int fd, r;

	r = fuse_mount_get(daemon, &fuse, why);
	if (r < 0)
		return r;
	snprintf(disk->fuse_name, sizeof(disk->fuse_name), "unit%" PRIu32, disk->info.unit);
	r = transport_fuse_add(fuse, disk->fuse_name, disk->stack, path, sizeof(path));
	if (r < 0) {
		disk->fuse_name[0] = 0;
		return disk_fail(why, r, "cannot publish the disk in the FUSE mount: %s", strerror(-r));
	}
	fd = open(path, ((disk->info.flags & IMDISK_OPTION_RO) ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		int removed;

		r = -errno;
		removed = transport_fuse_remove(fuse, disk->fuse_name);
		if (removed < 0)
			trace_dropped(TRACE_DISK, "transport_fuse_remove", removed);
		disk->fuse_name[0] = 0;
		return disk_fail(why, r, "cannot open %s: %s", path, strerror(-r));
	}
	trace(TRACE_DISK, "unit %" PRIu32 ": published as %s", disk->info.unit, path);
	setup->backing_fd = fd; /* the loop driver keeps its own reference */
	setup->offset = 0;
	setup->direct_io = true;
	return fd;
}

void fuse_mount_unpublish(struct daemon *daemon, struct disk *disk)
{
	if (disk->fuse_name[0] && daemon->fuse) {
		int r = transport_fuse_remove(daemon->fuse, disk->fuse_name);

		trace(TRACE_DISK, "unit %" PRIu32 ": %s released from the FUSE mount", disk->info.unit, disk->fuse_name);
		if (r < 0)
			trace_dropped(TRACE_DISK, "transport_fuse_remove", r);
	}
	disk->fuse_name[0] = 0;
}

int fuse_mount_resized(struct daemon *daemon, struct disk *disk)
{
	if (!disk->fuse_name[0] || !daemon->fuse)
		return 0;
	return transport_fuse_resized(daemon->fuse, disk->fuse_name);
}

void fuse_mount_stop(struct daemon *daemon)
{
	if (daemon->fuse) {
		trace(TRACE_DISK, "FUSE mount stopped");
		transport_fuse_stop(daemon->fuse);
	}
	daemon->fuse = NULL;
}

void fuse_mount_clean_stale(const struct daemon *daemon)
{
	char directory[PATH_MAX];

	/* A FUSE mount left by a daemon that was killed serves nothing any more. */
	daemon_fuse_directory(daemon, directory, sizeof(directory));
	if (umount2(directory, MNT_DETACH) == 0)
		trace(TRACE_DISK, "stale FUSE mount %s unmounted", directory);
}
