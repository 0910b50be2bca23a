#!/usr/bin/env bash
# imdiskd -D control,disk traces, in its log, every control request (its kind,
# unit, the caller's uid and the result, with the reason of a failure) and the
# disk decisions (created, removed); without -D and IMDISK_DEBUG it traces
# nothing.  An unknown area is refused at the start with exit 1 and a message.
. "$(dirname "$0")/functions.sh"
requires_root
unset IMDISK_DEBUG
log=$TEST_DIR/imdiskd.log

expect_error "--debug takes a list of .*not 'bogus'" 1 "$IMDISKD" --socket "$TEST_DIR/unused" --foreground -D bogus
[ ! -e "$TEST_DIR/unused" ] || fail "imdiskd -D bogus made its socket"

# With tracing: a create and a remove, each as a request and as a disk decision.
start_daemon -D control,disk
u=$(attach -s 4M)
dev=$(unit_device "$u")
imdisk -d -u "$u" >/dev/null
wait_detached "$dev" imdisk-memory || fail "$dev still attached after -d"
expect_exit 1 imdisk -d -u 999 2>/dev/null
stop_daemon
grep -qE "control: create unit $u from uid 0: 0$" "$log" || fail "no trace of the create request"
grep -qE "disk: unit $u: created \($dev, 4194304 bytes, owner 0\)$" "$log" || fail "no trace of the disk created"
grep -qE "control: remove unit $u from uid 0: 0$" "$log" || fail "no trace of the remove request"
grep -qE "disk: unit $u: removed \(mode 0\)$" "$log" || fail "no trace of the disk removed"
# imdisk -d asks for the disk first: that query fails, with its reason.
grep -qE "control: query unit 999 from uid 0: -2, no disk with unit number 999$" "$log" ||
	fail "no trace of the failed query, with its reason"
grep -qE "control: query version from uid 0: 0$" "$log" || fail "no trace of the version request"

# Without: the same requests, and not one trace line.
mv "$log" "$TEST_DIR/traced.log"
start_daemon
u=$(attach -s 4M)
dev=$(unit_device "$u")
imdisk -d -u "$u" >/dev/null
wait_detached "$dev" imdisk-memory || fail "$dev still attached after -d"
stop_daemon
if grep -E "(control|disk): " "$log"; then fail "imdiskd without -D traced"; fi
exit 0
