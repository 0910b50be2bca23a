#!/usr/bin/env bash
# devio over TCP answers every IMDPROXY request kind, and the data round-trips:
# INFO, READ, WRITE, UNMAP, ZERO, CLOSE, on an image file and on a RAM disk.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

new_image random $((4 << 20))
start_devio_tcp "$img"

# INFO: the size, alignment 1, SUPPORTS_UNMAP|SUPPORTS_ZERO (a file can punch holes).
expect_output "info size=4194304 alignment=1 flags=0x6" probe $DEVIO_AT info

# READ: 1 MiB from offset 1 MiB is the image's.
expect_output "read errorno=0 length=1048576" probe $DEVIO_AT read $((1 << 20)) $((1 << 20)) "$TEST_DIR/r1"
cmp "$TEST_DIR/r1" <(dd if="$img" bs=1M skip=1 count=1 status=none) || fail "READ data differs"

# WRITE 64 KiB at an odd offset: read back through devio, and on disk (written through).
random_file "$TEST_DIR/w1" 65536
expect_output "write errorno=0 length=65536
read errorno=0 length=65536" probe $DEVIO_AT write 12345 "$TEST_DIR/w1" read 12345 65536 "$TEST_DIR/r2"
cmp "$TEST_DIR/w1" "$TEST_DIR/r2" || fail "WRITE then READ differs"
cmp "$TEST_DIR/w1" <(dd if="$img" bs=1 skip=12345 count=65536 status=none) || fail "WRITE not in the image"

# UNMAP two ranges and ZERO one: zeroes there, the bytes around them untouched.
expect_output "unmap errorno=0
zero errorno=0" probe $DEVIO_AT unmap 0:4096,$((2 << 20)):8192 zero $((3 << 20)):512
python3 - "$img" "$TEST_DIR/original" <<'PY' || fail "UNMAP/ZERO changed the wrong bytes"
import sys
now, before = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
zeroed = [(0, 4096), (2 << 20, 8192), (3 << 20, 512)]
written = (12345, 12345 + 65536)
for i in range(0, len(now), 512):
    z = any(o <= i < o + n for o, n in zeroed)
    if z:
        assert now[i:i+512] == bytes(512), i
    elif not (written[0] - 512 < i < written[1]):
        assert now[i:i+512] == before[i:i+512], i
PY
expect_output "read errorno=0 length=8192" probe $DEVIO_AT read $((2 << 20)) 8192 "$TEST_DIR/r3"
cmp "$TEST_DIR/r3" <(head -c 8192 /dev/zero) || fail "READ after UNMAP is not zeroes"

# CLOSE: no reply, devio ends the session (the connection closes).
expect_output "info size=4194304 alignment=1 flags=0x6
close
eof" probe $DEVIO_AT info close expect-eof

# Many requests on one connection, in order.
args=()
for i in $(seq 0 49); do args+=(read $((i * 4096)) 4096 -); done
[ "$(probe $DEVIO_AT "${args[@]}" | grep -c '^read errorno=0 length=4096$')" = 50 ] || fail "50 READs in a row"

stop_devio || fail "devio exited with $?"

# A RAM disk (memory:SIZE) serves the same requests; a write-only pattern reads back.
start_devio_tcp memory:8M
expect_output "info size=8388608 alignment=1 flags=0x6" probe $DEVIO_AT info
random_file "$TEST_DIR/w2" $((1 << 20))
expect_output "write errorno=0 length=1048576
read errorno=0 length=1048576
zero errorno=0
read errorno=0 length=4096" probe $DEVIO_AT write $((7 << 20)) "$TEST_DIR/w2" read $((7 << 20)) $((1 << 20)) "$TEST_DIR/r4" \
	zero $((7 << 20)):4096 read $((7 << 20)) 4096 "$TEST_DIR/r5"
cmp "$TEST_DIR/w2" "$TEST_DIR/r4" || fail "RAM disk WRITE then READ differs"
cmp "$TEST_DIR/r5" <(head -c 4096 /dev/zero) || fail "RAM disk ZERO"
stop_devio || fail "devio exited with $?"
