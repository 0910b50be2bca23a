#!/usr/bin/env bash
# devio -D devio (or IMDISK_DEBUG=devio) traces its sessions on stderr: the open,
# the client's CLOSE, the end and its result, on stdio and on a socket; without
# either nothing is traced; an unknown area is a usage error (exit 2) on the
# command line and a warning in the environment.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

new_image sparse 1M
INFO_CLOSE='\1\0\0\0\0\0\0\0\5\0\0\0\0\0\0\0'

# serve_stdio_traced ARGS...: INFO and CLOSE on stdin; stderr in $TEST_DIR/err.
serve_stdio_traced() {
	printf "$INFO_CLOSE" | "$@" - "$img" 2>"$TEST_DIR/err" | od -An -tu8 >"$TEST_DIR/out"
	[ "$(tr -s ' \n' ' ' <"$TEST_DIR/out")" = " 1048576 1 6 " ] || fail "INFO with $*: $(cat "$TEST_DIR/out")"
}

serve_stdio_traced "$DEVIO" -D devio
grep -q "devio: debug: devio: stdio: session open (stream)$" "$TEST_DIR/err" || fail "no session open: $(cat "$TEST_DIR/err")"
grep -q "devio: stdio: session closed by the client$" "$TEST_DIR/err" || fail "no CLOSE: $(cat "$TEST_DIR/err")"
grep -q "devio: stdio: session over: ended$" "$TEST_DIR/err" || fail "no session end: $(cat "$TEST_DIR/err")"

serve_stdio_traced env IMDISK_DEBUG=devio "$DEVIO"
grep -q "devio: stdio: session open" "$TEST_DIR/err" || fail "IMDISK_DEBUG=devio traced nothing"
serve_stdio_traced env IMDISK_DEBUG=all "$DEVIO"
grep -q "devio: stdio: session over: ended$" "$TEST_DIR/err" || fail "IMDISK_DEBUG=all traced nothing"

# Off by default: not a line.
serve_stdio_traced "$DEVIO"
[ ! -s "$TEST_DIR/err" ] || fail "devio without -D wrote: $(cat "$TEST_DIR/err")"

"$DEVIO" --help | grep -q -- "-D, --debug LIST" || fail "--help lists no -D"

# An unknown area: on the command line a usage error; in the environment a
# warning, and devio serves on.
expect_error "bad trace list 'nope' \(known: .*devio.*\)" 2 "$DEVIO" -D nope - "$img"
serve_stdio_traced env IMDISK_DEBUG=nope "$DEVIO"
grep -q "IMDISK_DEBUG=nope: unknown area" "$TEST_DIR/err" || fail "no warning for IMDISK_DEBUG=nope"

# A socket session, traced as one.
sock=$TEST_DIR/devio.sock
start_devio_unix "$sock" -D devio memory:1M
expect_output "info size=1048576 alignment=1 flags=0x6" probe --unix "$sock" info
stop_devio || fail "devio exited with $?"
grep -q "devio: unix client: session open (socket)$" "$DEVIO_LOG" || fail "no socket session traced: $(cat "$DEVIO_LOG")"
grep -q "devio: unix client: session over: ended$" "$DEVIO_LOG" || fail "no socket session end traced"
echo "ok"
