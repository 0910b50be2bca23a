#!/usr/bin/env bash
# A proxy disk reconnects with its creator's whole identity (uid, gid and
# supplementary groups), never with the daemon's: nobody makes a disk on root's
# devio, whose unix socket nobody may use (mode 0666); devio dies and comes back
# with a socket only root may use (root:root 0660, a group the daemon is in and
# nobody is not).  The disk does not reconnect: reads fail with EIO within the
# proxy timeout and the disk says disconnected.  When devio comes back with the
# socket nobody may use, the disk reconnects and reads nobody's data back.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires setpriv
# The daemon in group root too (as root often is), so that a reconnect made with
# the daemon's groups would reach a socket of group root.
cat >"$TEST_DIR/imdiskd-in-group-root" <<SH
#!/bin/sh
exec setpriv --groups=0 "$IMDISKD" "\$@"
SH
chmod +x "$TEST_DIR/imdiskd-in-group-root"
IMDISKD=$TEST_DIR/imdiskd-in-group-root
start_daemon --proxy-timeout 2
[ -x "$IMDISK" ] && setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$IMDISK" ||
	skip "nobody cannot run $IMDISK"
chmod 755 "$TEST_DIR"
chmod 666 "$IMDISK_SOCKET"
as_nobody() { setpriv --reuid=65534 --regid=65534 --groups=65534 "$@"; }
grep -qE '^Groups:\s*0\s*$' "/proc/$DAEMON_PID/status" || fail "imdiskd is not in group root alone"

img=$TEST_DIR/disk.img
sock=$TEST_DIR/devio.sock
truncate -s 16M "$img"
start_devio_unix "$sock" --socket-mode 0666 "$img"
u=$(as_nobody env IMDISK_SOCKET="$IMDISK_SOCKET" "$IMDISK" -a -n -t proxy -f "unix:$sock") ||
	fail "nobody could not make a proxy disk on a socket it may use"
dev=$(unit_device "$u")
random_file "$TEST_DIR/data" $((1 << 20))
dev_write "$TEST_DIR/data" "$dev"
cmp "$TEST_DIR/data" <(dev_read "$dev" $((1 << 20))) || fail "the data does not read back"

# devio comes back with a socket only root (and group root) may use.
stop_devio KILL || true
start_devio_unix "$sock" --socket-mode 0660 "$img"
expect_eq "root root 660" "$(stat -c '%U %G %a' "$sock")" "the new socket"
start=$SECONDS
for i in 1 2; do
	if dd if="$dev" of=/dev/null bs=4k count=1 skip=$((RANDOM % 4096)) iflag=direct status=none 2>"$TEST_DIR/dd.err"; then
		fail "read $i succeeded: the disk reconnected to a socket its creator may not use"
	fi
	grep -q "Input/output error" "$TEST_DIR/dd.err" || fail "unexpected error: $(cat "$TEST_DIR/dd.err")"
done
[ $((SECONDS - start)) -le 15 ] || fail "the failing reads took $((SECONDS - start)) s"
expect_eq false "$(disk_field "$u" proxy.connected)" "connected through a socket the creator may not use"

# The socket nobody may use again: the disk comes back.
stop_devio KILL || true
start_devio_unix "$sock" --socket-mode 0666 "$img"
ok=0
for _ in $(seq 50); do
	if cmp -s "$TEST_DIR/data" <(dev_read "$dev" $((1 << 20)) 2>/dev/null); then ok=1; break; fi
	sleep 0.2
done
[ "$ok" = 1 ] || fail "the disk did not reconnect to a socket its creator may use"
imdisk -d -u "$u" >/dev/null || fail "imdisk -d failed"
wait_detached "$dev" "unit$u" || fail "$dev still attached after -d"
