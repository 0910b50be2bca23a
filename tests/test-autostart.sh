#!/usr/bin/env bash
# With no imdiskd on $IMDISK_SOCKET, imdisk (as root) starts the one beside it;
# a socket folder that cannot be created gives exit 4 and a clear reason.
. "$(dirname "$0")/functions.sh"
requires_root

[ -e "$IMDISK_SOCKET" ] && fail "$IMDISK_SOCKET exists before the test"
expect_eq "No virtual disks." "$(imdisk -l)" "imdisk -l with no daemon running"
[ -S "$IMDISK_SOCKET" ] || fail "no socket at $IMDISK_SOCKET after imdisk -l"
[ -s "$IMDISK_SOCKET.pid" ] || fail "no $IMDISK_SOCKET.pid"
pid=$(cat "$IMDISK_SOCKET.pid")
kill -0 "$pid" 2>/dev/null || fail "the PID $pid in $IMDISK_SOCKET.pid is not running"
expect_eq "$(readlink -f "$IMDISKD")" "$(readlink "/proc/$pid/exe")" "program of PID $pid"
grep -qz -- "$IMDISK_SOCKET" "/proc/$pid/cmdline" || fail "PID $pid does not serve $IMDISK_SOCKET"
# Its output does not hold a pipe of ours open: the command substitution above returned.

# The same daemon serves the next calls.
u=$(attach -s 1M)
expect_eq "$pid" "$(cat "$IMDISK_SOCKET.pid")" "PID after a second call"
imdisk -d -u "$u"

# A socket below a regular file: nothing can be created there.
touch "$TEST_DIR/file"
IMDISK_SOCKET=$TEST_DIR/file/sub/control expect_error "imdiskd|start|$TEST_DIR/file" 4 imdisk -l
expect_error "imdiskd|start|$TEST_DIR/file" 4 imdisk --socket "$TEST_DIR/file/sub/control" -l
[ -e "$TEST_DIR/file/sub" ] && fail "something was created below a regular file"
# A socket path that nobody serves and where a daemon cannot bind (too long).
long=$TEST_DIR/$(printf 'x%.0s' $(seq 120))/control
expect_error "imdiskd|start|socket" 4 imdisk --socket "$long" -l
