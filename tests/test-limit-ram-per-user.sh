#!/usr/bin/env bash
# imdiskd --max-ram-per-user SIZE: the RAM disks of a caller other than root hold at
# most SIZE bytes in all, counting creates and grows; over it: exit 16, a line
# naming the limit, nothing created or grown.  Image-file disks do not count, the
# limit is per uid, root has none, and a removed RAM disk gives its bytes back.
. "$(dirname "$0")/functions.sh"
requires_callers
start_daemon --group nogroup --max-ram-per-user 64M

a=$(as_nobody "$IMDISK" -a -n -s 40M)
expect_error "^imdisk: error: cannot create the disk: uid $NOBODY_UID may hold 64 MiB of RAM disks \(imdiskd --max-ram-per-user\): it holds 40 MiB, 32 MiB more asked$" \
	16 as_nobody "$IMDISK" -a -s 32M
expect_eq 1 "$(imdisk -l -n | wc -l)" "disks after the refused create"
b=$(as_nobody "$IMDISK" -a -n -s 24M)
# A grow past the limit is refused and changes nothing.
dev=$(unit_device "$b")
expect_error "may hold 64 MiB of RAM disks.*it holds 64 MiB, 1 MiB more asked" 16 as_nobody "$IMDISK" -e -s 1M -u "$b"
expect_eq $((24 << 20)) "$(blockdev --getsize64 "$dev")" "size after the refused grow"
expect_eq "EDQUOT uid $NOBODY_UID may hold 64 MiB of RAM disks (imdiskd --max-ram-per-user): it holds 64 MiB, 1 MiB more asked" \
	"$(as_nobody "$IMDISK_CALL" grow "$b" 1048576)" "imdiskd's answer to a grow past the limit"

# Not held by nobody's bytes: an image-file disk of nobody's, another user, root.
as_nobody dd if=/dev/zero of="$NOBODY_DIR/nobody.img" bs=1M count=0 seek=128 status=none
f=$(as_nobody "$IMDISK" -a -n -f "$NOBODY_DIR/nobody.img")
o=$(as_other "$IMDISK" -a -n -s 64M)
r=$(attach -s 256M)

# Bytes given back by a removal can be used again, by a create or a grow.
as_nobody "$IMDISK" -d -u "$a" >/dev/null
as_nobody "$IMDISK" -e -s 8M -u "$b" >/dev/null
expect_eq $((32 << 20)) "$(blockdev --getsize64 "$dev")" "size after a grow within the limit"
c=$(as_nobody "$IMDISK" -a -n -s 32M)
expect_error "it holds 64 MiB, 512 bytes more asked" 16 as_nobody "$IMDISK" -a -s 512
for x in "$b" "$c" "$f" "$o" "$r"; do imdisk -d -u "$x" >/dev/null; done

# The default: 4 GiB.
stop_daemon
start_daemon --group nogroup
expect_error "may hold 4 GiB of RAM disks" 16 as_nobody "$IMDISK" -a -s 5G
expect_eq "" "$(imdisk -l -n)" "disks after a create over the default limit"
