#!/usr/bin/env bash
# util-linux's explicit size forms: -s 1MiB is 2^20 bytes, -s 8MB is 8,000,000
# bytes (block device sizes checked); ImDisk's 1M keeps 2^20; a wrong-case
# "1kiB" is a bad size (exit 10).
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

check_size() {
	local u dev
	u=$(attach -s "$1")
	dev=$(unit_device "$u")
	expect_eq "$2" "$(blockdev --getsize64 "$dev")" "size of -s $1"
	imdisk -d -u "$u"
	wait_detached "$dev" imdisk-memory || fail "$dev still attached after -d"
}

check_size 1MiB 1048576
check_size 8MB 8000000
check_size 1M 1048576
expect_error "bad size '1kiB'" 10 imdisk -a -s 1kiB
