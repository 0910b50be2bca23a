#!/usr/bin/env bash
# A disk's owner is part of its kept state: after imdiskd is killed and started
# again, a re-adopted disk still belongs to its creator, who may still remove it,
# and another caller is still refused (exit 15).
. "$(dirname "$0")/functions.sh"
requires_callers
start_daemon --group nogroup

n=$(as_nobody "$IMDISK" -a -n -s 4M)
r=$(attach -s 4M)
expect_eq "$NOBODY_UID" "$(disk_field "$n" owner.uid)" "owner before the restart"

kill_daemon
start_daemon --group nogroup
expect_eq "$NOBODY_UID" "$(disk_field "$n" owner.uid)" "owner uid after the restart"
expect_eq 65534 "$(disk_field "$n" owner.gid)" "owner gid after the restart"
expect_eq 0 "$(disk_field "$r" owner.uid)" "root's disk after the restart"

expect_exit 15 as_other "$IMDISK" -d -u "$n"
expect_exit 15 as_nobody "$IMDISK" -d -u "$r"
as_nobody "$IMDISK" -d -u "$n" >/dev/null || fail "the owner could not remove its re-adopted disk"
imdisk -d -u "$r" >/dev/null
