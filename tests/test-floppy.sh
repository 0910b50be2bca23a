#!/usr/bin/env bash
# Device types: a 1440 KiB image is a removable floppy of 80 cylinders, 2 heads,
# 18 sectors per track; -o hd forces a hard disk; -S 4096 sets the logical sector.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

img=$TEST_DIR/floppy.img
truncate -s 1440K "$img"   # zeros: no FAT boot sector to take a geometry from

u=$(attach -f "$img")
dev=$(unit_device "$u")
expect_eq fd "$(disk_field "$u" type)" "JSON type of a 1440 KiB image"
expect_eq true "$(disk_field "$u" removable)" "JSON removable of a floppy"
expect_eq 80 "$(disk_field "$u" geometry.cylinders)" "floppy cylinders"
expect_eq 2 "$(disk_field "$u" geometry.heads)" "floppy heads"
expect_eq 18 "$(disk_field "$u" geometry.sectors_per_track)" "floppy sectors per track"
expect_eq 512 "$(blockdev --getss "$dev")" "floppy sector size"
expect_eq $((1440 * 1024)) "$(blockdev --getsize64 "$dev")" "floppy size"
imdisk -d -u "$u"

# The same size as a RAM disk is a floppy too.
u=$(attach -s 1440K)
expect_eq fd "$(disk_field "$u" type)" "JSON type of a 1440 KiB RAM disk"
imdisk -d -u "$u"

# -o hd: a hard disk, fixed, 63 sectors per track.
u=$(attach -f "$img" -o hd)
expect_eq hd "$(disk_field "$u" type)" "JSON type with -o hd"
expect_eq false "$(disk_field "$u" removable)" "JSON removable with -o hd"
expect_eq 63 "$(disk_field "$u" geometry.sectors_per_track)" "hd sectors per track"
imdisk -d -u "$u"

# -S 4096 on a 1 MiB RAM disk.
u=$(attach -s 1M -S 4096)
dev=$(unit_device "$u")
expect_eq 4096 "$(blockdev --getss "$dev")" "logical sector size with -S 4096"
expect_eq 4096 "$(disk_field "$u" sector_size)" "JSON sector_size with -S 4096"
expect_eq 1048576 "$(blockdev --getsize64 "$dev")" "size with -S 4096"
random_file "$TEST_DIR/data" 1M
dev_write "$TEST_DIR/data" "$dev"
cmp "$TEST_DIR/data" <(dev_read "$dev") || fail "data on the 4096-byte-sector disk differs"
imdisk -d -u "$u"
