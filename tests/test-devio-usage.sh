#!/usr/bin/env bash
# devio's command line: usage errors exit 2 with one line and the synopsis,
# runtime errors exit 1 with one clear line, --help and --version exit 0.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

new_image sparse 1M

expect_exit 0 "$DEVIO" --help >/dev/null
"$DEVIO" --help | grep -q -- "--cache=MODE" || fail "--help lists no --cache"
[ "$("$DEVIO" --version)" = "devio (imdisk) $("$DEVIO" --version | awk '{print $3}')" ] || fail "--version"

expect_error "where to serve is missing" 2 "$DEVIO"
expect_error "disk to serve is missing" 2 "$DEVIO" 9000
expect_error "too many arguments" 2 "$DEVIO" 0 "$img" 0 0 1 1M extra
expect_error "bad TCP port" 2 "$DEVIO" 70000 "$img"
expect_error "bad size or partition" 2 "$DEVIO" 0 "$img" 12Q
expect_error "bad offset" 2 "$DEVIO" 0 "$img" 0 x
expect_error "bad alignment" 2 "$DEVIO" 0 "$img" 0 0 0
expect_error "bad alignment" 2 "$DEVIO" 0 "$img" 0 0 1024
expect_error "bad buffer size" 2 "$DEVIO" 0 "$img" 0 0 1 100
expect_error "bad cache mode" 2 "$DEVIO" --cache=sometimes 0 "$img"
expect_error "shared memory name" 2 "$DEVIO" shm:a/b "$img"
expect_error "partition, --size" 2 "$DEVIO" --partition 1 --size 1M 0 "$img"
expect_error "size or partition once" 2 "$DEVIO" --partition 1 0 "$img" 2
expect_error "--listen goes with a TCP port" 2 "$DEVIO" --listen :: - "$img"
expect_error "usage" 2 "$DEVIO" --no-such-option 0 "$img"

expect_error "cannot open .*missing.img" 1 "$DEVIO" 0 "$TEST_DIR/missing.img"
expect_error "bad RAM disk size" 1 "$DEVIO" 0 memory:lots
expect_error "cannot open /dev/null-not-a-tty" 1 "$DEVIO" /dev/null-not-a-tty "$img"
chmod 0444 "$img"
if [ "$(id -u)" != 0 ]; then
	expect_error "for writing.*-r" 1 "$DEVIO" 0 "$img"
fi

# A port in use: one line naming the step that failed.
start_devio_tcp "$img"
expect_error "cannot listen on loopback port $DEVIO_PORT: bind" 1 "$DEVIO" "$DEVIO_PORT" "$img"
stop_devio || fail "devio exited with $?"
