#!/usr/bin/env bash
# devio --unix creates its socket 0600 whatever the umask (IMDPROXY has no
# authentication: the file's mode decides who may use the disk); --socket-mode
# widens it, and a bad mode is a one-line usage error with exit status 2.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

sock=$TEST_DIR/devio.sock

# The loosest umask still gives an owner-only socket.
start_devio_with_umask 000 --unix "$sock" memory:1M
wait_for_path "$sock"
expect_eq 600 "$(stat -c %a "$sock")" "socket mode under umask 000"
expect_output "info size=1048576 alignment=1 flags=0x6" probe --unix "$sock" info
stop_devio || fail "devio did not end cleanly"

# Widened on request, and served.
start_devio_with_umask 000 --unix "$sock" --socket-mode 0660 memory:1M
wait_for_path "$sock"
expect_eq 660 "$(stat -c %a "$sock")" "socket mode with --socket-mode 0660"
expect_output "info size=1048576 alignment=1 flags=0x6" probe --unix "$sock" info
stop_devio || fail "devio did not end cleanly"

# Bad modes: refused before anything is created.
for mode in 0999 abc 01000 -1 ""; do
	rc=0
	out=$("$DEVIO" --unix "$sock" --socket-mode "$mode" memory:1M 2>&1) || rc=$?
	expect_eq 2 "$rc" "exit status for mode '$mode'"
	expect_eq "devio: error: bad socket mode '$mode' (octal permission bits, e.g. 0660)" \
		"$(head -n 1 <<<"$out")" "message for mode '$mode'"
done
rc=0
out=$("$DEVIO" --socket-mode 0660 0 memory:1M 2>&1) || rc=$?
expect_eq 2 "$rc" "exit status for --socket-mode without --unix"
expect_eq "devio: error: --socket-mode goes with --unix" "$(head -n 1 <<<"$out")" \
	"message for --socket-mode without --unix"
[ ! -e "$sock" ] || fail "a socket was left at $sock"
echo "ok"
