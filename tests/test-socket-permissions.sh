#!/usr/bin/env bash
# The control socket is root's alone (mode 0600 unless imdiskd --group names a
# group: test-socket-group-explicit.sh): another user gets exit 6 (imdiskd inaccessible), and may
# not start a daemon either (exit 4).
. "$(dirname "$0")/functions.sh"
requires_root
requires runuser
start_daemon

expect_eq "600 root" "$(stat -c '%a %U' "$IMDISK_SOCKET")" "socket mode and owner"
[ -x "$IMDISK" ] && runuser -u nobody -- test -x "$IMDISK" || skip "nobody cannot run $IMDISK"

# Let nobody reach the socket's folder, so that only the socket's mode protects it.
chmod 755 "$TEST_DIR"
u=$(attach -s 1M)
rc=0
err=$(runuser -u nobody -- env IMDISK_SOCKET="$IMDISK_SOCKET" "$IMDISK" -l 2>&1 >/dev/null) || rc=$?
expect_eq 6 "$rc" "exit of imdisk -l as nobody ($err)"
grep -qiE "permission|denied|root" <<<"$err" || fail "unclear message for nobody: $err"
rc=0
runuser -u nobody -- env IMDISK_SOCKET="$IMDISK_SOCKET" "$IMDISK" -d -u "$u" 2>/dev/null || rc=$?
expect_eq 6 "$rc" "exit of imdisk -d as nobody"
expect_eq "$u" "$(imdisk -l -n)" "units after nobody tried to remove one"
imdisk -d -u "$u"

# No daemon on a socket nobody may create: not root, so it is not started.
mkdir -m 777 "$TEST_DIR/open"
rc=0
err=$(runuser -u nobody -- env IMDISK_SOCKET="$TEST_DIR/open/control" "$IMDISK" -l 2>&1 >/dev/null) || rc=$?
expect_eq 4 "$rc" "exit of imdisk -l as nobody with no daemon ($err)"
grep -qi "root" <<<"$err" || fail "unclear message: $err"
[ -e "$TEST_DIR/open/control" ] && fail "nobody started a daemon"
chmod 700 "$TEST_DIR"
