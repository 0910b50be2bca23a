/* Unit tests for device type and CHS geometry (src/image/geometry.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/endian.h"
#include "image/geometry.h"
#include "imdisk.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void assert_geometry(const struct geometry *g, uint32_t type, uint32_t sector_size,
			    uint32_t sectors_per_track, uint32_t heads, uint64_t cylinders)
{
	assert_int_equal(g->device_type, type);
	assert_int_equal(g->sector_size, sector_size);
	assert_int_equal(g->sectors_per_track, sectors_per_track);
	assert_int_equal(g->tracks_per_cylinder, heads);
	assert_int_equal(g->cylinders, cylinders);
}

static int choose(uint64_t bytes, uint32_t type, const char *name, const uint8_t *boot,
		  struct geometry *g)
{
	return geometry_choose(bytes, type, name, boot, 0, 0, 0, g);
}

static const struct {
	uint32_t kib, cylinders, heads, sectors_per_track;
} floppies[] = {
	{2880, 80, 2, 36}, {1722, 82, 2, 21}, {1680, 80, 2, 21}, {1440, 80, 2, 18},
	{820, 82, 2, 10},  {720, 80, 2, 9},   {1200, 80, 2, 15}, {640, 80, 2, 8},
	{360, 40, 2, 9},   {320, 40, 2, 8},   {180, 40, 1, 9},   {160, 40, 1, 8},
	{123264, 963, 8, 32}, {234752, 262, 32, 56},
};

static void test_every_floppy(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(floppies) / sizeof(floppies[0]); i++) {
		uint64_t bytes = floppies[i].kib * KiB;
		struct geometry g;

		/* The table itself multiplies out to the size. */
		assert_int_equal((uint64_t)floppies[i].cylinders * floppies[i].heads *
					 floppies[i].sectors_per_track * 512,
				 bytes);
		assert_true(geometry_floppy(bytes, &g));
		assert_geometry(&g, IMDISK_DEVICE_TYPE_FD, 512, floppies[i].sectors_per_track,
				floppies[i].heads, floppies[i].cylinders);
		/* And automatic selection picks it. */
		memset(&g, 0, sizeof(g));
		assert_int_equal(choose(bytes, 0, "floppy.img", NULL, &g), 0);
		assert_geometry(&g, IMDISK_DEVICE_TYPE_FD, 512, floppies[i].sectors_per_track,
				floppies[i].heads, floppies[i].cylinders);
		/* One byte off is no floppy. */
		assert_false(geometry_floppy(bytes + 1, &g));
		assert_false(geometry_floppy(bytes - 512, &g));
	}
}

static void test_not_floppies(void **state)
{
	struct geometry g;

	(void)state;
	assert_false(geometry_floppy(0, &g));
	assert_false(geometry_floppy(1440 * 1000, &g));
	assert_false(geometry_floppy(10 * MiB, &g));
	/* 640 KiB is 80x2x8, not upstream's row. */
	assert_true(geometry_floppy(640 * KiB, &g));
	assert_int_equal(g.cylinders * g.tracks_per_cylinder * g.sectors_per_track * 512, 640 * KiB);
}

static void test_cd_names(void **state)
{
	static const char *const cd[] = {
		"disk.iso", "DISK.ISO", "a.Iso", "image.nrg", "IMAGE.NRG", "x.bin", "/tmp/y.BiN",
		"dir.d/z.iso",
	};
	static const char *const not_cd[] = {
		"disk.img", "iso", "disk.iso.gz", "diskiso", "disk.is", "disk.isoo", "x.bin ",
		"", "a.cue", "nrg", "bin",
	};
	struct geometry g;

	(void)state;
	for (size_t i = 0; i < sizeof(cd) / sizeof(cd[0]); i++)
		if (!geometry_name_is_cd(cd[i]))
			fail_msg("\"%s\" not a CD", cd[i]);
	for (size_t i = 0; i < sizeof(not_cd) / sizeof(not_cd[0]); i++)
		if (geometry_name_is_cd(not_cd[i]))
			fail_msg("\"%s\" taken for a CD", not_cd[i]);
	assert_false(geometry_name_is_cd(NULL));

	/* A CD gets 2048-byte sectors, even at a floppy's size. */
	assert_int_equal(choose(700 * MiB, 0, "live.iso", NULL, &g), 0);
	assert_int_equal(g.device_type, IMDISK_DEVICE_TYPE_CD);
	assert_int_equal(g.sector_size, 2048);
	assert_int_equal(g.cylinders, 700 * MiB / (2048ull * g.sectors_per_track * g.tracks_per_cylinder));
	assert_int_equal(choose(1440 * KiB, 0, "small.iso", NULL, &g), 0);
	assert_int_equal(g.device_type, IMDISK_DEVICE_TYPE_CD);
	/* A requested type beats the name. */
	assert_int_equal(choose(10 * MiB, IMDISK_DEVICE_TYPE_HD, "live.iso", NULL, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 63, 4, 81);
}

/* A FAT boot sector with the given BPB geometry. */
static void make_boot_sector(uint8_t *sector, uint16_t bytes_per_sector, uint16_t sectors_per_track,
			     uint16_t heads)
{
	memset(sector, 0, 512);
	sector[0] = 0xEB;
	sector[1] = 0x3C;
	sector[2] = 0x90;
	memcpy(sector + 3, "MSWIN4.1", 8);
	put_le16(sector + 11, bytes_per_sector);
	sector[13] = 1;
	put_le16(sector + 24, sectors_per_track);
	put_le16(sector + 26, heads);
	sector[510] = 0x55;
	sector[511] = 0xAA;
}

static void test_boot_sector(void **state)
{
	uint8_t sector[512];
	struct geometry g;

	(void)state;
	make_boot_sector(sector, 512, 18, 2);
	assert_true(geometry_from_boot_sector(sector, sizeof(sector), &g));
	assert_int_equal(g.sector_size, 512);
	assert_int_equal(g.sectors_per_track, 18);
	assert_int_equal(g.tracks_per_cylinder, 2);

	sector[0] = 0xE9;
	assert_true(geometry_from_boot_sector(sector, sizeof(sector), &g));
	for (uint16_t bps = 512; bps <= 4096; bps *= 2) {
		make_boot_sector(sector, bps, 63, 255);
		assert_true(geometry_from_boot_sector(sector, sizeof(sector), &g));
		assert_int_equal(g.sector_size, bps);
	}
	make_boot_sector(sector, 512, 1, 1);
	assert_true(geometry_from_boot_sector(sector, sizeof(sector), &g));
}

static void test_bad_boot_sectors(void **state)
{
	static const struct {
		uint16_t bytes_per_sector, sectors_per_track, heads;
	} bad_bpb[] = {
		{0, 18, 2}, {256, 18, 2}, {768, 18, 2}, {1536, 18, 2}, {8192, 18, 2}, {513, 18, 2},
		{512, 0, 2}, {512, 64, 2}, {512, 0xFFFF, 2},
		{512, 18, 0}, {512, 18, 256}, {512, 18, 0xFFFF},
	};
	uint8_t sector[512];
	struct geometry g;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_bpb) / sizeof(bad_bpb[0]); i++) {
		make_boot_sector(sector, bad_bpb[i].bytes_per_sector, bad_bpb[i].sectors_per_track,
				 bad_bpb[i].heads);
		if (geometry_from_boot_sector(sector, sizeof(sector), &g))
			fail_msg("BPB case %zu accepted", i);
	}
	make_boot_sector(sector, 512, 18, 2);
	sector[0] = 0x00; /* no jump */
	assert_false(geometry_from_boot_sector(sector, sizeof(sector), &g));
	sector[0] = 0xEB;
	sector[511] = 0x00; /* no signature */
	assert_false(geometry_from_boot_sector(sector, sizeof(sector), &g));
	sector[511] = 0xAA;
	assert_false(geometry_from_boot_sector(sector, 511, &g));
	assert_false(geometry_from_boot_sector(NULL, 512, &g));
	memset(sector, 0, sizeof(sector));
	assert_false(geometry_from_boot_sector(sector, sizeof(sector), &g));
}

static void test_boot_sector_in_choose(void **state)
{
	uint8_t sector[512];
	struct geometry g;

	(void)state;
	/* A hard disk image whose FAT volume says 32 sectors, 16 heads. */
	make_boot_sector(sector, 512, 32, 16);
	assert_int_equal(choose(10 * MiB, 0, "disk.img", sector, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 32, 16, 40);
	/* At a floppy's size it is a floppy, with the boot sector's geometry. */
	make_boot_sector(sector, 512, 9, 2);
	assert_int_equal(choose(1440 * KiB, 0, NULL, sector, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_FD, 512, 9, 2, 160);
	/* Its sector size counts too, unless one is asked for. */
	make_boot_sector(sector, 4096, 63, 255);
	assert_int_equal(choose(1 * GiB, 0, NULL, sector, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 4096, 63, 255, GiB / (4096 * 63 * 255));
	assert_int_equal(geometry_choose(1 * GiB, 0, NULL, sector, 512, 0, 0, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 63, 255, GiB / (512 * 63 * 255));
	/* CDs and RAW disks ignore it. */
	assert_int_equal(choose(1 * GiB, 0, "x.iso", sector, &g), 0);
	assert_int_equal(g.sector_size, 2048);
	assert_int_equal(choose(1 * GiB, IMDISK_DEVICE_TYPE_RAW, NULL, sector, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_RAW, 512, 63, 128, 260);
	/* An implausible one is no advice at all. */
	make_boot_sector(sector, 512, 64, 2);
	assert_int_equal(choose(10 * MiB, 0, NULL, sector, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 63, 4, 81);
}

static void test_hard_disks(void **state)
{
	struct geometry g;

	(void)state;
	/* 20480 sectors: 325 cylinders with 1 head, 162 with 2, 81 with 4. */
	assert_int_equal(choose(10 * MiB, 0, "disk.img", NULL, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 63, 4, 81);
	/* 2097152 sectors: 128 heads still leave 260 cylinders, not above 1024. */
	assert_int_equal(choose(1 * GiB, 0, NULL, NULL, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 63, 128, 260);
	/* 128 heads would leave 26006 cylinders: a large disk gets 255. */
	assert_int_equal(choose(100 * GiB, 0, NULL, NULL, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 63, 255, 13054);
	/* Small disks: no doubling needed, and at least one cylinder. */
	assert_int_equal(choose(1 * MiB, 0, NULL, NULL, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 63, 1, 32);
	assert_int_equal(choose(0, 0, NULL, NULL, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 63, 1, 1);
	assert_int_equal(choose(4096, 0, NULL, NULL, &g), 0);
	assert_int_equal(g.cylinders, 1);
	/* A floppy size asked to be a hard disk follows the hard disk rules. */
	assert_int_equal(choose(1440 * KiB, IMDISK_DEVICE_TYPE_HD, NULL, NULL, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 63, 1, 45);
	/* A floppy asked for at an odd size gets hard disk geometry. */
	assert_int_equal(choose(10 * MiB, IMDISK_DEVICE_TYPE_FD, NULL, NULL, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_FD, 512, 63, 4, 81);
}

static void test_sector_sizes(void **state)
{
	struct geometry g;

	(void)state;
	assert_int_equal(geometry_choose(10 * MiB, 0, NULL, NULL, 1024, 0, 0, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 1024, 63, 2, 81);
	assert_int_equal(geometry_choose(10 * MiB, 0, NULL, NULL, 2048, 0, 0, &g), 0);
	assert_int_equal(g.sector_size, 2048);
	assert_int_equal(geometry_choose(10 * MiB, 0, NULL, NULL, 4096, 0, 0, &g), 0);
	assert_int_equal(g.sector_size, 4096);
	/* A CD may be asked for 512-byte sectors. */
	assert_int_equal(geometry_choose(10 * MiB, 0, "a.iso", NULL, 512, 0, 0, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_CD, 512, 63, 4, 81);
	/* A floppy with 1024-byte sectors keeps the table's tracks. */
	assert_int_equal(geometry_choose(1440 * KiB, 0, NULL, NULL, 1024, 0, 0, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_FD, 1024, 18, 2, 40);

	static const uint32_t bad[] = {1, 256, 511, 513, 768, 3000, 8192, 65536, UINT32_MAX};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(geometry_choose(10 * MiB, 0, NULL, NULL, bad[i], 0, 0, &g), -EINVAL);
}

static void test_raw(void **state)
{
	struct geometry g;

	(void)state;
	assert_int_equal(choose(10 * MiB, IMDISK_DEVICE_TYPE_RAW, "x.iso", NULL, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_RAW, 512, 63, 4, 81);
	assert_int_equal(choose(1440 * KiB, IMDISK_DEVICE_TYPE_RAW, NULL, NULL, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_RAW, 512, 63, 1, 45);
	assert_int_equal(geometry_choose(10 * MiB, IMDISK_DEVICE_TYPE_RAW, NULL, NULL, 4096, 0, 0, &g), 0);
	assert_int_equal(g.sector_size, 4096);
}

static void test_explicit_geometry(void **state)
{
	uint8_t sector[512];
	struct geometry g;

	(void)state;
	assert_int_equal(geometry_choose(10 * MiB, 0, NULL, NULL, 0, 32, 0, &g), 0);
	/* 20480 sectors / 32: 640 cylinders, 2 heads 320, 4 heads 160, 8 heads 80. */
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 32, 8, 80);
	assert_int_equal(geometry_choose(10 * MiB, 0, NULL, NULL, 0, 0, 16, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 63, 16, 20);
	assert_int_equal(geometry_choose(10 * MiB, 0, NULL, NULL, 0, 32, 16, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 32, 16, 40);
	/* Explicit values beat the floppy table and the boot sector. */
	assert_int_equal(geometry_choose(1440 * KiB, 0, NULL, NULL, 0, 9, 0, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_FD, 512, 9, 2, 160);
	make_boot_sector(sector, 512, 32, 16);
	assert_int_equal(geometry_choose(10 * MiB, 0, NULL, sector, 0, 0, 64, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_HD, 512, 32, 64, 10);
	assert_int_equal(geometry_choose(10 * MiB, 0, NULL, NULL, 0, 255, 255, &g), 0);
	assert_int_equal(g.cylinders, 1);

	assert_int_equal(geometry_choose(10 * MiB, 0, NULL, NULL, 0, 256, 0, &g), -EINVAL);
	assert_int_equal(geometry_choose(10 * MiB, 0, NULL, NULL, 0, 0, 256, &g), -EINVAL);
	assert_int_equal(geometry_choose(10 * MiB, 0, NULL, NULL, 0, UINT32_MAX, UINT32_MAX, &g),
			 -EINVAL);
}

static void test_bad_types(void **state)
{
	struct geometry g;

	(void)state;
	assert_int_equal(choose(10 * MiB, 0x50, NULL, NULL, &g), -EINVAL);
	assert_int_equal(choose(10 * MiB, 0x11, NULL, NULL, &g), -EINVAL);
	assert_int_equal(choose(10 * MiB, IMDISK_DEVICE_TYPE_HD | IMDISK_OPTION_RO, NULL, NULL, &g),
			 -EINVAL);
	assert_int_equal(choose(10 * MiB, IMDISK_DEVICE_TYPE_CD, NULL, NULL, &g), 0);
	assert_geometry(&g, IMDISK_DEVICE_TYPE_CD, 2048, 63, 1, 81);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_floppy),
		cmocka_unit_test(test_not_floppies),
		cmocka_unit_test(test_cd_names),
		cmocka_unit_test(test_boot_sector),
		cmocka_unit_test(test_bad_boot_sectors),
		cmocka_unit_test(test_boot_sector_in_choose),
		cmocka_unit_test(test_hard_disks),
		cmocka_unit_test(test_sector_sizes),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_explicit_geometry),
		cmocka_unit_test(test_bad_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
