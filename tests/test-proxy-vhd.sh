#!/usr/bin/env bash
# A proxy disk on devio serving a dynamic VHD: imdisk formats it ext4 and mounts
# it, a file is written and survives the unmount; the VHD then holds, for qemu, a
# clean ext4 file system with that file (blocks devio allocated as they came).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
source "$(dirname "$0")/vhd-helpers.sh"
requires_root
requires mkfs.ext4 e2fsck debugfs findmnt
start_daemon

vhd=$TEST_DIR/disk.vhd
qemu-img create -q -f vpc -o subformat=dynamic "$vhd" 64M || fail "qemu-img create"
empty_size=$(stat -c %s "$vhd")
sock=$TEST_DIR/devio.sock
mnt=$TEST_DIR/mnt
start_devio_unix "$sock" "$vhd"
on_cleanup "! mountpoint -q '$mnt' || umount -l '$mnt'" # before devio goes

u=$(attach -t proxy -f "unix:$sock" -p ext4 -m "$mnt") || fail "imdisk -a -t proxy on a VHD failed"
dev=$(unit_device "$u")
expect_eq "$(vhd_raw_size "$vhd")" "$(blockdev --getsize64 "$dev")" "the proxy disk's size"
mountpoint -q "$mnt" || fail "$mnt is not mounted"
random_file "$TEST_DIR/big" $((3 << 20))
cp "$TEST_DIR/big" "$mnt/big"
umount "$mnt"
mount "$dev" "$mnt" || fail "mounting $dev by hand failed"
cmp "$TEST_DIR/big" "$mnt/big" || fail "the file differs after a remount"
"$IMDISK" -d -m "$mnt" >/dev/null || fail "imdisk -d -m $mnt failed"
wait_detached "$dev" "unit$u" || fail "$dev still attached after -d"
devio_alive
stop_devio || fail "devio exited with $?"

[ "$(stat -c %s "$vhd")" -gt "$empty_size" ] || fail "the VHD did not grow"
vhd_tool check "$vhd" >/dev/null || fail "the VHD is not sound"
qemu-img convert -f vpc -O raw "$vhd" "$TEST_DIR/disk.raw" || fail "qemu-img convert"
e2fsck -fn "$TEST_DIR/disk.raw" >"$TEST_DIR/fsck.out" 2>&1 || fail "not a clean ext4: $(tail -n 3 "$TEST_DIR/fsck.out")"
debugfs -R "dump /big $TEST_DIR/big.out" "$TEST_DIR/disk.raw" 2>/dev/null
cmp "$TEST_DIR/big" "$TEST_DIR/big.out" || fail "the VHD does not hold the file written"
