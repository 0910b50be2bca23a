#!/usr/bin/env bash
# devio --nbd serves NBD clients: qemu-img info shows the size, qemu-img convert
# copies the image out byte for byte, writes by qemu-io and nbdcopy (many
# connections, many requests in flight) read back, over a unix socket and TCP.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires qemu-img qemu-io nbdcopy nbdinfo python3

size=$((8 << 20))
new_image random $size
sock=$TEST_DIR/nbd.sock
uri="nbd+unix:///?socket=$sock"
start_devio_unix "$sock" --nbd "$img"
[ "$(stat -c %a "$sock")" = 600 ] || fail "the NBD socket is not 0600"

got=$(qemu-img info --output=json "$uri" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
expect_eq "$size" "$got" "qemu-img info size"

qemu-img convert -f raw -O raw "$uri" "$TEST_DIR/copy"
cmp "$TEST_DIR/original" "$TEST_DIR/copy" || fail "qemu-img convert did not round-trip the image"

# qemu-io: a pattern write with FUA, write zeroes, read back.
cp "$TEST_DIR/original" "$TEST_DIR/expected"
qemu-io -f raw -c "write -f -P 0xab 1M 64k" -c "write -z 2M 1M" -c "read -P 0xab 1M 64k" \
	-c "read -P 0 2M 1M" "$uri" >"$TEST_DIR/qemu-io.out" ||
	fail "qemu-io failed: $(cat "$TEST_DIR/qemu-io.out")"
grep -q "Pattern verification failed" "$TEST_DIR/qemu-io.out" && fail "qemu-io read back other bytes"
python3 - "$TEST_DIR/expected" <<'PY'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(1 << 20); f.write(b'\xab' * 65536)
    f.seek(2 << 20); f.write(b'\0' * (1 << 20))
PY
nbdcopy "$uri" "$TEST_DIR/after"
cmp "$TEST_DIR/expected" "$TEST_DIR/after" || fail "qemu-io writes did not read back"

# nbdcopy in: four connections (multi-conn), 16 requests in flight on each.
random_file "$TEST_DIR/new" $size
nbdcopy --connections=4 --requests=16 --request-size=65536 "$TEST_DIR/new" "$uri"
nbdcopy "$uri" "$TEST_DIR/back"
cmp "$TEST_DIR/new" "$TEST_DIR/back" || fail "nbdcopy writes did not read back"
stop_devio || fail "devio exited with $?"
cmp "$TEST_DIR/new" "$img" || fail "the image does not hold what was written"

# TCP on a free loopback port, read-only: a write is refused.
start_devio_tcp --nbd -r "$img"
tcp="nbd://127.0.0.1:$DEVIO_PORT/"
qemu-img convert -f raw -O raw "$tcp" "$TEST_DIR/tcp-copy"
cmp "$TEST_DIR/new" "$TEST_DIR/tcp-copy" || fail "qemu-img convert over TCP differs"
nbdinfo --json "$tcp" | python3 -c '
import json, sys
e = json.load(sys.stdin)["exports"][0]
assert e["is_read_only"] is True, e
assert e["can_multi_conn"] is True, e' || fail "nbdinfo: not read-only with multi-conn"
if qemu-io -f raw -c "write -P 1 0 4k" "$tcp" >"$TEST_DIR/ro.out" 2>&1 &&
	! grep -qi "denied\|read-only\|not permitted" "$TEST_DIR/ro.out"; then
	fail "a write to a read-only export succeeded: $(cat "$TEST_DIR/ro.out")"
fi
cmp "$TEST_DIR/new" "$img" || fail "a read-only export changed the image"
stop_devio || fail "devio exited with $?"
