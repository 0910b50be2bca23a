/* What holds a disk's bytes, one function per kind of disk with one signature
 * (disk_backing_open_fn, daemon.h): memory (a memfd, perhaps preloaded from an
 * image), an image file (the caller's descriptor), or a proxy server (a stream or
 * a shared-memory section, or an NBD server on a stream: a proxy disk whose
 * image is an NBD URI).  Each sets disk->backend to the vdisk a stack would be
 * built on (NULL for an image file the loop driver serves directly), and the
 * first sector where it can be read without one. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/fdio.h"
#include "common/nbd_uri.h"
#include "common/size.h"
#include "common/stream_connect.h"
#include "common/trace.h"
#include "daemon/daemon.h"

/* Size of a regular file or block device. */
static int descriptor_size(int fd, const struct stat *st, uint64_t *size)
{
	if (S_ISREG(st->st_mode)) {
		*size = (uint64_t)st->st_size;
		return 0;
	}
	if (S_ISBLK(st->st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	return -EINVAL;
}

static int check_image_descriptor(int fd, struct stat *st, uint64_t *size, const char *name, char *why)
{
	if (fstat(fd, st) < 0)
		return disk_fail(why, -errno, "cannot examine image %s: %s", name, strerror(errno));
	if (S_ISDIR(st->st_mode))
		return disk_fail(why, -EISDIR, "image %s is a directory", name);
	if (descriptor_size(fd, st, size) < 0)
		return disk_fail(why, -EINVAL, "image %s is neither a regular file nor a block device", name);
	return 0;
}

/* Charge a creating RAM disk to its owner, within the owner's limits. */
static int reserve_memory(struct daemon *daemon, struct disk *disk, const struct caller_identity *caller, char *why)
{
	bool locked = disk_is_locked_memory(disk->info.flags);
	uint64_t memlock_limit = locked ? disk_access_memlock_limit(caller) : UINT64_MAX;
	int r;

	pthread_mutex_lock(&daemon->table.lock);
	r = disk_access_check_memory(daemon, caller, disk->info.size, locked, memlock_limit, why);
	if (r == 0)
		disk->ram_reserved = disk->info.size;
	pthread_mutex_unlock(&daemon->table.lock);
	return r;
}

/* A RAM disk: a memfd of the asked size, optionally preloaded from an image and
 * locked in memory (ImDisk's AWE).  The image descriptor is only read. */
static int open_memory_backing(struct daemon *daemon, struct disk *disk, int *image_fd_owned,
			       const struct caller_identity *caller, struct boot_sector *boot, char *why)
{
	struct imdisk_device *info = &disk->info;
	uint64_t available = 0, image_size = 0, preload = 0;
	int image_fd = *image_fd_owned;
	struct stat st;
	int r;

	if (image_fd >= 0) {
		r = check_image_descriptor(image_fd, &st, &image_size, info->image, why);
		if (r < 0)
			return r;
		if (info->image_offset >= image_size)
			return disk_fail(why, -EINVAL, "offset %" PRIu64 " is past the end of image %s (%" PRIu64 " bytes)",
				    info->image_offset, info->image, image_size);
		preload = image_size - info->image_offset;
		if (info->size == 0)
			info->size = preload;
		if (preload > info->size)
			preload = info->size;
	}
	if (info->size == 0)
		return disk_fail(why, -EINVAL, "a RAM disk needs a size (-s)");
	if (size_free_memory(&available) == 0 && info->size > available)
		return disk_fail(why, -ENOMEM, "not enough memory: %" PRIu64 " bytes asked, %" PRIu64 " available",
			    info->size, available);
	r = reserve_memory(daemon, disk, caller, why);
	if (r < 0)
		return r;
	r = backend_memory_open(info->size, &disk->memory);
	if (r < 0)
		return disk_fail(why, r, "cannot allocate a RAM disk of %" PRIu64 " bytes: %s", info->size, strerror(-r));
	disk->backend = disk->memory;
	if (preload) {
		r = backend_memory_preload(disk->memory, image_fd, info->image_offset, preload);
		if (r < 0)
			return disk_fail(why, r, "cannot load image %s into memory: %s", info->image, strerror(-r));
		boot->present = pread_full(image_fd, boot->bytes, BOOT_SECTOR_SIZE, (off_t)info->image_offset) == 0;
	}
	if (IMDISK_FILE_TYPE(info->flags) == IMDISK_FILE_TYPE_AWEALLOC) {
		r = backend_memory_lock(disk->memory);
		if (r < 0)
			return disk_fail(why, r == -EPERM ? r : -ENOMEM, "cannot lock %" PRIu64 " bytes of memory: %s",
				    info->size, strerror(-r));
	}
	return 0;
}

/* An image file disk: the caller's descriptor, with its access mode deciding
 * read-only, and an exclusive lock unless the image is shared.  Takes the
 * descriptor (*image_fd_owned = -1) on success only.  Served in user space, the
 * image is also a file backend (over its own duplicate of the descriptor). */
static int open_file_backing(struct daemon *daemon, struct disk *disk, int *image_fd_owned,
			     const struct caller_identity *caller, struct boot_sector *boot, char *why)
{
	struct imdisk_device *info = &disk->info;
	int image_fd = *image_fd_owned;
	uint64_t image_size, end;
	struct stat st;
	int fd, r;

	(void)daemon;
	(void)caller;
	if (image_fd < 0)
		return disk_fail(why, -EBADF, "an image file disk needs the image's descriptor");
	r = check_image_descriptor(image_fd, &st, &image_size, info->image, why);
	if (r < 0)
		return r;
	if ((fcntl(image_fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
		info->flags |= IMDISK_OPTION_RO;
	if (info->image_offset > image_size || (info->image_offset == image_size && info->size == 0))
		return disk_fail(why, -EINVAL, "offset %" PRIu64 " is past the end of image %s (%" PRIu64 " bytes)",
			    info->image_offset, info->image, image_size);
	if (info->size == 0)
		info->size = image_size - info->image_offset;
	if (__builtin_add_overflow(info->image_offset, info->size, &end))
		return disk_fail(why, -EINVAL, "offset plus size overflows");
	/* The caller extends its image with its own rights (quotas and reserved blocks
	 * hold); imdiskd, running as root, never writes a caller's file's size. */
	if (end > image_size)
		return disk_fail(why, -EINVAL, "image %s is %" PRIu64 " bytes: too small for offset %" PRIu64
			    " plus size %" PRIu64 " (extend it first)", info->image, image_size, info->image_offset,
			    info->size);
	/* Readers share an image (two read-only partitions of one disk, say); a writer
	 * has it alone unless asked to share (-o shared). */
	if (flock(image_fd, ((info->flags & (IMDISK_SHARED_IMAGE | IMDISK_OPTION_RO)) ? LOCK_SH : LOCK_EX) |
				    LOCK_NB) < 0)
		return disk_fail(why, -EBUSY, "image %s is in use by another disk (-o shared shares it)", info->image);
	if (disk_needs_userspace(info)) {
		fd = dup(image_fd);
		if (fd < 0)
			return disk_fail(why, -errno, "cannot serve image %s: %s", info->image, strerror(errno));
		r = backend_file_open(fd, (info->flags & IMDISK_OPTION_RO) != 0, &disk->backend);
		if (r < 0) {
			close(fd);
			return disk_fail(why, r, "cannot serve image %s: %s", info->image, strerror(-r));
		}
	}
	boot->present = pread_full(image_fd, boot->bytes, BOOT_SECTOR_SIZE, (off_t)info->image_offset) == 0;
	disk->backing_fd = image_fd;
	*image_fd_owned = -1; /* the disk's now */
	return 0;
}

static int proxy_reconnect(void *opaque, int timeout_ms)
{
	struct proxy_reconnect *target = opaque;

	if (target->kind == IMDISK_PROXY_TYPE_TCP)
		return stream_connect_tcp_within(target->address, timeout_ms, &target->peer);
	if (target->kind != IMDISK_PROXY_TYPE_DIRECT)
		return -EOPNOTSUPP; /* a serial line is not reopened behind the caller's back */
	return stream_connect_unix_within(target->address, timeout_ms, &target->peer);
}

/* An NBD disk: the caller connected the stream (imdiskd never opens an address
 * for a caller); the export name comes from the URI the caller gave as the
 * image.  Takes *sock (sets it to -1) when the backend keeps it. */
static int open_nbd_backend(const struct daemon *daemon, struct disk *disk, int *sock,
			    const struct caller_identity *caller, struct vdisk **out, char *why)
{
	struct imdisk_device *info = &disk->info;
	struct backend_nbd_options options = {
		.fd = *sock,
		.timeout_ms = daemon->proxy_timeout_ms,
		.read_only = (info->flags & IMDISK_OPTION_RO) != 0,
	};
	struct nbd_uri *uri = malloc(sizeof(*uri));
	const char *problem;
	int r;

	if (!uri)
		return disk_fail(why, -ENOMEM, "out of memory");
	r = nbd_uri_parse(info->image, uri, &problem);
	if (r < 0) {
		free(uri);
		return disk_fail(why, r, "%s: %s", info->image, problem);
	}
	if (*sock < 0) {
		free(uri);
		return disk_fail(why, -EBADF, "an NBD disk needs a connected stream");
	}
	options.export_name = uri->export_name;
	/* More connections for a multi-conn server, and new ones after the server
	 * went away: opened with the creator's rights, to the peer its own
	 * connection reached (TCP), as a proxy disk reconnects (proxy_reconnect). */
	struct proxy_reconnect *target = calloc(1, sizeof(*target));

	if (!target) {
		free(uri);
		return disk_fail(why, -ENOMEM, "out of memory");
	}
	target->kind = uri->unix_socket ? IMDISK_PROXY_TYPE_DIRECT : IMDISK_PROXY_TYPE_TCP;
	if (uri->unix_socket)
		snprintf(target->address, sizeof(target->address), "%s", uri->socket_path);
	else
		snprintf(target->address, sizeof(target->address), strchr(uri->host, ':') ? "[%s]:%s" : "%s:%s",
			 uri->host, uri->port);
	if (!uri->unix_socket && stream_peer_of(*sock, &target->peer) < 0) {
		free(target); /* no peer to pin: one connection */
		target = NULL;
	} else {
		options.connect = proxy_reconnect;
		options.connect_opaque = target;
		options.identity = caller;
	}
	r = backend_nbd_open(&options, out);
	if (r == 0)
		disk->proxy_target = target; /* freed after the backend that calls back with it */
	else
		free(target);
	if (r == 0)
		*sock = -1; /* the backend's: closed with the disk */
	else if (r == -ENOENT)
		disk_fail(why, r, "the NBD server %s has no export '%s'", info->image, uri->export_name);
	else if (r == -ETIMEDOUT)
		disk_fail(why, r, "the NBD server %s did not finish its handshake in time", info->image);
	else if (r == -EINVAL)
		disk_fail(why, r, "the NBD server %s offers an export of size 0", info->image);
	else if (r == -EBADMSG)
		disk_fail(why, r, "the NBD server %s refused the handshake (or speaks no NBD)", info->image);
	else
		disk_fail(why, r, "the NBD server %s failed the handshake: %s", info->image, strerror(-r));
	/* A reply errno imdisk would read as the daemon's own trouble (a refused
	 * or reset connection to imdiskd, a protocol version): the server's. */
	if (r == -ECONNREFUSED || r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN || r == -EPROTO ||
	    r == -EACCES || r == -EPERM)
		r = -EIO;
	free(uri);
	return r;
}

/* Takes *sock (sets it to -1) when the backend keeps it: a stream proxy disk
 * that opened; a shared-memory one never does (its descriptor is a stray). */
static int open_proxy_backend(const struct daemon *daemon, struct disk *disk, int *sock,
			      const struct caller_identity *caller, struct vdisk **out, char *why)
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
			trace(TRACE_DISK, "unit %" PRIu32 ": no peer to pin, so no reconnecting", info->unit);
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

/* A proxy disk: the server's disk, or the part of it the request's offset and
 * size say (ImDisk's client adds its image offset to every request). */
static int open_proxy_backing(struct daemon *daemon, struct disk *disk, int *image_fd_owned,
			      const struct caller_identity *caller, struct boot_sector *boot, char *why)
{
	struct imdisk_device *info = &disk->info;
	uint64_t available;
	int r;

	(void)boot; /* read from the stack, through the window */
	if (nbd_uri_is_nbd(info->image))
		r = open_nbd_backend(daemon, disk, image_fd_owned, caller, &disk->proxy, why);
	else
		r = open_proxy_backend(daemon, disk, image_fd_owned, caller, &disk->proxy, why);
	if (r < 0)
		return r;
	disk->backend = disk->proxy;
	if (disk->proxy->flags & VDISK_READ_ONLY)
		info->flags |= IMDISK_OPTION_RO;
	available = disk->proxy->size > info->image_offset ? disk->proxy->size - info->image_offset : 0;
	if (info->size == 0)
		info->size = available;
	if (info->size == 0 || info->size > available)
		return disk_fail(why, -EINVAL, "offset %" PRIu64 " and size %" PRIu64 " do not fit in %s (%" PRIu64
				 " bytes)", info->image_offset, info->size, info->image, disk->proxy->size);
	return 0;
}

disk_backing_open_fn *disk_backing_for(const struct imdisk_device *info)
{
	if (IMDISK_TYPE(info->flags) == IMDISK_TYPE_PROXY)
		return open_proxy_backing;
	if (disk_is_memory(info->flags))
		return open_memory_backing;
	return open_file_backing;
}
