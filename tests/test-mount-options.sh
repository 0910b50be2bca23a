#!/usr/bin/env bash
# --mount-options reaches mount(2) as mount(8)'s -o: noatime shows in
# /proc/self/mountinfo, a bad option is refused with the mount's reason, and
# --mount-options without -m is a usage error.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

mnt="$TEST_DIR/mnt"
u=$(attach -s 16M -p ext4 -m "$mnt" --mount-options noatime,nodev)
dev=$(unit_device "$u")
opts=$(awk -v m="$mnt" '$5 == m { print $6 }' /proc/self/mountinfo)
[ -n "$opts" ] || fail "$dev is not mounted on $mnt"
grep -qw noatime <<<"${opts//,/ }" || fail "noatime missing from the mount's options: $opts"
grep -qw nodev <<<"${opts//,/ }" || fail "nodev missing from the mount's options: $opts"
echo hello >"$mnt/file"
imdisk -d -u "$u"
wait_detached "$dev" imdisk-memory || fail "$dev still attached after -d"
expect_eq "" "$(awk -v m="$mnt" '$5 == m' /proc/self/mountinfo)" "mount left after -d"

expect_error "needs a mount point" 13 imdisk -a -s 16M --mount-options noatime
expect_eq "No virtual disks." "$(imdisk -l)" "list after the usage error"
