#!/usr/bin/env bash
# imdisk checks a proxy server's INFO as ImDisk does: req_alignment 0 or 513, or a
# size of 65536 bytes, fails the attach with exit 3 and a message naming the
# server, leaving nothing behind (no disk, no loop device, no FUSE file, the
# connection closed).  A server that does not advertise UNMAP never gets one:
# blkdiscard on its disk succeeds without sending it (one that does, gets it).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires python3 blkdiscard losetup
start_daemon

sock=$TEST_DIR/fake.sock
nothing_left() { # what: no disk, no loop device or FUSE file, connections closed
	expect_eq "No virtual disks." "$(imdisk -l)" "list after $1"
	[ -z "$(losetup -l -n -O BACK-FILE | grep -F "$TEST_DIR/")" ] || fail "a loop device is left after $1: $(losetup -l | grep -F "$TEST_DIR/")"
	[ -z "$(ls -A "$TEST_DIR/fuse" 2>/dev/null)" ] || fail "FUSE files left after $1: $(ls -A "$TEST_DIR/fuse")"
	fake_proxy_idle || fail "the connection to the server is still open after $1"
}
for spec in "$((1 << 20)) 0 0x2:req_alignment 0:alignment outside 1..512" \
	"$((1 << 20)) 513 0x2:req_alignment 513:alignment outside 1..512" \
	"65536 1 0x2:size 65536:65536 bytes or less"; do
	IFS=: read -r numbers what why <<<"$spec"
	read -r size align flags <<<"$numbers"
	rm -f "$sock"
	start_fake_proxy "$sock" "$size" "$align" "$flags"
	expect_error "proxy server unix:$sock .*$why" 3 imdisk -a -t proxy -f "unix:$sock"
	grep -qx "request 1" "$FAKE_LOG" || fail "no INFO was sent for $what"
	nothing_left "INFO with $what"
	stop_devio KILL || true
done

# No SUPPORTS_UNMAP (flags 0): a discard succeeds and sends no UNMAP.
rm -f "$sock"
start_fake_proxy "$sock" $((1 << 20)) 1 0
u=$(attach -t proxy -f "unix:$sock")
dev=$(unit_device "$u")
random_file "$TEST_DIR/data" $((1 << 20))
dev_write "$TEST_DIR/data" "$dev"
cmp "$TEST_DIR/data" <(dev_read "$dev") || fail "data differs through the fake server"
expect_exit 0 blkdiscard "$dev"
expect_exit 0 blkdiscard -o 65536 -l 131072 "$dev"
! grep -q "^request 6$" "$FAKE_LOG" || fail "UNMAP sent to a server that did not advertise it: $(grep -c '^request 6$' "$FAKE_LOG") times"
# (What the range reads now is not checked: the loop driver sends a discard as
# a punched hole, which a client may have to fill with zeroes.)
imdisk -d -u "$u" >/dev/null
nothing_left "-d"
! grep -q "^request 6$" "$FAKE_LOG" || fail "UNMAP sent to a server that did not advertise it"
stop_devio KILL || true

# The control: the same server advertising SUPPORTS_UNMAP (0x2) gets the discard.
rm -f "$sock"
start_fake_proxy "$sock" $((1 << 20)) 1 0x2
u=$(attach -t proxy -f "unix:$sock")
dev=$(unit_device "$u")
dev_write "$TEST_DIR/data" "$dev"
expect_exit 0 blkdiscard -o 65536 -l 131072 "$dev"
grep -q "^range 6 " "$FAKE_LOG" || fail "no UNMAP reached a server that advertised it"
cmp -n 131072 <(dev_read "$dev" 196608 | tail -c +65537) /dev/zero || fail "the discarded range is not zeroes"
imdisk -d -u "$u" >/dev/null
nothing_left "-d"
