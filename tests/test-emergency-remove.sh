#!/usr/bin/env bash
# -R -u N removes a disk at once, even while its device is open; the loop device
# detaches then, or at its last close.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

u=$(attach -s 16M)
dev=$(unit_device "$u")
imdisk -R -u "$u"
expect_eq "No virtual disks." "$(imdisk -l)" "list after -R"
wait_detached "$dev" imdisk-memory || fail "$dev still attached after -R"

# Open (a reader holds it): the unit goes at once, the device at the last close.
img=$TEST_DIR/disk.img
random_file "$img" 8M
u=$(attach -f "$img")
dev=$(unit_device "$u")
exec 5<"$dev"
imdisk -R -u "$u"
expect_eq "No virtual disks." "$(imdisk -l)" "list after -R of an open disk"
expect_error "$u" 1 imdisk -l -u "$u"
exec 5<&-
wait_detached "$dev" "$img" || fail "$dev still attached after -R and the last close"
[ -z "$(losetup -j "$img")" ] || fail "a loop device is left on the image"

# Mounted: -R does not unmount, the file system keeps the device until umount.
u=$(attach -s 16M -p ext4 -m "$TEST_DIR/mnt")
dev=$(unit_device "$u")
imdisk -R -u "$u"
expect_eq "No virtual disks." "$(imdisk -l)" "list after -R of a mounted disk"
umount "$TEST_DIR/mnt"
wait_detached "$dev" imdisk-memory || fail "$dev still attached after -R and umount"
# A new disk can take the unit again.
u2=$(attach -s 1M -u "$u")
expect_eq "$u" "$u2" "unit reused after -R"
imdisk -d -u "$u2"
