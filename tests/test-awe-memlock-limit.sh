#!/usr/bin/env bash
# -o awe (locked memory) for a caller other than root stays within the caller's own
# RLIMIT_MEMLOCK, counting its awe disks already locked, at create and at grow:
# imdiskd locks as root, so without this any caller could pin the machine's memory.
# Over it: exit 16 and a line naming the limit; nothing created or grown.  Root is
# not held by its own RLIMIT_MEMLOCK.
. "$(dirname "$0")/functions.sh"
requires_callers
requires prlimit
hard=$(prlimit --memlock --output HARD --noheadings --raw)
[ "$hard" = unlimited ] || [ "$hard" -ge $((8 << 20)) ] || skip "RLIMIT_MEMLOCK's hard limit is below 8 MiB"
start_daemon --group nogroup

# with_memlock BYTES [as_nobody] CMD...: CMD with RLIMIT_MEMLOCK lowered to BYTES
# (soft and hard: as that user, it cannot raise it again).
with_memlock() {
	local bytes=$1; shift
	if [ "$1" = as_nobody ]; then shift; as_nobody prlimit --memlock="$bytes" "$@"; else prlimit --memlock="$bytes" "$@"; fi
}

expect_error "^imdisk: error: cannot create the disk: uid $NOBODY_UID may lock 1 MiB of memory \(its RLIMIT_MEMLOCK, ulimit -l\): it has 0 bytes locked in awe disks, 2 MiB more asked$" \
	16 with_memlock $((1 << 20)) as_nobody "$IMDISK" -a -s 2M -o awe
expect_eq "" "$(imdisk -l -n)" "disks after the refused awe create"

a=$(with_memlock $((4 << 20)) as_nobody "$IMDISK" -a -n -s 2M -o awe)
expect_eq awe "$(disk_field "$a" backing)" "backing of nobody's awe disk"
expect_error "may lock 4 MiB of memory.*it has 2 MiB locked in awe disks, 4 MiB more asked" \
	16 with_memlock $((4 << 20)) as_nobody "$IMDISK" -a -s 4M -o awe
b=$(with_memlock $((4 << 20)) as_nobody "$IMDISK" -a -n -s 2M -o awe)
# A grow of an awe disk locks more: the same limit.
dev=$(unit_device "$b")
expect_error "may lock 4 MiB of memory.*it has 4 MiB locked in awe disks, 1 MiB more asked" \
	16 with_memlock $((4 << 20)) as_nobody "$IMDISK" -e -s 1M -u "$b"
expect_eq $((2 << 20)) "$(blockdev --getsize64 "$dev")" "size after the refused awe grow"
# A larger limit of the caller's own lets it lock more.
with_memlock $((8 << 20)) as_nobody "$IMDISK" -e -s 1M -u "$b" >/dev/null
expect_eq $((3 << 20)) "$(blockdev --getsize64 "$dev")" "size after the awe grow within the limit"
# Unlocked RAM disks are not held by RLIMIT_MEMLOCK.
v=$(with_memlock $((1 << 20)) as_nobody "$IMDISK" -a -n -s 16M)
expect_eq vm "$(disk_field "$v" backing)" "backing of nobody's plain RAM disk"

# Root's own limit does not bind root.
r=$(with_memlock $((1 << 20)) "$IMDISK" -a -n -s 8M -o awe)
expect_eq awe "$(disk_field "$r" backing)" "backing of root's awe disk"
for x in "$a" "$b" "$v" "$r"; do imdisk -d -u "$x" >/dev/null; done
