#!/usr/bin/env bash
# Tracing of the FUSE transport (IMDISK_DEBUG=fuse, as imdiskd -D fuse): the
# channel chosen at INIT, how each published disk is served (a RAM disk on the
# channel's threads, a proxy disk on threads of its own), and a request the
# transport does not support (mkdir in its mount: ENOSYS, traced with its
# opcode).  Without it, imdiskd prints no trace line at all.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
[ -c /dev/fuse ] || skip "needs /dev/fuse"
LOG=$TEST_DIR/imdiskd.log
switch=/sys/module/fuse/parameters/enable_uring

# Off: the same work leaves no trace line.
start_daemon --no-fuse-io-uring
u=$(attach -s 16M --transport=fuse)
imdisk -d -u "$u" >/dev/null || fail "imdisk -d failed"
stop_daemon
! grep -q "debug: fuse" "$LOG" || fail "trace lines without IMDISK_DEBUG: $(grep -m2 'debug: fuse' "$LOG")"

# channel_traced IMDISKD-OPTION WANTED-CHANNEL
channel_traced() {
	: >"$LOG"
	export IMDISK_DEBUG=fuse
	start_daemon "$1"
	unset IMDISK_DEBUG
	u=$(attach -s 16M --transport=fuse)
	grep -q "debug: fuse: INIT: protocol 7\.[0-9]*, channel $2" "$LOG" ||
		fail "no trace of channel $2 with $1: $(grep 'fuse:' "$LOG" | head -n 5)"
	grep -q "debug: fuse: unit$u: memory disk, served on the channel's threads" "$LOG" ||
		fail "no trace of how the RAM disk is served: $(grep 'fuse:' "$LOG" | head -n 8)"
	rc=0
	mkdir "$TEST_DIR/fuse/newdir" 2>"$TEST_DIR/mkdir.err" || rc=$?
	[ "$rc" != 0 ] || fail "mkdir in the FUSE mount succeeded"
	grep -q "Function not implemented" "$TEST_DIR/mkdir.err" || fail "mkdir: not ENOSYS: $(cat "$TEST_DIR/mkdir.err")"
	grep -q "debug: fuse: opcode 9 not supported: ENOSYS" "$LOG" ||
		fail "the unsupported MKDIR was not traced: $(grep 'fuse:' "$LOG" | tail -n 5)"
	imdisk -d -u "$u" >/dev/null || fail "imdisk -d failed"
}

channel_traced --no-fuse-io-uring /dev/fuse
proxy_disk_on_new_image $((16 << 20))
grep -q "debug: fuse: unit$u: .* disk, served on threads of its own" "$LOG" ||
	fail "no trace of how the proxy disk is served: $(grep 'fuse:' "$LOG" | tail -n 5)"
imdisk -d -u "$u" >/dev/null || fail "imdisk -d of the proxy disk failed"
stop_daemon

if [ -w "$switch" ]; then
	before=$(cat "$switch")
	channel_traced --fuse-io-uring io_uring
	grep -q "debug: fuse: enable_uring was $before: turned on" "$LOG" || fail "the switch's flip was not traced"
	grep -q "debug: fuse: ring 0: .*: registered" "$LOG" || fail "no trace of the ring's setup"
	stop_daemon
	[ "$(cat "$switch")" = "$before" ] || fail "enable_uring is $(cat "$switch"), was $before"
fi
