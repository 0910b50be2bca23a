#!/usr/bin/env bash
# -e -s SIZE grows a disk by SIZE at once, keeping its data: a RAM disk and an
# image file disk (whose image grows); a CD or a read-only disk is refused.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

random_file "$TEST_DIR/data" 32M
random_file "$TEST_DIR/more" 16M

# RAM disk: 32 MiB + 16 MiB.
u=$(attach -s 32M)
dev=$(unit_device "$u")
dev_write "$TEST_DIR/data" "$dev"
imdisk -e -s 16M -u "$u"
expect_eq $((48 << 20)) "$(blockdev --getsize64 "$dev")" "size of the grown RAM disk"
expect_eq $((48 << 20)) "$(disk_field "$u" size)" "JSON size of the grown RAM disk"
cmp "$TEST_DIR/data" <(dev_read "$dev" $((32 << 20))) || fail "RAM disk data lost when growing"
cmp -n $((16 << 20)) /dev/zero <(dd if="$dev" bs=1M skip=32 iflag=direct status=none) ||
	fail "the new part of the RAM disk is not zeros"
dev_write "$TEST_DIR/more" "$dev" 32
cmp <(cat "$TEST_DIR/data" "$TEST_DIR/more") <(dev_read "$dev") || fail "grown RAM disk content differs"
imdisk -d -u "$u"

# Image file disk: the image grows with it.
img=$TEST_DIR/disk.img
cp "$TEST_DIR/data" "$img"
u=$(attach -f "$img")
dev=$(unit_device "$u")
imdisk -e -s 16M -u "$u"
expect_eq $((48 << 20)) "$(blockdev --getsize64 "$dev")" "size of the grown file disk"
expect_eq $((48 << 20)) "$(stat -c %s "$img")" "size of the grown image"
cmp "$TEST_DIR/data" <(dev_read "$dev" $((32 << 20))) || fail "file disk data lost when growing"
dev_write "$TEST_DIR/more" "$dev" 32
imdisk -d -u "$u"
cmp <(cat "$TEST_DIR/data" "$TEST_DIR/more") "$img" || fail "grown image content differs"

# Refused: a CD, and a read-only disk; their size stays.
cp "$TEST_DIR/data" "$TEST_DIR/x.iso"
u=$(attach -f "$TEST_DIR/x.iso")
dev=$(unit_device "$u")
expect_error "read-only|cd|cannot" 2 imdisk -e -s 16M -u "$u"
expect_eq $((32 << 20)) "$(blockdev --getsize64 "$dev")" "size of the CD after a refused grow"
expect_eq $((32 << 20)) "$(stat -c %s "$TEST_DIR/x.iso")" "size of the ISO after a refused grow"
imdisk -d -u "$u"
u=$(attach -f "$img" -o ro)
dev=$(unit_device "$u")
expect_error "read-only" 2 imdisk -e -s 16M -u "$u"
expect_eq $((48 << 20)) "$(blockdev --getsize64 "$dev")" "size of the ro disk after a refused grow"
expect_eq $((48 << 20)) "$(stat -c %s "$img")" "size of the ro image after a refused grow"
imdisk -d -u "$u"
