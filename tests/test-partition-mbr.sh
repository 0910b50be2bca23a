#!/usr/bin/env bash
# -v N on an MBR image with two primaries and an extended partition holding two
# logical ones.  Partitions are numbered as Linux and fdisk number them, not in
# ImDisk's way (reference facts §6: logical ones numbered where their extended
# entry stands): a primary by its slot, 1-4, and the logical ones 5, 6, ... in
# EBR chain order.  Here 1 and 2 are the primaries, 5 and 6 the logical ones; 3
# (the extended entry itself), 4 (an empty slot), 7 and 9 do not exist.
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
# Partition number -> start and size in sectors.
parts="1 2 5 6"
declare -A start=([1]=2048 [2]=18432 [5]=43008 [6]=57344)
declare -A count=([1]=16384 [2]=20480 [5]=12288 [6]=16384)
# sfdisk itself names these partitions disk.img1, disk.img2, disk.img5 and
# disk.img6: the numbers -v takes are the ones the user sees.
sfdisk --json "$img" | python3 -c '
import json, sys
img = sys.argv[1]
want = {img + n: (int(s), int(c)) for n, s, c in (a.split(":") for a in sys.argv[2:])}
got = {p["node"]: (p["start"], p["size"]) for p in json.load(sys.stdin)["partitiontable"]["partitions"]
       if p["type"] not in ("5", "f", "85")}
sys.exit(0 if got == want else "sfdisk numbers the partitions %s, the test %s" % (got, want))' \
	"$img" $(for n in $parts; do echo "$n:${start[$n]}:${count[$n]}"; done) ||
	fail "the test's numbering is not sfdisk's"
# Fill every partition with its own random data (the tables stay untouched).
for n in $parts; do
	random_file "$TEST_DIR/part$n" $((count[$n] * 512))
	dd if="$TEST_DIR/part$n" of="$img" bs=512 seek="${start[$n]}" conv=notrunc status=none
done
cp "$img" "$TEST_DIR/before"

for n in $parts; do
	u=$(attach -f "$img" -v "$n")
	dev=$(unit_device "$u")
	expect_eq $((count[$n] * 512)) "$(blockdev --getsize64 "$dev")" "size of partition $n"
	expect_eq $((start[$n] * 512)) "$(disk_field "$u" offset)" "JSON offset of partition $n"
	cmp "$TEST_DIR/part$n" <(dev_read "$dev") || fail "-v $n does not show partition $n"
	imdisk -d -u "$u"
done
cmp "$TEST_DIR/before" "$img" || fail "reading the partitions changed the image"

# Partitions that do not exist: the extended entry, an empty slot, past the last
# logical one.
for n in 3 4 7 9; do
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
for n in 1 5 6; do
	cmp "$TEST_DIR/part$n" <(dd if="$img" bs=512 skip="${start[$n]}" count="${count[$n]}" status=none) ||
		fail "formatting partition 2 changed partition $n"
done
cmp -n 1048576 "$TEST_DIR/before" "$img" || fail "formatting partition 2 changed the MBR area"
u=$(attach -f "$img" -v 2 -m "$mnt")
cmp "$TEST_DIR/file" "$mnt/file" || fail "file on partition 2 differs after mounting again"
imdisk -d -m "$mnt"
