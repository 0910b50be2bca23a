#!/usr/bin/env bash
# -s in every form ImDisk takes: bytes, 512-byte blocks (b), powers of 1024 (M)
# and of 1000 (m), a percentage of free memory, free memory minus a size.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

# size_of ARG: the device size a RAM disk of -s ARG gets (the disk is removed again).
size_of() {
	local u dev size
	u=$(attach -s "$1") || fail "-s $1 was refused"
	dev=$(unit_device "$u")
	size=$(blockdev --getsize64 "$dev")
	expect_eq "$size" "$(disk_field "$u" size)" "JSON size of -s $1"
	imdisk -d -u "$u" >/dev/null
	echo "$size"
}
mem_available() { awk '/^MemAvailable:/ { printf "%.0f\n", $2 * 1024 }' /proc/meminfo; }

expect_eq 1048576 "$(size_of 1048576)" "-s 1048576"
expect_eq 1048576 "$(size_of 2048b)" "-s 2048b"
expect_eq 1048576 "$(size_of 2048B)" "-s 2048B"
expect_eq 4194304 "$(size_of 4M)" "-s 4M"
expect_eq 5120000 "$(size_of 5120k)" "-s 5120k (1000-byte k, a multiple of 512)"
expect_eq 3145728 "$(size_of 3072K)" "-s 3072K"

# 4m is 4,000,000 bytes, not a multiple of 512 (7812.5 sectors): rounded up to
# the next whole sector, with a one-line note saying so.
u=$(attach -s 4m 2>"$TEST_DIR/note") || fail "-s 4m was refused"
expect_eq "imdisk: note: size rounded up from 4000000 to 4000256 bytes (a multiple of 512)" \
	"$(cat "$TEST_DIR/note")" "note of -s 4m"
expect_eq 4000256 "$(disk_field "$u" size)" "-s 4m rounded up"
imdisk -d -u "$u" >/dev/null

# N% of free memory: a whole number of sectors, within 1% of free memory of N%.
for pct in 10 1; do
	avail=$(mem_available)
	size=$(size_of $pct%)
	[ -n "$size" ] || fail "-s $pct% made no disk"
	[ $((size % 512)) = 0 ] || fail "-s $pct% gave $size bytes, not a multiple of 512"
	want=$((avail / 100 * pct))
	diff=$((size > want ? size - want : want - size))
	[ "$diff" -le $((avail / 100)) ] || fail "-s $pct% gave $size bytes; $pct% of $avail is $want"
done

# Free memory minus almost all of it: about 64 MiB are left for the disk.
# MemAvailable moves under other programs: allow 32 MiB either way, try 3 times.
# The amount subtracted is not a whole number of sectors (free memory is counted
# in KiB): the disk still gets a whole number of sectors.
target=$((64 << 20)) ok=
for attempt in 1 2 3; do
	minus=$(($(mem_available) - target + 100))
	rc=0
	u=$(attach -s "-$minus") || rc=$?
	if [ "$rc" = 11 ]; then note "attempt $attempt: free memory fell under $minus"; continue; fi
	[ "$rc" = 0 ] || fail "-s -$minus exited $rc"
	size=$(blockdev --getsize64 "$(unit_device "$u")")
	imdisk -d -u "$u"
	[ $((size % 512)) = 0 ] || fail "-s -$minus gave $size bytes, not a multiple of 512"
	if [ "$size" -ge $((target - (32 << 20))) ] && [ "$size" -le $((target + (32 << 20))) ]; then
		ok=1; break
	fi
	note "attempt $attempt: -s -$minus gave $size bytes, want about $target"
done
[ -n "$ok" ] || fail "-s -N never gave about 64 MiB"
expect_eq "No virtual disks." "$(imdisk -l)" "list at the end"
