#!/usr/bin/env bash
# devio serves on a serial line (/dev/ttyX:settings, raw mode): one session after
# another on the same line, data round-trips.  A socat pty pair plays the cable.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires socat

new_image random $((1 << 20))
start_pty_pair

# Bad settings are a usage error.
expect_error "serial settings" 2 "$DEVIO" "$TEST_DIR/a:115200,9,X" "$img"

start_devio_serial "$TEST_DIR/a:115200,8,N,1" "$img"
random_file "$TEST_DIR/w" 100000
expect_output "info size=1048576 alignment=1 flags=0x6
write errorno=0 length=100000
read errorno=0 length=100000
close" probe --serial "$TEST_DIR/b" info write 4096 "$TEST_DIR/w" read 4096 100000 "$TEST_DIR/r" close
cmp "$TEST_DIR/w" "$TEST_DIR/r" || fail "data differs over the serial line"

# A second session on the same line after CLOSE, then a third without CLOSE.
expect_output "info size=1048576 alignment=1 flags=0x6
read errorno=22 length=0
close" probe --serial "$TEST_DIR/b" info read $((1 << 20)) 1 - close
expect_output "info size=1048576 alignment=1 flags=0x6" probe --serial "$TEST_DIR/b" info
devio_alive
stop_devio || fail "devio exited with $?"
