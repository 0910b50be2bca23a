#!/usr/bin/env bash
# -v N on an MBR image with two primaries and an extended partition holding two
# logical ones.  ImDisk numbers partitions in table order with the logical ones
# numbered where their extended entry stands (reference facts §6): here 1 and 2
# are the primaries, 3 and 4 the logical ones, and 5 does not exist.
. "$(dirname "$0")/functions.sh"
requires_root
requires sfdisk mkfs.ext4
start_daemon

img=$TEST_DIR/disk.img
truncate -s 64M "$img"
sfdisk --quiet "$img" <<'LAYOUT'
label: dos
unit: sectors
start=2048, size=16384, type=83
start=18432, size=20480, type=83
start=40960, size=81920, type=5
start=43008, size=12288, type=83
start=57344, size=16384, type=83
LAYOUT
# ImDisk number -> start and size in sectors.
declare -A start=([1]=2048 [2]=18432 [3]=43008 [4]=57344)
declare -A count=([1]=16384 [2]=20480 [3]=12288 [4]=16384)
# Fill every partition with its own random data (the tables stay untouched).
for n in 1 2 3 4; do
	random_file "$TEST_DIR/part$n" $((count[$n] * 512))
	dd if="$TEST_DIR/part$n" of="$img" bs=512 seek="${start[$n]}" conv=notrunc status=none
done
cp "$img" "$TEST_DIR/before"

for n in 1 2 3 4; do
	u=$(attach -f "$img" -v "$n")
	dev=$(unit_device "$u")
	expect_eq $((count[$n] * 512)) "$(blockdev --getsize64 "$dev")" "size of partition $n"
	expect_eq $((start[$n] * 512)) "$(disk_field "$u" offset)" "JSON offset of partition $n"
	cmp "$TEST_DIR/part$n" <(dev_read "$dev") || fail "-v $n does not show partition $n"
	imdisk -d -u "$u"
done
cmp "$TEST_DIR/before" "$img" || fail "reading the partitions changed the image"

# Partitions that do not exist.
for n in 5 9; do
	expect_error "partition" 12 imdisk -a -f "$img" -v "$n"
done
expect_eq "No virtual disks." "$(imdisk -l)" "list after the refused -v"
[ -z "$(losetup -j "$img")" ] || fail "a loop device is left on $img: $(losetup -j "$img")"

# Partition 2 formatted and mounted; nothing outside it is touched.
mnt=$TEST_DIR/mnt
u=$(attach -f "$img" -v 2 -p ext4 -m "$mnt")
expect_eq ext4 "$(findmnt -n -o FSTYPE --mountpoint "$mnt")" "file system of partition 2"
random_file "$mnt/file" 1M
cp "$mnt/file" "$TEST_DIR/file"
imdisk -d -m "$mnt"
mountpoint -q "$mnt" && fail "$mnt still mounted after -d -m"
expect_eq ext4 "$(blkid -p -o value -s TYPE -O $((18432 * 512)) "$img" 2>/dev/null || true)" "file system at partition 2's offset"
for n in 1 3 4; do
	cmp "$TEST_DIR/part$n" <(dd if="$img" bs=512 skip="${start[$n]}" count="${count[$n]}" status=none) ||
		fail "formatting partition 2 changed partition $n"
done
cmp -n 1048576 "$TEST_DIR/before" "$img" || fail "formatting partition 2 changed the MBR area"
u=$(attach -f "$img" -v 2 -m "$mnt")
cmp "$TEST_DIR/file" "$mnt/file" || fail "file on partition 2 differs after mounting again"
imdisk -d -m "$mnt"
