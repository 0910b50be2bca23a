/* libFuzzer harness for device type and geometry.  Input layout:
 *   0  u64 disk size          8  u8 requested type      9  u16 sector size
 *  11  u16 sectors per track 13  u16 heads             15  u8 bit 0: boot sector follows,
 *                                                               bit 1: a name follows
 *  16  512-byte boot sector (when bit 0), then the name (the rest, when bit 1).
 * The boot sector and name are copied to buffers of their exact size so that any
 * read past them is caught.  Whatever is chosen must be a usable geometry. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian.h"
#include "image/geometry.h"
#include "imdisk.h"

#define HEADER_SIZE 16
#define BOOT_SECTOR_SIZE 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct geometry g;
	uint8_t *boot = NULL;
	char *name = NULL;
	size_t pos = HEADER_SIZE;
	uint64_t bytes;
	int r;

	/* The parts that take any bytes get the whole input as well. */
	(void)geometry_from_boot_sector(data, size, &g);
	if (size < HEADER_SIZE)
		return 0;
	bytes = get_le64(data);
	(void)geometry_floppy(bytes, &g);
	if ((data[15] & 1) && size - pos >= BOOT_SECTOR_SIZE) {
		boot = malloc(BOOT_SECTOR_SIZE);
		if (!boot)
			return 0;
		memcpy(boot, data + pos, BOOT_SECTOR_SIZE);
		pos += BOOT_SECTOR_SIZE;
	}
	if (data[15] & 2) {
		name = malloc(size - pos + 1);
		if (!name) {
			free(boot);
			return 0;
		}
		memcpy(name, data + pos, size - pos);
		name[size - pos] = 0;
		(void)geometry_name_is_cd(name);
	}

	r = geometry_choose(bytes, data[8], name, boot, get_le16(data + 9), get_le16(data + 11),
			    get_le16(data + 13), &g);
	if (r == 0) {
		uint32_t type = g.device_type;
		if (type != IMDISK_DEVICE_TYPE_HD && type != IMDISK_DEVICE_TYPE_FD &&
		    type != IMDISK_DEVICE_TYPE_CD && type != IMDISK_DEVICE_TYPE_RAW)
			abort();
		if (g.sector_size < 512 || g.sector_size > 4096 || (g.sector_size & (g.sector_size - 1)))
			abort();
		if (g.sectors_per_track < 1 || g.sectors_per_track > 255 ||
		    g.tracks_per_cylinder < 1 || g.tracks_per_cylinder > 255 || g.cylinders < 1)
			abort();
	}
	free(boot);
	free(name);
	return 0;
}
