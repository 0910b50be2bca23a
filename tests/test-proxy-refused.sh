#!/usr/bin/env bash
# A proxy server that is not there: nothing at the unix path, a unix socket or a
# TCP port that nobody listens on (bound, not listening: connections are refused)
# makes `imdisk -a -t proxy` exit 7 with one line naming the address and the
# reason, and leaves no disk, loop device or FUSE file behind.
source "$(dirname "$0")/functions.sh"
requires_root
requires python3
start_daemon

# Sockets bound but never listened on, kept until the end of the test.
python3 -c '
import socket, sys, time
u = socket.socket(socket.AF_UNIX); u.bind(sys.argv[1])
t = socket.socket(); t.bind(("127.0.0.1", 0))
print(t.getsockname()[1], flush=True)
time.sleep(600)' "$TEST_DIR/deaf.sock" >"$TEST_DIR/port" &
holder=$!
on_cleanup "kill $holder 2>/dev/null; wait $holder 2>/dev/null"
for _ in $(seq 100); do [ -s "$TEST_DIR/port" ] && break; sleep 0.05; done
port=$(cat "$TEST_DIR/port")
[ -n "$port" ] && [ -S "$TEST_DIR/deaf.sock" ] || fail "the deaf sockets were not made"

nothing_left() {
	expect_eq "No virtual disks." "$(imdisk -l)" "list after $1"
	[ -z "$(losetup -l -n -O BACK-FILE | grep -F "$TEST_DIR/")" ] || fail "a loop device is left after $1"
	[ -z "$(ls -A "$TEST_DIR/fuse" 2>/dev/null)" ] || fail "FUSE files left after $1: $(ls -A "$TEST_DIR/fuse")"
}
expect_error "cannot connect to proxy $TEST_DIR/missing.sock: No such file or directory" 7 \
	imdisk -a -t proxy -f "unix:$TEST_DIR/missing.sock"
nothing_left "a missing socket"
expect_error "cannot connect to proxy $TEST_DIR/deaf.sock: Connection refused" 7 \
	imdisk -a -t proxy -f "unix:$TEST_DIR/deaf.sock"
nothing_left "a socket nobody listens on"
expect_error "cannot connect to proxy 127.0.0.1:$port: Connection refused" 7 \
	imdisk -a -t proxy -o ip -f "127.0.0.1:$port" -m "$TEST_DIR/mnt"
nothing_left "a TCP port nobody listens on"
! mountpoint -q "$TEST_DIR/mnt" 2>/dev/null || fail "something is mounted on $TEST_DIR/mnt"
