#!/usr/bin/env bash
# Access to the control socket is an explicit choice: without --group it is mode
# 0600, root's alone, even when a group named imdisk exists (its members get exit 6);
# with --group nogroup it is 0660 for group nogroup, whose members may use it; a
# --group that does not resolve stops imdiskd at start.  A socket handed over by
# systemd (socket activation) is used as it is.
. "$(dirname "$0")/functions.sh"
requires_callers
requires groupadd groupdel

if ! getent group imdisk >/dev/null; then
	groupadd --system imdisk || skip "cannot create a group imdisk"
	on_cleanup groupdel imdisk
fi
imdisk_gid=$(getent group imdisk | cut -d: -f3)

start_daemon
expect_eq "600 root root" "$(stat -c '%a %U %G' "$IMDISK_SOCKET")" "socket without --group"
expect_error "permission|denied|root" 6 \
	setpriv --reuid="$NOBODY_UID" --regid="$imdisk_gid" --groups="$imdisk_gid" "$IMDISK" -l
stop_daemon

start_daemon --group nogroup
expect_eq "660 root nogroup" "$(stat -c '%a %U %G' "$IMDISK_SOCKET")" "socket with --group nogroup"
expect_eq "No virtual disks." "$(as_nobody "$IMDISK" -l)" "a member of nogroup lists"
u=$(as_nobody "$IMDISK" -a -n -s 1M)
expect_eq "$NOBODY_UID" "$(disk_field "$u" owner.uid)" "owner of a member's disk"
expect_error "permission|denied|root" 6 \
	setpriv --reuid="$NOBODY_UID" --regid="$imdisk_gid" --groups="$imdisk_gid" "$IMDISK" -l
imdisk -d -u "$u" >/dev/null
stop_daemon

expect_error "--group no-such-group-here: no such group" 1 \
	"$IMDISKD" --socket "$IMDISK_SOCKET" --foreground --group no-such-group-here
[ -e "$IMDISK_SOCKET" ] && fail "a socket was made for a group that does not exist"

# Socket activation: the socket systemd made (here systemd-socket-activate) is
# served as it is; its mode is the unit's (SocketMode=, SocketGroup=).
if command -v systemd-socket-activate >/dev/null; then
	rm -f "$IMDISK_SOCKET"
	systemd-socket-activate -l "$IMDISK_SOCKET" "$IMDISKD" --socket "$IMDISK_SOCKET" --foreground \
		>>"$TEST_DIR/imdiskd.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 50); do [ -S "$IMDISK_SOCKET" ] && break; sleep 0.05; done
	expect_eq "No virtual disks." "$(imdisk -l)" "imdiskd started by socket activation"
	u=$(attach -s 1M)
	imdisk -d -u "$u" >/dev/null
	stop_daemon
fi
