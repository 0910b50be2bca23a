#!/usr/bin/env bash
# An image named *.iso is a CD: read-only, 2048-byte logical sectors, JSON type
# "cd"; writes fail.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

iso=$TEST_DIR/x.iso
if command -v xorriso >/dev/null 2>&1; then
	mkdir "$TEST_DIR/tree"
	random_file "$TEST_DIR/tree/file" 3M
	xorriso -outdev "$iso" -map "$TEST_DIR/tree" / -padding 0 >/dev/null 2>&1 || fail "xorriso failed"
	size=$(stat -c %s "$iso")
	[ $((size % 2048)) = 0 ] || fail "xorriso made a $size-byte image"
else
	note "no xorriso: a 4 MiB image of random bytes"
	random_file "$iso" 4M
	size=$((4 << 20))
fi
cp "$iso" "$TEST_DIR/copy"

u=$(attach -f "$iso")
dev=$(unit_device "$u")
expect_eq 1 "$(blockdev --getro "$dev")" "read-only flag of $dev"
expect_eq 2048 "$(blockdev --getss "$dev")" "logical sector size of $dev"
expect_eq "$size" "$(blockdev --getsize64 "$dev")" "size of $dev"
expect_eq cd "$(disk_field "$u" type)" "JSON type"
expect_eq true "$(disk_field "$u" read_only)" "JSON read_only"
expect_eq 2048 "$(disk_field "$u" sector_size)" "JSON sector_size"
cmp "$iso" <(dev_read "$dev") || fail "$dev does not show the ISO image"
if dd if=/dev/zero of="$dev" bs=2048 count=1 oflag=direct conv=notrunc status=none 2>/dev/null; then
	fail "a write to the CD $dev succeeded"
fi
# A CD cannot be made writable.
rc=0
imdisk -e -u "$u" -o rw 2>/dev/null || rc=$?
[ "$rc" != 0 ] || fail "-e -o rw made a CD writable"
expect_eq 1 "$(blockdev --getro "$dev")" "read-only flag of $dev after -e -o rw"
imdisk -d -u "$u"
cmp "$TEST_DIR/copy" "$iso" || fail "the ISO image changed"
