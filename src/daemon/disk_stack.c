/* Disks that need user-space work (proxy disks, byte swapping, or a forced
 * --transport=fuse): a stack of vdisks (a backend, then the window, byte-swap and
 * read-only layers), published as a file in imdiskd's own FUSE mount, with the
 * kernel loop driver (direct I/O) on that file. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/log.h"
#include "common/stream_connect.h"
#include "daemon/daemon.h"
#include "layer/layer.h"
#include "transport/fuse.h"
#include "transport/fuse_uring_switch.h"

bool disk_needs_userspace(const struct imdisk_device *request)
{
	return IMDISK_TYPE(request->flags) == IMDISK_TYPE_PROXY || (request->flags & IMDISK_OPTION_BYTE_SWAP) ||
	       request->transport == IMDISK_TRANSPORT_FUSE;
}

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

/* The FUSE mount starts with the first disk that needs it. */
static int fuse_transport(struct daemon *daemon, struct transport_fuse **out, char *why)
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
	}
	*out = daemon->fuse;
	pthread_mutex_unlock(&daemon->fuse_lock);
	return r;
}

/* What a proxy disk needs to reconnect to its server: the address, and (TCP) the
 * peer the creator's own connection reached (getpeername at CREATE), the only one
 * a reconnect may reach, whatever address the creator claimed.  The proxy backend calls this in a thread that has
 * dropped to the creator's whole identity (caller_identity_run), so a unix
 * socket is reached with the creator's rights, never root's. */
struct proxy_reconnect {
	uint32_t kind;
	char address[IMDISK_PATH_MAX];
	struct stream_peer peer;
};

static int proxy_reconnect(void *opaque, int timeout_ms)
{
	struct proxy_reconnect *target = opaque;

	if (target->kind == IMDISK_PROXY_TYPE_TCP)
		return stream_connect_tcp_within(target->address, timeout_ms, &target->peer);
	if (target->kind != IMDISK_PROXY_TYPE_DIRECT)
		return -EOPNOTSUPP; /* a serial line is not reopened behind the caller's back */
	return stream_connect_unix_within(target->address, timeout_ms, &target->peer);
}

/* Takes *sock (sets it to -1) when the backend keeps it: a stream proxy disk
 * that opened; a shared-memory one never does (its descriptor is a stray). */
static int open_proxy_backend(const struct daemon *daemon, struct disk *disk, int *sock,
			      const struct caller_identity *caller,
			      struct vdisk **out, char *why)
{
	struct imdisk_device *info = &disk->info;
	struct backend_proxy_options options = {
		.fd = *sock,
		.timeout_ms = daemon->proxy_timeout_ms,
		.read_only = (info->flags & IMDISK_OPTION_RO) != 0,
	};
	uint32_t kind = IMDISK_PROXY_TYPE(info->flags);
	int r;

	if (kind == IMDISK_PROXY_TYPE_SHM) {
		/* The section is opened by name: with the caller's identity, so that only a
		 * server the caller may use is reached, now and after a restart. */
		options.fd = -1;
		options.shm_name = info->image;
		options.identity = caller;
		r = backend_proxy_open(&options, out);
		if (r < 0)
			disk_fail(why, r == -ENOENT ? -EHOSTUNREACH : r, "cannot attach to the shared-memory server %s: %s",
				  info->image, strerror(-r));
		return r == -ENOENT ? -EHOSTUNREACH : r;
	}
	if (*sock < 0)
		return disk_fail(why, -EBADF, "a proxy disk needs a connected stream");
	if (kind == IMDISK_PROXY_TYPE_TCP || kind == IMDISK_PROXY_TYPE_DIRECT) {
		struct proxy_reconnect *target = calloc(1, sizeof(*target));
		const char *address = info->image;

		if (!target)
			return disk_fail(why, -ENOMEM, "out of memory");
		if (strncmp(address, "unix:", 5) == 0)
			address += 5;
		target->kind = kind;
		snprintf(target->address, sizeof(target->address), "%s", address);
		/* TCP: the peer the creator's connection reached, whatever address it
		 * claims.  A unix socket's peer name is whatever the server bound (devio
		 * binds a temporary name and renames it, so it changes at every restart):
		 * there the path and the creator's own rights are the guard. */
		target->peer.len = 0;
		if (kind == IMDISK_PROXY_TYPE_TCP && stream_peer_of(*sock, &target->peer) < 0) {
			free(target); /* no peer to pin (not a socket): no reconnecting either */
		} else {
			options.identity = caller;
			options.connect = proxy_reconnect;
			options.connect_opaque = target;
			disk->proxy_target = target;
		}
	}
	r = backend_proxy_open(&options, out);
	if (r == 0)
		*sock = -1; /* the backend's: closed with the disk (backend_proxy_open's rule) */
	if (r == -EBADMSG)
		disk_fail(why, r, "the proxy server %s asks for a request alignment outside 1..512", info->image);
	else if (r == -EINVAL)
		disk_fail(why, r, "the proxy server %s offers a disk of 65536 bytes or less", info->image);
	else if (r < 0)
		disk_fail(why, r, "the proxy server %s did not answer INFO: %s", info->image, strerror(-r));
	return r;
}

int disk_stack_build(const struct daemon *daemon, struct disk *disk, int *image_fd,
		     const struct caller_identity *caller, char *why)
{
	struct imdisk_device *info = &disk->info;
	struct vdisk *stack = NULL, *layer;
	uint64_t available;
	int r = 0;

	if (disk->memory) {
		stack = disk->memory;
	} else if (IMDISK_TYPE(info->flags) == IMDISK_TYPE_PROXY) {
		int no_descriptor = -1;

		r = open_proxy_backend(daemon, disk, image_fd ? image_fd : &no_descriptor, caller, &stack, why);
		if (r < 0)
			return r;
		disk->proxy = stack;
		if (stack->flags & VDISK_READ_ONLY)
			info->flags |= IMDISK_OPTION_RO;
	} else {
		int fd = dup(disk->backing_fd);

		if (fd < 0)
			return -errno;
		r = backend_file_open(fd, (info->flags & IMDISK_OPTION_RO) != 0, &stack);
		if (r < 0) {
			close(fd);
			return disk_fail(why, r, "cannot serve image %s: %s", info->image, strerror(-r));
		}
	}
	/* The part of the backend the disk shows: an image window, or a proxy's
	 * offset and size (ImDisk's client adds its image offset to every request). */
	if (!disk->memory) {
		available = stack->size > info->image_offset ? stack->size - info->image_offset : 0;
		if (info->size == 0)
			info->size = available;
		if (info->size == 0 || info->size > available) {
			r = disk_fail(why, -EINVAL, "offset %" PRIu64 " and size %" PRIu64 " do not fit in %s (%" PRIu64
				      " bytes)", info->image_offset, info->size, info->image, stack->size);
		} else if (info->image_offset != 0 || info->size != stack->size) {
			r = layer_window_open(stack, info->image_offset, info->size, &layer);
			if (r == 0)
				stack = layer;
		}
	}
	if (r == 0 && (info->flags & IMDISK_OPTION_BYTE_SWAP)) {
		r = layer_byteswap_open(stack, &layer);
		if (r == 0)
			stack = layer;
	}
	if (r == 0 && (info->flags & IMDISK_OPTION_RO)) {
		r = layer_readonly_open(stack, &layer);
		if (r == 0)
			stack = layer;
	}
	if (r < 0) {
		if (stack != disk->memory)
			vdisk_close(stack); /* the layers made so far, and their backend */
		disk->proxy = NULL;
		if (!why[0])
			disk_fail(why, r, "cannot build the disk: %s", strerror(-r));
		return r;
	}
	disk->stack = stack;
	return 0;
}

int disk_stack_publish(struct daemon *daemon, struct disk *disk, struct loop_setup *setup, char *why)
{
	struct transport_fuse *fuse;
	char path[PATH_MAX];
	int fd, r;

	r = fuse_transport(daemon, &fuse, why);
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
		r = -errno;
		transport_fuse_remove(fuse, disk->fuse_name);
		disk->fuse_name[0] = 0;
		return disk_fail(why, r, "cannot open %s: %s", path, strerror(-r));
	}
	setup->backing_fd = fd; /* the loop driver keeps its own reference */
	setup->offset = 0;
	setup->direct_io = true;
	return fd;
}

void disk_stack_unpublish(struct daemon *daemon, struct disk *disk)
{
	if (disk->fuse_name[0] && daemon->fuse)
		transport_fuse_remove(daemon->fuse, disk->fuse_name);
	disk->fuse_name[0] = 0;
}

int disk_stack_resized(struct daemon *daemon, struct disk *disk)
{
	if (!disk->fuse_name[0] || !daemon->fuse)
		return 0;
	return transport_fuse_resized(daemon->fuse, disk->fuse_name);
}

void disk_stack_stop(struct daemon *daemon)
{
	if (daemon->fuse)
		transport_fuse_stop(daemon->fuse);
	daemon->fuse = NULL;
}

void disk_stack_clean_stale_mount(const struct daemon *daemon)
{
	char directory[PATH_MAX];

	/* A FUSE mount left by a daemon that was killed serves nothing any more. */
	daemon_fuse_directory(daemon, directory, sizeof(directory));
	umount2(directory, MNT_DETACH);
}
