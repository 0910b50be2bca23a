#!/usr/bin/env bash
# imdiskd --fuse-workers N --no-fuse-io-uring: the FUSE transport runs N
# workers, each on its own cloned /dev/fuse descriptor (N + 1 descriptors with
# the session's) and no io_uring ring, and a user-space disk served by them
# works (data round-trips through many requests at once).  A number outside
# 1-64 is refused at start (exit 1, one clear line).  (The io_uring channel's
# workers: test-fuse-io-uring.sh.)
source "$(dirname "$0")/functions.sh"
requires_root
requires fio
[ -c /dev/fuse ] || skip "needs /dev/fuse"

for bad in 0 65 x 2x ""; do
	rc=0
	err=$("$IMDISKD" --socket "$TEST_DIR/bad.sock" --foreground --fuse-workers "$bad" 2>&1) || rc=$?
	expect_eq 1 "$rc" "exit of --fuse-workers '$bad'"
	grep -q "fuse-workers takes a number from 1 to 64" <<<"$err" || fail "unclear message for '$bad': $err"
done

start_daemon --fuse-workers 5 --no-fuse-io-uring
u=$(attach -s 64M --transport=fuse)
dev=$(unit_device "$u")
fuse_fds=0
for f in /proc/"$DAEMON_PID"/fd/*; do
	[ "$(readlink "$f" 2>/dev/null)" = /dev/fuse ] && fuse_fds=$((fuse_fds + 1))
done
expect_eq 6 "$fuse_fds" "/dev/fuse descriptors of imdiskd with 5 workers"
workers=$(grep -l '^imdisk-fuse' /proc/"$DAEMON_PID"/task/*/comm 2>/dev/null | wc -l)
expect_eq 5 "$workers" "FUSE worker threads"
rings=$(find /proc/"$DAEMON_PID"/fd -lname 'anon_inode:\[io_uring\]' 2>/dev/null | wc -l)
expect_eq 0 "$rings" "io_uring rings of imdiskd with --no-fuse-io-uring"

fio --name=verify --filename="$dev" --ioengine=io_uring --direct=1 --bs=4k --iodepth=32 \
	--rw=randwrite --verify=crc32c --verify_fatal=1 --verify_state_save=0 --size=64M \
	--output="$TEST_DIR/fio.out" || fail "data did not verify through 5 workers: $(grep -i -m3 'verify\|err' "$TEST_DIR/fio.out")"
imdisk -d -u "$u" >/dev/null || fail "imdisk -d failed"
wait_detached "$dev" "unit$u" || fail "$dev still attached after -d"
