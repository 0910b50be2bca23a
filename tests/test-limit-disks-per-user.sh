#!/usr/bin/env bash
# imdiskd --max-disks-per-user N: a caller other than root holds at most N disks;
# the next create is refused with exit 16 and a line naming the limit, and nothing
# is attached.  The limit is per uid (another user still creates), root has none,
# and a removed disk frees its place.
. "$(dirname "$0")/functions.sh"
requires_callers
start_daemon --group nogroup --max-disks-per-user 3

mine=()
for _ in 1 2 3; do mine+=("$(as_nobody "$IMDISK" -a -n -s 1M)"); done
expect_error "^imdisk: error: cannot create the disk: uid $NOBODY_UID has 3 disks already: the most imdiskd allows a user \(imdiskd --max-disks-per-user\)$" \
	16 as_nobody "$IMDISK" -a -s 1M
# A file disk counts the same.
as_nobody dd if=/dev/zero of="$NOBODY_DIR/nobody.img" bs=1M count=1 status=none
expect_error "has 3 disks already" 16 as_nobody "$IMDISK" -a -f "$NOBODY_DIR/nobody.img"
expect_eq 3 "$(imdisk -l -n | wc -l)" "disks after the refused creates"

# Another user, and root, are not held by nobody's count.
o=$(as_other "$IMDISK" -a -n -s 1M)
r1=$(attach -s 1M); r2=$(attach -s 1M); r3=$(attach -s 1M)
expect_eq 7 "$(imdisk -l -n | wc -l)" "disks of nobody, another user and root"

# A removed disk frees a place.
as_nobody "$IMDISK" -d -u "${mine[0]}" >/dev/null
u=$(as_nobody "$IMDISK" -a -n -f "$NOBODY_DIR/nobody.img")
expect_eq "$NOBODY_UID" "$(disk_field "$u" owner.uid)" "owner of the disk made after a removal"
expect_error "has 3 disks already" 16 as_nobody "$IMDISK" -a -s 1M
for x in "$u" "${mine[1]}" "${mine[2]}" "$o" "$r1" "$r2" "$r3"; do imdisk -d -u "$x" >/dev/null; done

# The limit is the daemon's to set: 0 lets callers other than root create nothing.
stop_daemon
start_daemon --group nogroup --max-disks-per-user 0
expect_error "has 0 disks already" 16 as_nobody "$IMDISK" -a -s 1M
r=$(attach -s 1M)
imdisk -d -u "$r" >/dev/null
expect_error "max-disks-per-user takes a number" 1 "$IMDISKD" --socket "$TEST_DIR/other" --foreground --max-disks-per-user many
