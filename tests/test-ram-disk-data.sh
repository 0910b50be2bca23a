#!/usr/bin/env bash
# A RAM disk (-s 16M): exactly 16 MiB, and random data written to the block
# device with direct I/O reads back the same.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

u=$(attach -s 16M)
dev=$(unit_device "$u")
[ -b "$dev" ] || fail "unit $u has no block device ($dev)"
expect_eq 16777216 "$(blockdev --getsize64 "$dev")" "size of $dev"

random_file "$TEST_DIR/data" 16M
dev_write "$TEST_DIR/data" "$dev"
cmp "$TEST_DIR/data" <(dev_read "$dev") || fail "data read back from $dev differs"
# Also through the page cache, after dropping what the cache holds of the device.
blockdev --flushbufs "$dev"
cmp "$TEST_DIR/data" "$dev" || fail "buffered read of $dev differs"

imdisk -d -u "$u"
wait_detached "$dev" imdisk-memory || fail "$dev still attached after -d"
expect_eq "No virtual disks." "$(imdisk -l)" "list after removal"
