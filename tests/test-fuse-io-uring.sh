#!/usr/bin/env bash
# imdiskd --fuse-io-uring: a user-space disk served over FUSE's io_uring channel
# carries data both ways, and the machine-wide switch is left as it was.
source "$(dirname "$0")/functions.sh"
requires_root
switch=/sys/module/fuse/parameters/enable_uring
[ -w "$switch" ] || skip "this kernel has no FUSE over io_uring"
before=$(cat "$switch")
start_daemon --fuse-io-uring
u=$("$IMDISK" -a -s 64M --transport=fuse -n)
[ "$(cat "$switch")" = "$before" ] || fail "enable_uring is $(cat "$switch"), was $before"
dev=$(unit_device "$u")
random_file "$TEST_DIR/data" $((32 << 20))
dd if="$TEST_DIR/data" of="$dev" bs=1M oflag=direct status=none
cmp "$TEST_DIR/data" <(head -c $((32 << 20)) "$dev") || fail "data differs through FUSE over io_uring"
rings=$(ls -l "/proc/$DAEMON_PID/fd" | grep -c io_uring || true)
[ "$rings" -ge 1 ] || fail "imdiskd has no io_uring ring: the /dev/fuse path served the disk"
"$IMDISK" -d -u "$u" >/dev/null
