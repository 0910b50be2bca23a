/* Device type and CHS geometry by ImDisk's rules (reference facts §5). */
#ifndef IMDISK_IMAGE_GEOMETRY_H
#define IMDISK_IMAGE_GEOMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct geometry {
	uint32_t device_type; /* IMDISK_DEVICE_TYPE_HD/FD/CD/RAW */
	uint32_t sector_size; /* bytes per sector */
	uint32_t sectors_per_track;
	uint32_t tracks_per_cylinder; /* heads */
	uint64_t cylinders;
};

/* The standard floppy whose size is exactly `bytes` (type FD, 512-byte sectors);
 * false when none is. */
bool geometry_floppy(uint64_t bytes, struct geometry *out);

/* A plausible FAT boot sector's geometry: bytes per sector, sectors per track and
 * heads (device_type and cylinders are left 0: they depend on the disk size).
 * False when `sector` (at least 512 bytes) is not one: it needs 0x55AA at 510, a
 * jump (0xEB or 0xE9) at 0, 512..4096 bytes per sector (a power of two), 1..63
 * sectors per track and 1..255 heads. */
bool geometry_from_boot_sector(const uint8_t *sector, size_t len, struct geometry *out);

/* True when the file name ends in .iso, .nrg or .bin (any case). */
bool geometry_name_is_cd(const char *name);

/* Choose type and geometry for a disk of `bytes`.
 * requested_type: IMDISK_DEVICE_TYPE_* or 0 for automatic.
 * name: the image name (or NULL), boot_sector: first 512 bytes at the image offset
 * (or NULL); sector_size, sectors_per_track, heads: 0 = by the rules.
 * Type: the requested one, else CD by name, else FD when the size is a standard
 * floppy's, else HD.  Geometry, each field taken from the first that gives it:
 * the explicit argument; a plausible FAT boot sector (not for CD or RAW); the
 * floppy table (type FD of a floppy size); the rules: 2048-byte sectors for CD,
 * 512 otherwise, 63 sectors per track, heads doubled from 1 up to 128 while there
 * are more than 128 cylinders, and 255 heads when 128 still leave more than 1024.
 * Cylinders = bytes / (sector size * sectors per track * heads), at least 1.
 * Returns 0 or -EINVAL (unknown type, sector size not 512/1024/2048/4096, more
 * than 255 sectors per track or heads: Linux's HDIO_GETGEO holds them in a byte). */
int geometry_choose(uint64_t bytes, uint32_t requested_type, const char *name,
		    const uint8_t *boot_sector, uint32_t sector_size, uint32_t sectors_per_track,
		    uint32_t heads, struct geometry *out);

#endif
