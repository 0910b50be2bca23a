/* The FUSE transport: every published disk is a regular file in a private FUSE
 * mount, and the kernel loop driver (direct I/O) on that file is the block device.
 *
 * We speak the kernel protocol (linux/fuse.h) ourselves instead of running
 * libfuse's session loop: on this project's test machine libfuse 3.14's request
 * loop topped out at 61-79k IOPS (4k random reads, queue depth 32, loop with
 * direct I/O on top) while a bare request loop reaches about twice that; its
 * loop, not FUSE, was the limit (docs/performance.md).
 *
 * The transport in files, along its seams:
 *   fuse_kernel_abi.h       the kernel's protocol, and our part of it (io_uring)
 *   fuse_files.c            the namespace: published disks as nodes
 *   fuse_handlers.c         one request: decode, do it, answer (any channel)
 *   fuse_disk_queue.c       a disk's own threads, for disks that may wait
 *   fuse_channel.h          how answers go back: reply now, or defer/complete
 *   fuse_channel_dev.c      the /dev/fuse channel
 *   fuse_channel_ring.c     the io_uring channel
 *   fuse_uring_switch.c     the kernel's enable_uring switch (for the caller)
 *   fuse.c (here)           mount, INIT, start and stop, publishing
 *
 * Which channel carries requests is chosen at INIT: io_uring when the kernel
 * offers it and this process can make rings, else /dev/fuse.
 *
 * A slow disk must not hold the others: the I/O of a disk that may wait (a
 * file, a proxy server: anything but memory) runs on that disk's own threads
 * (as many as the channel has workers), and the channel's threads
 * only hand it over; a RAM disk is served on the channel's threads, it never
 * waits.  On io_uring, a queue whose entries are all held by waiting requests
 * gets more (fuse_channel_ring.c).  What a stalled disk still shares with the
 * others: those entries past their limit (32 per queue and worker), and the
 * kernel's max_background for the connection (512 requests).
 */
#include "transport/fuse.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/trace.h"
#include "transport/fuse_channel_dev.h"
#include "transport/fuse_channel_ring.h"
#include "transport/fuse_files.h"
#include "transport/fuse_kernel_abi.h"

struct transport_fuse {
	int fd; /* the session descriptor (INIT, notifications, io_uring commands) */
	char *mountpoint;
	bool mounted;
	size_t page_size;
	size_t max_write;
	uint32_t proto_minor;
	bool use_uring;
	struct fuse_files files;
	struct fuse_dev_channel *dev;
	struct fuse_ring_channel *ring;
};

/* ---- INIT ---- */

static int transport_fuse_init_reply(struct transport_fuse *fuse, const struct fuse_in_header *in, const void *arg,
				     size_t arg_len)
{
	const struct fuse_init_in *init_in = arg;
	struct fuse_init_out init_out = { .major = FUSE_KERNEL_VERSION };
	struct fuse_out_header out = { .unique = in->unique };
	struct iovec iov[2] = {
		{ .iov_base = &out, .iov_len = sizeof(out) },
		{ .iov_base = &init_out, .iov_len = sizeof(init_out) },
	};
	uint32_t wanted = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES | FUSE_PARALLEL_DIROPS |
			  FUSE_ASYNC_DIO | FUSE_INIT_EXT;
	bool offered;
	int r;

	if (arg_len < 16 || init_in->major != FUSE_KERNEL_VERSION || init_in->minor < FUSE_ABI_MIN_MINOR) {
		/* A newer major is answered with ours (the kernel then retries);
		 * anything else we cannot serve. */
		trace(TRACE_FUSE, "INIT of protocol %u.%u refused", arg_len >= 8 ? init_in->major : 0,
		      arg_len >= 8 ? init_in->minor : 0);
		out.error = -EPROTO;
		r = fuse_dev_send(fuse->fd, iov, 1);
		if (r < 0)
			trace_dropped(TRACE_FUSE, "the INIT refusal", r);
		return -EPROTO;
	}
	fuse->proto_minor = init_in->minor < FUSE_KERNEL_MINOR_VERSION ? init_in->minor : FUSE_KERNEL_MINOR_VERSION;
	init_out.minor = fuse->proto_minor;
	init_out.max_readahead = init_in->max_readahead;
	init_out.flags = init_in->flags & wanted;
	/* The kernel offers io_uring only when root enabled it (enable_uring). */
	offered = (init_in->flags & FUSE_INIT_EXT) && arg_len >= sizeof(*init_in) &&
		  (init_in->flags2 & FUSE_ABI_OVER_IO_URING);
	if (offered && fuse_ring_usable()) {
		init_out.flags2 = FUSE_ABI_OVER_IO_URING;
		fuse->use_uring = true;
	}
	trace(TRACE_FUSE, "INIT: protocol 7.%u, channel %s", fuse->proto_minor,
	      fuse->use_uring ? "io_uring"
	      : offered	      ? "/dev/fuse (io_uring offered, but this process cannot make rings)"
			      : "/dev/fuse (the kernel does not offer io_uring)");
	init_out.max_background = FUSE_ABI_MAX_BACKGROUND;
	init_out.congestion_threshold = FUSE_ABI_MAX_BACKGROUND * 3 / 4;
	init_out.max_write = (uint32_t)fuse->max_write;
	init_out.time_gran = 1;
	init_out.max_pages = FUSE_ABI_MAX_PAGES;
	/* A direct-I/O file bypasses the page cache: loop's requests become FUSE
	 * requests one for one.  Parallel direct writes (7.38) lift the kernel's
	 * per-inode write lock, which would otherwise serialize every write. */
	fuse->files.open_flags = FOPEN_DIRECT_IO;
	if (fuse->proto_minor >= 38)
		fuse->files.open_flags |= FOPEN_PARALLEL_DIRECT_WRITES;
	return fuse_dev_send(fuse->fd, iov, 2);
}

/* The kernel queues INIT at mount time and holds every other request until it
 * is answered, so the first thing on the descriptor is INIT. */
static int transport_fuse_handshake(struct transport_fuse *fuse)
{
	size_t size = fuse->max_write + 2 * fuse->page_size;
	unsigned char *buf = malloc(size);
	const struct fuse_in_header *in = (const void *)buf;
	ssize_t n;
	int r;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		n = read(fuse->fd, buf, size);
		if (n < 0 && (errno == EINTR || errno == ENOENT))
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if ((size_t)n < sizeof(*in)) {
			r = -EPROTO;
			break;
		}
		if (in->opcode == FUSE_INIT) {
			r = transport_fuse_init_reply(fuse, in, in + 1, (size_t)n - sizeof(*in));
			break;
		} else {
			struct fuse_out_header out = { .error = -EIO, .unique = in->unique };
			struct iovec iov = { .iov_base = &out, .iov_len = sizeof(out) };

			r = fuse_dev_send(fuse->fd, &iov, 1);
			if (r < 0)
				trace_dropped(TRACE_FUSE, "an answer before INIT", r);
		}
	}
	free(buf);
	return r;
}

/* ---- start and stop ---- */

static int transport_fuse_mount_kernel(struct transport_fuse *fuse)
{
	char options[128];

	/* default_permissions: the kernel checks the 0600/0400 modes itself. */
	snprintf(options, sizeof(options),
		 "fd=%d,rootmode=%o,user_id=0,group_id=0,allow_other,default_permissions", fuse->fd,
		 (unsigned)FUSE_ABI_ROOT_MODE & S_IFMT);
	if (mount("imdisk", fuse->mountpoint, "fuse.imdisk", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) < 0)
		return -errno;
	fuse->mounted = true;
	return 0;
}

void transport_fuse_stop(struct transport_fuse *fuse)
{
	if (!fuse)
		return;
	/* Detach first, while the workers still answer whatever unmounting asks;
	 * closing the last descriptor then aborts the connection, so anything
	 * still holding a file (a loop device) gets errors, not a hang. */
	if (fuse->mounted && umount2(fuse->mountpoint, MNT_DETACH) < 0)
		trace_dropped(TRACE_FUSE, "unmounting the FUSE mount", -errno);
	/* The disks' threads answer through the channels: they end first. */
	fuse_files_drain_queues(&fuse->files);
	fuse_ring_channel_stop(fuse->ring);
	fuse_dev_channel_stop(fuse->dev);
	if (fuse->fd >= 0)
		close(fuse->fd);
	fuse_files_destroy(&fuse->files);
	free(fuse->mountpoint);
	free(fuse);
}

int transport_fuse_start(const char *mountpoint, unsigned workers, struct transport_fuse **out)
{
	struct transport_fuse *fuse;
	struct fuse_channel_config config;
	sigset_t all, old;
	long page_size = sysconf(_SC_PAGESIZE);
	int r;

	*out = NULL;
	if (!mountpoint || !*mountpoint)
		return -EINVAL;
	if (workers == 0)
		workers = 2;
	fuse = calloc(1, sizeof(*fuse));
	if (!fuse)
		return -ENOMEM;
	fuse->fd = -1;
	fuse->page_size = page_size > 0 ? (size_t)page_size : 4096;
	fuse->max_write = FUSE_ABI_MAX_PAGES * fuse->page_size;
	fuse_files_init(&fuse->files);
	/* As many as the channel has workers: a proxy disk keeps as many writes
	 * in flight (and so as many pool connections) as when the workers did
	 * them themselves. */
	fuse->files.disk_threads = workers;
	fuse->mountpoint = strdup(mountpoint);
	if (!fuse->mountpoint) {
		r = -ENOMEM;
		goto fail;
	}
	fuse->fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse->fd < 0) {
		r = -errno;
		goto fail;
	}
	r = transport_fuse_mount_kernel(fuse);
	if (r < 0)
		goto fail;
	r = transport_fuse_handshake(fuse);
	if (r < 0)
		goto fail;

	config = (struct fuse_channel_config){
		.session_fd = fuse->fd,
		.files = &fuse->files,
		.page_size = fuse->page_size,
		.max_write = fuse->max_write,
	};
	/* Our threads take no signals: those are the caller's to handle. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	/* With io_uring, /dev/fuse only carries FORGET and INTERRUPT: one worker. */
	r = fuse_dev_channel_start(&config, fuse->use_uring ? 1 : workers, &fuse->dev);
	if (r == 0 && fuse->use_uring)
		r = fuse_ring_channel_start(&config, workers, &fuse->ring);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto fail;
	*out = fuse;
	return 0;
fail:
	trace(TRACE_FUSE, "start in %s failed: %s", mountpoint, strerror(-r));
	transport_fuse_stop(fuse);
	return r;
}

/* ---- publishing ---- */

int transport_fuse_add(struct transport_fuse *fuse, const char *name, struct vdisk *disk, char *path,
		       size_t path_size)
{
	int len;

	if (!fuse || !disk || !fuse_files_name_valid(name))
		return -EINVAL;
	len = snprintf(path, path_size, "%s/%s", fuse->mountpoint, name);
	if (len < 0 || (size_t)len >= path_size)
		return -ENAMETOOLONG;
	return fuse_files_add(&fuse->files, name, disk);
}

static int transport_fuse_notify(struct transport_fuse *fuse, int code, const void *arg, size_t len,
				 const char *name)
{
	struct fuse_out_header out = { .error = code };
	struct iovec iov[3] = {
		{ .iov_base = &out, .iov_len = sizeof(out) },
		{ .iov_base = (void *)arg, .iov_len = len },
		{ .iov_base = (void *)name, .iov_len = name ? strlen(name) + 1 : 0 },
	};

	return fuse_dev_send(fuse->fd, iov, name ? 3 : 2);
}

int transport_fuse_remove(struct transport_fuse *fuse, const char *name)
{
	struct fuse_notify_inval_entry_out inval = { .parent = FUSE_ROOT_ID };
	int r;

	if (!fuse || !name)
		return -EINVAL;
	r = fuse_files_remove(&fuse->files, name);
	if (r < 0)
		return r;
	/* Outside the lock: the kernel takes the directory's lock for this, and a
	 * LOOKUP holding it may be waiting for ours.  A failure only means the
	 * name lingers in the dentry cache until looked up again (ENOENT then). */
	inval.namelen = (uint32_t)strlen(name);
	r = transport_fuse_notify(fuse, FUSE_NOTIFY_INVAL_ENTRY, &inval, sizeof(inval), name);
	if (r < 0)
		trace_dropped(TRACE_FUSE, "invalidating a removed name", r);
	return 0;
}

int transport_fuse_resized(struct transport_fuse *fuse, const char *name)
{
	struct fuse_notify_inval_inode_out inval = { .off = 0, .len = 0 };
	char path[PATH_MAX];
	struct stat st;
	int r;

	if (!fuse || !name)
		return -EINVAL;
	r = fuse_files_ino(&fuse->files, name, &inval.ino);
	if (r < 0)
		return r;
	r = transport_fuse_notify(fuse, FUSE_NOTIFY_INVAL_INODE, &inval, sizeof(inval), NULL);
	/* ENOENT: the kernel has no inode for it (never looked up): nothing cached. */
	if (r < 0 && r != -ENOENT)
		return r;
	/* The loop driver reads the inode's cached size on LOOP_SET_CAPACITY; the
	 * notification only marks it stale, a stat() fetches the new one. */
	if (snprintf(path, sizeof(path), "%s/%s", fuse->mountpoint, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) < 0)
		return -errno;
	return 0;
}
