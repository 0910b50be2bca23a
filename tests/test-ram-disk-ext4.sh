#!/usr/bin/env bash
# -a -s 64M -m DIR -p ext4: formatted and mounted; the file system survives an
# umount/mount made by hand; -d -m DIR unmounts and removes the disk.
. "$(dirname "$0")/functions.sh"
requires_root
requires mkfs.ext4 findmnt
start_daemon

mnt=$TEST_DIR/mnt
u=$(attach -s 64M -m "$mnt" -p ext4)
dev=$(unit_device "$u")
expect_eq "$dev" "$(findmnt -n -o SOURCE --mountpoint "$mnt")" "source mounted on $mnt"
expect_eq ext4 "$(findmnt -n -o FSTYPE --mountpoint "$mnt")" "file system on $mnt"
expect_eq "$mnt" "$(disk_field "$u" mount_point)" "JSON mount_point"

random_file "$TEST_DIR/data" 3M
cp "$TEST_DIR/data" "$mnt/file"
umount "$mnt"
mountpoint -q "$mnt" && fail "$mnt still mounted after umount"
mount "$dev" "$mnt"
cmp "$TEST_DIR/data" "$mnt/file" || fail "file changed across umount/mount"

ours=$(loop_identity "$dev")
imdisk -d -m "$mnt"
mountpoint -q "$mnt" && fail "$mnt still mounted after imdisk -d -m"
wait_detached "$dev" imdisk-memory || fail "$dev still attached after -d -m"
# (By identity: another test's RAM disk, of the same memfd name, may have the
# number by now.)
[ "$(loop_identity "$dev")" != "$ours" ] || fail "losetup still lists $dev"
expect_eq "No virtual disks." "$(imdisk -l)" "list after removal"
