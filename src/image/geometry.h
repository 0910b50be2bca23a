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

/* The standard floppy whose size is exactly `bytes`; false when none is. */
bool geometry_floppy(uint64_t bytes, struct geometry *out);

/* A plausible FAT boot sector's geometry (bytes per sector, sectors per track,
 * heads); false when sector (512 bytes) is not one. */
bool geometry_from_boot_sector(const uint8_t *sector, size_t len, struct geometry *out);

/* True when the file name ends in .iso, .nrg or .bin (any case). */
bool geometry_name_is_cd(const char *name);

/* Choose type and geometry for a disk of `bytes`.
 * requested_type: IMDISK_DEVICE_TYPE_* or 0 for automatic.
 * name: the image name (or NULL), boot_sector: first 512 bytes at the image offset
 * (or NULL); sector_size, sectors_per_track, heads: 0 = by the rules.
 * Order: CD by name, FAT boot sector, floppy size, else HD. CD gets 2048-byte
 * sectors; HD 512, 63 sectors per track, heads doubled from 1 up to 128 while
 * cylinders > 128, 255 for large disks.  Returns 0 or -EINVAL (bad sector size). */
int geometry_choose(uint64_t bytes, uint32_t requested_type, const char *name,
		    const uint8_t *boot_sector, uint32_t sector_size, uint32_t sectors_per_track,
		    uint32_t heads, struct geometry *out);

#endif
