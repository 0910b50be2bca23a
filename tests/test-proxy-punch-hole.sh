#!/usr/bin/env bash
# A hole punched in a proxy disk (fallocate --punch-hole on the block device,
# which the kernel turns into write-zeroes that may unmap) reads back as zeroes
# even when the server does not advertise UNMAP: the client must write zeroes
# (or send ZERO) then, never drop the request.  The data around it stays.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires python3 fallocate
start_daemon

sock=$TEST_DIR/fake.sock
start_fake_proxy "$sock" $((1 << 20)) 1 0 # flags 0: neither UNMAP nor ZERO
u=$(attach -t proxy -f "unix:$sock")
dev=$(unit_device "$u")
random_file "$TEST_DIR/data" $((1 << 20))
dev_write "$TEST_DIR/data" "$dev"
cp "$TEST_DIR/data" "$TEST_DIR/expected"
dd if=/dev/zero of="$TEST_DIR/expected" bs=64K seek=1 count=2 conv=notrunc status=none

expect_exit 0 fallocate --punch-hole --keep-size -o 65536 -l 131072 "$dev"
! grep -q "^request 6$" "$FAKE_LOG" || fail "UNMAP sent to a server that did not advertise it"
cmp "$TEST_DIR/expected" <(dev_read "$dev") ||
	fail "after a punched hole $dev does not read zeroes there (server requests: $(sort "$FAKE_LOG" | uniq -c | tr '\n' ' '))"
imdisk -d -u "$u" >/dev/null
