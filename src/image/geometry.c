/* Device type and CHS geometry by ImDisk's rules: see geometry.h. */
#include "image/geometry.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/endian.h"
#include "imdisk.h"

#define BOOT_SECTOR_SIZE 512
#define HD_SECTORS_PER_TRACK 63
#define HD_HEADS_DOUBLING_MAX 128
#define HD_HEADS_LARGE 255
#define HD_CYLINDERS_SMALL 128   /* double the heads while there are more cylinders */
#define HD_CYLINDERS_LARGE 1024  /* 128 heads leaving more cylinders: a large disk */
#define CHS_FIELD_MAX 255

struct floppy_format {
	uint32_t kib;
	uint32_t cylinders;
	uint32_t heads;
	uint32_t sectors_per_track;
};

/* Every row multiplies out to its size in 512-byte sectors (facts §5, corrected). */
static const struct floppy_format floppy_formats[] = {
	{2880, 80, 2, 36},
	{1722, 82, 2, 21},
	{1680, 80, 2, 21},
	{1440, 80, 2, 18},
	{820, 82, 2, 10},
	{720, 80, 2, 9},
	{1200, 80, 2, 15},
	{640, 80, 2, 8},
	{360, 40, 2, 9},
	{320, 40, 2, 8},
	{180, 40, 1, 9},
	{160, 40, 1, 8},
	{123264, 963, 8, 32},  /* LS-120 */
	{234752, 262, 32, 56}, /* LS-240 */
};

bool geometry_floppy(uint64_t bytes, struct geometry *out)
{
	for (size_t i = 0; i < sizeof(floppy_formats) / sizeof(floppy_formats[0]); i++) {
		const struct floppy_format *f = &floppy_formats[i];

		if ((uint64_t)f->kib * 1024 != bytes)
			continue;
		out->device_type = IMDISK_DEVICE_TYPE_FD;
		out->sector_size = 512;
		out->sectors_per_track = f->sectors_per_track;
		out->tracks_per_cylinder = f->heads;
		out->cylinders = f->cylinders;
		return true;
	}
	return false;
}

bool geometry_from_boot_sector(const uint8_t *sector, size_t len, struct geometry *out)
{
	uint32_t bytes_per_sector, sectors_per_track, heads;

	if (!sector || len < BOOT_SECTOR_SIZE)
		return false;
	if (sector[510] != 0x55 || sector[511] != 0xAA)
		return false;
	if (sector[0] != 0xEB && sector[0] != 0xE9)
		return false;
	/* BIOS parameter block: bytes per sector at 11, sectors per track at 24,
	 * heads at 26, all little-endian 16-bit. */
	bytes_per_sector = get_le16(sector + 11);
	sectors_per_track = get_le16(sector + 24);
	heads = get_le16(sector + 26);
	if (bytes_per_sector < 512 || bytes_per_sector > 4096 ||
	    (bytes_per_sector & (bytes_per_sector - 1)))
		return false;
	if (sectors_per_track < 1 || sectors_per_track > 63)
		return false;
	if (heads < 1 || heads > 255)
		return false;
	out->device_type = 0;
	out->sector_size = bytes_per_sector;
	out->sectors_per_track = sectors_per_track;
	out->tracks_per_cylinder = heads;
	out->cylinders = 0;
	return true;
}

bool geometry_name_is_cd(const char *name)
{
	static const char *const extensions[] = {".iso", ".nrg", ".bin"};
	size_t len;

	if (!name)
		return false;
	len = strlen(name);
	if (len < 4)
		return false;
	for (size_t i = 0; i < sizeof(extensions) / sizeof(extensions[0]); i++)
		if (strcasecmp(name + len - 4, extensions[i]) == 0)
			return true;
	return false;
}

static bool sector_size_is_valid(uint32_t sector_size)
{
	return sector_size == 512 || sector_size == 1024 || sector_size == 2048 || sector_size == 4096;
}

static bool device_type_is_valid(uint32_t type)
{
	return type == IMDISK_DEVICE_TYPE_AUTO || type == IMDISK_DEVICE_TYPE_HD ||
	       type == IMDISK_DEVICE_TYPE_FD || type == IMDISK_DEVICE_TYPE_CD ||
	       type == IMDISK_DEVICE_TYPE_RAW;
}

static uint64_t cylinders_of(uint64_t bytes, uint32_t sector_size, uint32_t sectors_per_track,
			     uint32_t heads)
{
	/* At most 4096 * 255 * 255: no overflow. */
	uint64_t cylinder_bytes = (uint64_t)sector_size * sectors_per_track * heads;
	uint64_t cylinders = bytes / cylinder_bytes;

	return cylinders ? cylinders : 1;
}

/* ImDisk's hard disk heads: double from 1 while the cylinders number more than 128,
 * up to 128 heads; a disk that still has more than 1024 cylinders gets 255. */
static uint32_t hd_heads(uint64_t bytes, uint32_t sector_size, uint32_t sectors_per_track)
{
	uint32_t heads = 1;

	while (heads < HD_HEADS_DOUBLING_MAX &&
	       cylinders_of(bytes, sector_size, sectors_per_track, heads) > HD_CYLINDERS_SMALL)
		heads *= 2;
	if (cylinders_of(bytes, sector_size, sectors_per_track, heads) > HD_CYLINDERS_LARGE)
		heads = HD_HEADS_LARGE;
	return heads;
}

int geometry_choose(uint64_t bytes, uint32_t requested_type, const char *name,
		    const uint8_t *boot_sector, uint32_t sector_size, uint32_t sectors_per_track,
		    uint32_t heads, struct geometry *out)
{
	struct geometry boot = {0}, floppy = {0}, g = {0};
	bool have_boot = false, is_floppy;
	uint32_t type = requested_type;

	if (!device_type_is_valid(type))
		return -EINVAL;
	if (sector_size && !sector_size_is_valid(sector_size))
		return -EINVAL;
	if (sectors_per_track > CHS_FIELD_MAX || heads > CHS_FIELD_MAX)
		return -EINVAL;

	if (type == IMDISK_DEVICE_TYPE_AUTO && geometry_name_is_cd(name))
		type = IMDISK_DEVICE_TYPE_CD;
	/* A CD's first sectors are not a FAT volume's (an isohybrid MBR can look
	 * like one), and RAW takes no advice from the contents. */
	if (type != IMDISK_DEVICE_TYPE_CD && type != IMDISK_DEVICE_TYPE_RAW && boot_sector)
		have_boot = geometry_from_boot_sector(boot_sector, BOOT_SECTOR_SIZE, &boot);
	is_floppy = geometry_floppy(bytes, &floppy);
	if (type == IMDISK_DEVICE_TYPE_AUTO)
		type = is_floppy ? IMDISK_DEVICE_TYPE_FD : IMDISK_DEVICE_TYPE_HD;
	g.device_type = type;

	if (have_boot) {
		g.sector_size = boot.sector_size;
		g.sectors_per_track = boot.sectors_per_track;
		g.tracks_per_cylinder = boot.tracks_per_cylinder;
	} else if (type == IMDISK_DEVICE_TYPE_FD && is_floppy) {
		g.sector_size = floppy.sector_size;
		g.sectors_per_track = floppy.sectors_per_track;
		g.tracks_per_cylinder = floppy.tracks_per_cylinder;
	} else {
		g.sector_size = type == IMDISK_DEVICE_TYPE_CD ? 2048 : 512;
		g.sectors_per_track = HD_SECTORS_PER_TRACK;
		g.tracks_per_cylinder = 0; /* by the rule, once the rest is known */
	}
	if (sector_size)
		g.sector_size = sector_size;
	if (sectors_per_track)
		g.sectors_per_track = sectors_per_track;
	if (heads)
		g.tracks_per_cylinder = heads;
	if (!g.tracks_per_cylinder)
		g.tracks_per_cylinder = hd_heads(bytes, g.sector_size, g.sectors_per_track);
	g.cylinders = cylinders_of(bytes, g.sector_size, g.sectors_per_track, g.tracks_per_cylinder);
	*out = g;
	return 0;
}
