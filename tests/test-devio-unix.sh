#!/usr/bin/env bash
# devio --unix PATH serves on a unix-domain socket: requests round-trip, a stale
# socket left by a killed devio is replaced, a live one or a plain file is not
# taken over, and the socket is removed at exit.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

new_image random $((2 << 20))
sock=$TEST_DIR/devio.sock

start_devio_unix "$sock" "$img"
[ -S "$sock" ] || fail "$sock is not a socket"
random_file "$TEST_DIR/w" 8192
expect_output "info size=2097152 alignment=1 flags=0x6
write errorno=0 length=8192
read errorno=0 length=8192
close" probe $DEVIO_AT info write 1000000 "$TEST_DIR/w" read 1000000 8192 "$TEST_DIR/r" close
cmp "$TEST_DIR/w" "$TEST_DIR/r" || fail "data differs over the unix socket"

# A second devio on the same live socket refuses, and leaves the first alone.
expect_error "in use" 1 "$DEVIO" --unix "$sock" "$img"
expect_output "info size=2097152 alignment=1 flags=0x6" probe $DEVIO_AT info

# Killed: the socket file stays; the next devio replaces it.
stop_devio KILL || true
[ -S "$sock" ] || fail "expected a stale socket after SIGKILL"
start_devio_unix "$sock" "$img"
expect_output "info size=2097152 alignment=1 flags=0x6" probe $DEVIO_AT info

# A clean stop removes the socket.
stop_devio || fail "devio exited with $?"
[ ! -e "$sock" ] || fail "$sock left behind"

# A path that is not a socket is never replaced.
echo keep >"$TEST_DIR/file"
expect_error "not a socket" 1 "$DEVIO" --unix "$TEST_DIR/file" "$img"
[ "$(cat "$TEST_DIR/file")" = keep ] || fail "a plain file was replaced"
