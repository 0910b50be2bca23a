/* fuse-serve: mount the FUSE transport at a folder, publish one RAM disk in it,
 * print the file's path and serve until SIGTERM or SIGINT.  For tests and
 * benchmarks of the transport without the daemon.
 *
 *   fuse-serve [-w WORKERS] [-r] [-a] [-n NAME] MOUNTPOINT SIZE_BYTES
 *
 * -a serves plain anonymous memory (memcpy both ways) instead of the memory
 * backend (whose reads are pread() on a memfd): it measures the transport alone.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend.h"
#include "transport/fuse.h"

struct anon_disk {
	struct vdisk disk;
	unsigned char *map;
};

static int anon_read(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	memcpy(buf, ((struct anon_disk *)disk)->map + offset, len);
	return 0;
}

static int anon_write(struct vdisk *disk, const void *buf, size_t len, uint64_t offset)
{
	memcpy(((struct anon_disk *)disk)->map + offset, buf, len);
	return 0;
}

static void anon_close(struct vdisk *disk)
{
	munmap(((struct anon_disk *)disk)->map, disk->size);
	free(disk);
}

static const struct vdisk_ops anon_ops = {
	.name = "anonymous memory",
	.read = anon_read,
	.write = anon_write,
	.close = anon_close,
};

static int anon_open(uint64_t size, struct vdisk **out)
{
	struct anon_disk *anon = calloc(1, sizeof(*anon));

	if (!anon)
		return -ENOMEM;
	anon->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (anon->map == MAP_FAILED) {
		free(anon);
		return -ENOMEM;
	}
	anon->disk.ops = &anon_ops;
	anon->disk.size = size;
	anon->disk.flags = 0;
	*out = &anon->disk;
	return 0;
}

static void usage(FILE *to)
{
	fprintf(to, "usage: fuse-serve [-w WORKERS] [-r] [-a] [-n NAME] MOUNTPOINT SIZE_BYTES\n");
}

int main(int argc, char **argv)
{
	const char *name = "disk";
	unsigned workers = 2;
	bool read_only = false, anonymous = false;
	struct transport_fuse *fuse;
	struct vdisk *disk;
	char path[4096];
	sigset_t stop_signals;
	uint64_t size;
	char *end;
	int opt, sig, r;

	while ((opt = getopt(argc, argv, "w:rahn:")) != -1) {
		switch (opt) {
		case 'w':
			workers = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			read_only = true;
			break;
		case 'a':
			anonymous = true;
			break;
		case 'n':
			name = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	errno = 0;
	size = strtoull(argv[optind + 1], &end, 10);
	if (errno || *end || size == 0) {
		fprintf(stderr, "fuse-serve: bad size '%s'\n", argv[optind + 1]);
		return 2;
	}

	/* Blocked before any thread exists, so that only sigwait() sees them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	r = anonymous ? anon_open(size, &disk) : backend_memory_open(size, &disk);
	if (r < 0) {
		fprintf(stderr, "fuse-serve: RAM disk: %s\n", strerror(-r));
		return 1;
	}
	if (read_only)
		disk->flags |= VDISK_READ_ONLY;
	r = transport_fuse_start(argv[optind], workers, &fuse);
	if (r < 0) {
		fprintf(stderr, "fuse-serve: mount at %s: %s\n", argv[optind], strerror(-r));
		vdisk_close(disk);
		return 1;
	}
	r = transport_fuse_add(fuse, name, disk, path, sizeof(path));
	if (r < 0) {
		fprintf(stderr, "fuse-serve: publish %s: %s\n", name, strerror(-r));
		transport_fuse_stop(fuse);
		vdisk_close(disk);
		return 1;
	}
	printf("%s\n", path);
	fflush(stdout);

	sigwait(&stop_signals, &sig);

	r = transport_fuse_remove(fuse, name);
	if (r < 0)
		fprintf(stderr, "fuse-serve: remove %s: %s\n", name, strerror(-r));
	transport_fuse_stop(fuse);
	vdisk_close(disk);
	return r < 0 ? 1 : 0;
}
