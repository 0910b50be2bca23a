#!/usr/bin/env bash
# An image file disk (-f img): the device shows the image, writes through the
# device land in the image, and -o ro makes a read-only device.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

img=$TEST_DIR/disk.img
random_file "$img" 32M
cp "$img" "$TEST_DIR/expected"

u=$(attach -f "$img")
dev=$(unit_device "$u")
expect_eq $((32 << 20)) "$(blockdev --getsize64 "$dev")" "size of $dev"
expect_eq 0 "$(blockdev --getro "$dev")" "read-only flag of $dev"
expect_eq file "$(disk_field "$u" backing)" "JSON backing"
expect_eq hd "$(disk_field "$u" type)" "JSON type"
cmp "$img" <(dev_read "$dev") || fail "$dev does not show the image"

# 3 MiB of new data at 5 MiB and the last MiB, through the device.
random_file "$TEST_DIR/new" 3M
random_file "$TEST_DIR/tail" 1M
dev_write "$TEST_DIR/new" "$dev" 5
dev_write "$TEST_DIR/tail" "$dev" 31
dd if="$TEST_DIR/new" of="$TEST_DIR/expected" bs=1M seek=5 conv=notrunc status=none
dd if="$TEST_DIR/tail" of="$TEST_DIR/expected" bs=1M seek=31 conv=notrunc status=none
imdisk -d -u "$u"
wait_detached "$dev" "$img" || fail "$dev still attached after -d"
cmp "$TEST_DIR/expected" "$img" || fail "the image does not hold what was written through $dev"
expect_eq $((32 << 20)) "$(stat -c %s "$img")" "image size after use"

# Read-only: the kernel refuses writes, the image stays as it is.
u=$(attach -f "$img" -o ro)
dev=$(unit_device "$u")
expect_eq 1 "$(blockdev --getro "$dev")" "read-only flag of $dev with -o ro"
expect_eq true "$(disk_field "$u" read_only)" "JSON read_only with -o ro"
cmp "$img" <(dev_read "$dev") || fail "read-only $dev does not show the image"
if dd if="$TEST_DIR/new" of="$dev" bs=1M oflag=direct conv=notrunc status=none 2>/dev/null; then
	fail "a write to read-only $dev succeeded"
fi
imdisk -d -u "$u"
cmp "$TEST_DIR/expected" "$img" || fail "the image changed under a read-only disk"
