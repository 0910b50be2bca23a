#!/usr/bin/env bash
# --transport=fuse puts a RAM disk or a file disk behind imdiskd's FUSE mount
# (JSON transport "fuse", the loop device on a file of that mount), and data
# round-trips through it; without it a RAM disk goes straight to the loop driver
# (transport "loop").
source "$(dirname "$0")/functions.sh"
requires_root
start_daemon

fuse_dir=$TEST_DIR/fuse
random_file "$TEST_DIR/new" $((3 << 20))

# Default RAM disk: the loop driver directly.
u=$(attach -s 8M)
expect_eq loop "$(disk_field "$u" transport)" "JSON transport of a default RAM disk"
dev=$(unit_device "$u")
case "$(loop_backing "$dev")" in "$fuse_dir"/*) fail "a default RAM disk is on the FUSE mount" ;; esac
imdisk -d -u "$u" >/dev/null

# Forced RAM disk.
u=$(attach -s 8M --transport=fuse)
dev=$(unit_device "$u")
expect_eq fuse "$(disk_field "$u" transport)" "JSON transport of a RAM disk with --transport=fuse"
expect_eq vm "$(disk_field "$u" backing)" "JSON backing of a RAM disk with --transport=fuse"
expect_eq "$fuse_dir/unit$u" "$(loop_backing "$dev")" "backing file of $dev"
expect_eq $((8 << 20)) "$(blockdev --getsize64 "$dev")" "size of $dev"
dev_write "$TEST_DIR/new" "$dev" 2
cmp <(dev_read "$dev" $((5 << 20)) | tail -c +$(((2 << 20) + 1))) "$TEST_DIR/new" ||
	fail "data differs through a forced-FUSE RAM disk"
cmp -n $((2 << 20)) <(dev_read "$dev") /dev/zero || fail "a new forced-FUSE RAM disk is not zeroes"
imdisk -d -u "$u" >/dev/null
wait_detached "$dev" "unit$u" || fail "$dev still attached after -d"

# Forced file disk: the image gets the data.
img=$TEST_DIR/disk.img
random_file "$img" $((8 << 20))
cp "$img" "$TEST_DIR/expected"
dd if="$TEST_DIR/new" of="$TEST_DIR/expected" bs=1M seek=2 conv=notrunc status=none
u=$(attach -f "$img" --transport=fuse)
dev=$(unit_device "$u")
expect_eq fuse "$(disk_field "$u" transport)" "JSON transport of a file disk with --transport=fuse"
expect_eq file "$(disk_field "$u" backing)" "JSON backing of a file disk with --transport=fuse"
expect_eq "$fuse_dir/unit$u" "$(loop_backing "$dev")" "backing file of $dev"
cmp "$img" <(dev_read "$dev") || fail "a forced-FUSE file disk does not show its image"
dev_write "$TEST_DIR/new" "$dev" 2
cmp "$TEST_DIR/expected" <(dev_read "$dev") || fail "data differs through a forced-FUSE file disk"
imdisk -d -u "$u" >/dev/null
wait_detached "$dev" "unit$u" || fail "$dev still attached after -d"
cmp "$TEST_DIR/expected" "$img" || fail "the image does not hold what was written through the forced-FUSE disk"
