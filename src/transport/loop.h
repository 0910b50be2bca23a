/* The kernel loop driver as a silent library: attach a descriptor to a free
 * /dev/loopN, look at it, resize it, detach it.  imdiskd's fast path: a RAM disk
 * (memfd) or a plain image file goes straight to the kernel with no user-space hop. */
#ifndef IMDISK_TRANSPORT_LOOP_H
#define IMDISK_TRANSPORT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LOOP_TAG_SIZE 64 /* the kernel's LO_NAME_SIZE */

struct loop_setup {
	int backing_fd;
	uint64_t offset;
	uint64_t size_limit; /* 0: to the end of the backing file */
	uint32_t block_size; /* logical block size, 512..4096 */
	bool read_only;
	bool direct_io;
	/* Our ownership tag, kept by the kernel as lo_file_name (it no longer keeps
	 * lo_crypt_name); tools show sysfs's backing_file instead, so nothing is lost. */
	char tag[LOOP_TAG_SIZE];
};

struct loop_status {
	uint32_t number;
	uint64_t offset;
	uint64_t size_limit;
	uint32_t flags; /* LO_FLAGS_* */
	dev_t backing_device;
	uint64_t backing_inode;
	char tag[LOOP_TAG_SIZE];
};

/* Attach to a free loop device (retrying when another process takes it first);
 * the device number goes to *number. */
int loop_attach(const struct loop_setup *config, uint32_t *number);

/* The device path of loop number n. */
void loop_device_path(uint32_t number, char *buf, size_t size);

/* -ENXIO when nothing is attached. */
int loop_get_status(uint32_t number, struct loop_status *status);

/* Detach; when the device is still open the kernel detaches it on last close. */
int loop_detach(uint32_t number);

/* True when the device is in use: opened exclusively (mounted, swap), held by a
 * stacked device (device-mapper, md), or open in another process for longer than
 * half a second (a short open such as udev's probe is waited out). */
bool loop_is_busy(uint32_t number);

/* Flush the device's dirty buffers (fsync + BLKFLSBUF). */
int loop_flush(uint32_t number);

/* Re-read the backing size (after the file grew), or set a new size limit. */
int loop_set_capacity(uint32_t number);
int loop_set_size_limit(uint32_t number, uint64_t size_limit);

/* Make the block device read-only or writable (BLKROSET). */
int loop_set_read_only(uint32_t number, bool read_only);

/* Current size of the block device in bytes. */
int loop_get_size(uint32_t number, uint64_t *bytes);

/* 512-byte sectors written through the device since it was attached
 * (/sys/block/loopN/stat). */
int loop_sectors_written(uint32_t number, uint64_t *sectors);

#endif
