#!/usr/bin/env bash
# -b OFFSET -s SIZE: a window of the image; -b auto on a .nrg name skips 307200
# bytes (the Nero header).
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

img=$TEST_DIR/disk.img
random_file "$img" 16M

u=$(attach -f "$img" -b 1M -s 8M)
dev=$(unit_device "$u")
expect_eq $((8 << 20)) "$(blockdev --getsize64 "$dev")" "size of the -b 1M -s 8M window"
expect_eq $((1 << 20)) "$(disk_field "$u" offset)" "JSON offset"
cmp <(dd if="$img" bs=1M skip=1 count=8 status=none) <(dev_read "$dev") ||
	fail "$dev is not bytes 1M..9M of the image"
# A write through the window lands at 1M + its offset, nowhere else.
cp "$img" "$TEST_DIR/expected"
random_file "$TEST_DIR/new" 1M
dev_write "$TEST_DIR/new" "$dev" 7
dd if="$TEST_DIR/new" of="$TEST_DIR/expected" bs=1M seek=8 conv=notrunc status=none
imdisk -d -u "$u"
cmp "$TEST_DIR/expected" "$img" || fail "a write through the window landed elsewhere"
expect_eq $((16 << 20)) "$(stat -c %s "$img")" "image size after the window was used"

# -b auto: .nrg images start after a 307200-byte header.  No MBR at the offset
# (bytes 510-511 zero), a size that is a whole number of 2048-byte CD sectors.
nrg=$TEST_DIR/disc.nrg
random_file "$nrg" $((307200 + 2 * 1048576))
printf '\0\0' | dd of="$nrg" bs=1 seek=$((307200 + 510)) conv=notrunc status=none
u=$(attach -f "$nrg" -b auto)
dev=$(unit_device "$u")
expect_eq 307200 "$(disk_field "$u" offset)" "JSON offset of -b auto on .nrg"
expect_eq $((2 << 20)) "$(blockdev --getsize64 "$dev")" "size of the .nrg disk"
cmp <(tail -c +307201 "$nrg") <(dev_read "$dev") || fail "$dev is not the .nrg image after 307200 bytes"
imdisk -d -u "$u"
