#!/usr/bin/env bash
# The FUSE transport serves a RAM disk as a file; the kernel loop driver (direct
# I/O) on that file is a working block device: data round-trips, ext4 survives a
# remount, discard and write-zeroes reach the disk, a read-only disk refuses
# writes, and stopping the server leaves no mount behind.
source "$(dirname "$0")/functions.sh"

requires_root
requires losetup mkfs.ext4 blkdiscard mount umount cmp dd stat
SERVE=$BUILD/tests/tools/fuse-serve
[ -x "$SERVE" ] || skip "needs $SERVE (build tests/tools)"
[ -c /dev/fuse ] || skip "needs /dev/fuse"

SERVE_PID= LOOP= MNT=$TEST_DIR/mnt
mkdir -p "$TEST_DIR/fuse" "$TEST_DIR/fuse-ro" "$MNT"

serve_stop() { # the server unmounts its FUSE mount on SIGTERM
	[ -n "$SERVE_PID" ] || return 0
	kill -TERM "$SERVE_PID" 2>/dev/null
	wait "$SERVE_PID" 2>/dev/null
	SERVE_PID=
}
loop_detach() { [ -z "$LOOP" ] || losetup -d "$LOOP"; LOOP=; }
fs_umount() { ! mountpoint -q "$MNT" || umount "$MNT"; }
on_cleanup serve_stop
on_cleanup loop_detach
on_cleanup fs_umount

# serve_start FOLDER SIZE [options]: start fuse-serve, set SERVE_PID and FILE.
serve_start() {
	local folder=$1 size=$2; shift 2
	# Emptied first: the wait below must see this server's path, not the last one's.
	: >"$TEST_DIR/serve.out"
	"$SERVE" "$@" "$folder" "$size" >>"$TEST_DIR/serve.out" 2>"$TEST_DIR/serve.err" &
	SERVE_PID=$!
	for _ in $(seq 100); do
		[ -s "$TEST_DIR/serve.out" ] && break
		kill -0 "$SERVE_PID" 2>/dev/null || { cat "$TEST_DIR/serve.err" >&2; fail "fuse-serve exited at start"; }
		sleep 0.05
	done
	FILE=$(head -n 1 "$TEST_DIR/serve.out")
	[ -n "$FILE" ] || fail "fuse-serve printed no path"
}

SIZE=$((64 << 20))
serve_start "$TEST_DIR/fuse" "$SIZE" -w 2
[ "$FILE" = "$TEST_DIR/fuse/disk" ] || fail "unexpected path $FILE"
grep -q " $TEST_DIR/fuse fuse" /proc/mounts || fail "no FUSE mount at $TEST_DIR/fuse"
[ "$(stat -c '%s %a %u %g' "$FILE")" = "$SIZE 600 0 0" ] || fail "file attributes: $(stat -c '%s %a %u %g' "$FILE")"
[ "$(ls "$TEST_DIR/fuse")" = disk ] || fail "directory listing: $(ls "$TEST_DIR/fuse")"
expect_exit 1 truncate -s 1M "$FILE" 2>/dev/null # the size is the disk's

LOOP=$(losetup -f --show --direct-io=on "$FILE")
[ "$(losetup -n -O DIO "$LOOP" | tr -d ' ')" = 1 ] || fail "$LOOP has no direct I/O"
[ "$(blockdev --getsize64 "$LOOP")" = "$SIZE" ] || fail "$LOOP size"
note "loop device $LOOP on $FILE"

# Data round-trips through the loop device, and the file shows the same bytes.
random_file "$TEST_DIR/random" $((8 << 20))
dd if="$TEST_DIR/random" of="$LOOP" bs=1M seek=3 oflag=direct status=none
dd if="$LOOP" bs=1M skip=3 count=8 iflag=direct status=none | cmp - "$TEST_DIR/random" ||
	fail "data read back through $LOOP differs"
dd if="$FILE" bs=1M skip=3 count=8 status=none | cmp - "$TEST_DIR/random" ||
	fail "data read back through $FILE differs"
# Small, unaligned-to-MiB requests too.
dd if="$TEST_DIR/random" of="$LOOP" bs=4k count=100 seek=7 oflag=direct status=none
dd if="$LOOP" bs=4k skip=7 count=100 iflag=direct status=none | cmp - <(head -c 409600 "$TEST_DIR/random") ||
	fail "4k requests differ"

# Write-zeroes on the loop device becomes ZERO_RANGE, discard becomes PUNCH_HOLE.
dd if="$TEST_DIR/random" of="$LOOP" bs=1M seek=3 oflag=direct status=none
blkdiscard -z -o $((4 << 20)) -l $((1 << 20)) "$LOOP" || fail "blkdiscard -z failed"
cmp -n $((1 << 20)) <(dd if="$LOOP" bs=1M skip=4 count=1 iflag=direct status=none) /dev/zero ||
	fail "write-zeroes left data"
dd if="$LOOP" bs=1M skip=5 count=6 iflag=direct status=none |
	cmp - <(tail -c +$(((2 << 20) + 1)) "$TEST_DIR/random") || fail "write-zeroes touched data next to it"
blkdiscard "$LOOP" || fail "blkdiscard failed"
cmp -n $((8 << 20)) <(dd if="$LOOP" bs=1M skip=3 count=8 iflag=direct status=none) /dev/zero ||
	fail "discard did not reach the RAM disk (data still there)"

# A file system on it survives a remount.
mkfs.ext4 -q -F "$LOOP" || fail "mkfs.ext4 failed"
mount "$LOOP" "$MNT"
cp "$TEST_DIR/random" "$MNT/file"
sync
umount "$MNT"
mount "$LOOP" "$MNT"
cmp "$MNT/file" "$TEST_DIR/random" || fail "file differs after remount"
fstrim "$MNT" 2>/dev/null || true
umount "$MNT"

# Stop: detach, then the server goes away cleanly with its mount.
loop_detach
pid=$SERVE_PID
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
SERVE_PID=
[ "$rc" = 0 ] || { cat "$TEST_DIR/serve.err" >&2; fail "fuse-serve exited with $rc"; }
! grep -q " $TEST_DIR/fuse " /proc/mounts || fail "FUSE mount left behind"

# A read-only disk: mode 0400, and opening it for writing fails.
serve_start "$TEST_DIR/fuse-ro" $((1 << 20)) -r
[ "$(stat -c '%a' "$FILE")" = 400 ] || fail "read-only file mode $(stat -c '%a' "$FILE")"
if dd if=/dev/zero of="$FILE" bs=4k count=1 conv=notrunc status=none 2>/dev/null; then
	fail "writing a read-only disk succeeded"
fi
serve_stop
! grep -q " $TEST_DIR/fuse-ro " /proc/mounts || fail "FUSE mount left behind (read-only)"
echo "ok"
