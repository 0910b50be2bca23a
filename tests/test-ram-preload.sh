#!/usr/bin/env bash
# -t vm -f img: a RAM disk loaded from an image; writes to the disk never reach
# the image.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

img=$TEST_DIR/disk.img
random_file "$img" 24M
cp "$img" "$TEST_DIR/copy"

u=$(attach -t vm -f "$img")
dev=$(unit_device "$u")
expect_eq $((24 << 20)) "$(blockdev --getsize64 "$dev")" "size of the preloaded RAM disk"
expect_eq vm "$(disk_field "$u" backing)" "JSON backing of -t vm -f"
cmp "$img" <(dev_read "$dev") || fail "$dev does not hold the image"
random_file "$TEST_DIR/data" 8M
dev_write "$TEST_DIR/data" "$dev" 4
cmp "$TEST_DIR/data" <(dd if="$dev" bs=1M skip=4 count=8 iflag=direct status=none) || fail "write to $dev lost"
cmp "$TEST_DIR/copy" "$img" || fail "a write to the RAM disk changed the image"
imdisk -d -u "$u"
cmp "$TEST_DIR/copy" "$img" || fail "removing the RAM disk changed the image"

# Preloaded into a larger disk: the image, then zeros.
u=$(attach -t vm -f "$img" -s 32M)
dev=$(unit_device "$u")
expect_eq $((32 << 20)) "$(blockdev --getsize64 "$dev")" "size of -t vm -f -s 32M"
cmp "$img" <(dev_read "$dev" $((24 << 20))) || fail "larger RAM disk does not start with the image"
cmp -n $((8 << 20)) /dev/zero <(dd if="$dev" bs=1M skip=24 iflag=direct status=none) || fail "rest is not zeros"
imdisk -d -u "$u"
