#!/usr/bin/env bash
# devio refuses bad requests with an errorno and stays in step with the stream:
# reads and writes out of range, writes to a read-only image, unknown codes,
# malformed range arrays, requests larger than the buffer, garbage, and clients
# that vanish mid-request.  devio itself never dies of it.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

size=$((1 << 20))
new_image random $size
INFO="info size=$size alignment=1 flags=0x6"
FAILED=18446744073709551615

start_devio_tcp --buffer-size 64K "$img"

# Reads: one that crosses the end is short, one at or past it fails with EINVAL,
# an offset of 2^63 and more too.  Nothing is zero-padded.
expect_output "read errorno=0 length=100
read errorno=22 length=0
read errorno=22 length=0
read errorno=22 length=0
read errorno=0 length=0
$INFO" probe $DEVIO_AT read $((size - 100)) 4096 "$TEST_DIR/tail" read $size 1 - read $((size + 512)) 512 - \
	read $((1 << 63)) 512 - read 0 0 - info
cmp "$TEST_DIR/tail" <(tail -c 100 "$img") || fail "the short read's bytes"

# Writes past the end fail (never a silent grow): errorno 22, length all-ones.
head -c 4096 /dev/urandom >"$TEST_DIR/w"
expect_output "write errorno=22 length=$FAILED
write errorno=22 length=$FAILED
$INFO" probe $DEVIO_AT write $((size - 100)) "$TEST_DIR/w" write $((1 << 63)) "$TEST_DIR/w" info
[ "$(stat -c %s "$img")" = $size ] || fail "the image grew"
cmp "$img" "$TEST_DIR/original" || fail "a refused write changed the image"

# Unknown and unserved requests: ENODEV in the reply shape the client expects,
# and the stream stays usable (every request's size is known).
expect_output "request errorno=19
$INFO
request errorno=19
request errorno=19
scsi errorno=19 length=0
connect error=19 object=0
$INFO" probe $DEVIO_AT request 42 info request 0 request 9 scsi 300 connect 0x2000 "host:9000" info

# UNMAP/ZERO: an array that is not whole ranges, or a range past the end: EINVAL,
# and nothing of the request is applied.
expect_output "ranges errorno=22
unmap errorno=22
zero errorno=22
$INFO" probe $DEVIO_AT ranges 6 17 unmap 0:4096,$((size - 512)):1024 zero $(((1 << 63) + 1)):512 info
cmp "$img" "$TEST_DIR/original" || fail "a refused UNMAP/ZERO changed the image"

# Larger than the buffer (64K here): the connection is dropped, as the reference
# does, and the next client is served.
expect_output "eof" probe $DEVIO_AT rawq 3,0,$((65536 + 1)) expect-eof
expect_output "eof" probe $DEVIO_AT rawq 2,0,$((65536 + 1)) expect-eof
expect_output "eof" probe $DEVIO_AT rawq 6,$((1 << 40)) expect-eof
expect_output "$INFO" probe $DEVIO_AT info
devio_alive

# Garbage: whatever it decodes to, devio answers or drops, and lives.
head -c 4096 /dev/urandom >"$TEST_DIR/garbage"
probe $DEVIO_AT raw "$(od -An -tx1 -v "$TEST_DIR/garbage" | tr -d ' \n')" sleep 100 >/dev/null || true
expect_output "request errorno=19
request errorno=19
$INFO" probe $DEVIO_AT request 0xffffffffffffffff request 0x7fffffffffffffff info
devio_alive

# Clients that go away in the middle of a header, or of a WRITE's data: nothing
# is written, and devio serves the next one.
probe $DEVIO_AT raw 030000 >/dev/null
probe $DEVIO_AT rawq 3,0,4096 raw 0102030405 >/dev/null
probe $DEVIO_AT rawq 2,0 >/dev/null
sleep 0.2
devio_alive
expect_output "$INFO" probe $DEVIO_AT info
cmp "$img" "$TEST_DIR/original" || fail "a half-sent WRITE changed the image"
grep -q "disconnected in the middle of a request" "$DEVIO_LOG" || fail "no message for a half request"
stop_devio || fail "devio exited with $?"

# A read-only image (-r): INFO says RO and nothing else; a WRITE gets EBADF (9)
# once its data was read off the wire, so the next request is still understood.
start_devio_tcp -r "$img"
expect_output "info size=$size alignment=1 flags=0x1
write errorno=9 length=$FAILED
unmap errorno=9
zero errorno=9
read errorno=0 length=4096
info size=$size alignment=1 flags=0x1" probe $DEVIO_AT info write 0 "$TEST_DIR/w" unmap 0:4096 zero 0:4096 \
	read 0 4096 "$TEST_DIR/r" info
cmp "$TEST_DIR/r" <(head -c 4096 "$TEST_DIR/original") || fail "read-only READ data"
cmp "$img" "$TEST_DIR/original" || fail "a read-only image changed"
stop_devio || fail "devio exited with $?"
