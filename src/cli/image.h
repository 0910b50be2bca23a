/* The image file behind a disk, opened with the caller's rights (imdiskd never
 * opens paths), created when missing, and searched for the window to attach:
 * -b offset, -b auto, -v partition. */
#ifndef IMDISK_CLI_IMAGE_H
#define IMDISK_CLI_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/failure.h"
#include "imdisk.h"

struct image {
	int fd;                       /* -1 when closed */
	char path[IMDISK_PATH_MAX];   /* absolute: the daemon and -e may reopen it */
	uint64_t size;                /* bytes */
	bool read_only;               /* opened O_RDONLY */
	bool created;                 /* made by this run: removed again on failure */
	bool block_device;
};

#define IMAGE_CLOSED {.fd = -1}

/* Open an existing image, read-write unless `read_only`.  A read-write open the
 * file refuses (EACCES, EROFS, EPERM) falls back to read-only with a note when
 * `may_fall_back`.  Failures are recorded (STEP_IMAGE). */
int image_open(struct image *img, const char *path, bool read_only, bool may_fall_back);

/* Create a new image of `size` bytes: allocated, or sparse when asked (or when the
 * file system cannot allocate ahead).  Never replaces an existing file. */
int image_create(struct image *img, const char *path, uint64_t size, bool sparse);

/* -b auto: the offset the name suggests (.nrg 307200, .sdi 4096), then partition 1
 * of a table found there.  *size is the partition's size, or 0 for "the rest". */
int image_auto_offset(const struct image *img, uint64_t *offset, uint64_t *size);

/* -v N: partition N of the table at `base`, as an absolute offset and a size.
 * Failures are recorded (STEP_PARTITION: exit 12 when there is no such partition). */
int image_partition(const struct image *img, uint64_t base, uint32_t sector_size,
		    uint32_t number, uint64_t *offset, uint64_t *size);

/* Make the regular file open on `fd` at least `end` bytes long, with our own rights
 * (so quotas and reserved blocks hold: imdiskd never extends a caller's file):
 * allocated, or a hole when `sparse`.  A block device, or a file long enough
 * already, is left as it is.  Failures are recorded under `step`. */
int image_extend(int fd, const char *path, uint64_t end, bool sparse, enum cli_step step);

void image_close(struct image *img);

/* Close, and delete the file if this run created it: a failed attach leaves
 * nothing behind. */
void image_discard(struct image *img);

#endif
