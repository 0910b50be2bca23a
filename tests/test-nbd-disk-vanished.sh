#!/usr/bin/env bash
# An NBD server that goes away: I/O on a server that falls silent (SIGSTOP) or
# dies (SIGKILL) fails with EIO within the daemon's --proxy-timeout twice over
# (the request's timeout, then the reconnect window); `imdisk -l` still answers
# and shows the disk disconnected, further I/O fails within a probe's time
# (2 s) per request, and the disk is removed cleanly.  A server that comes back
# on the same socket is reconnected to: I/O works again, nothing written is
# lost, and the disk shows connected again.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/nbd-helpers.sh"
requires_root
start_daemon --proxy-timeout 2 ${NBD_TEST_DEBUG:+-D proxy}

# elapsed_io DEV MIB: a direct read of one MiB at MIB; prints "RC SECONDS".
elapsed_io() {
	local start end rc=0
	start=$(date +%s.%N)
	dd if="$1" of=/dev/null bs=1M skip="$2" count=1 iflag=direct status=none 2>"$TEST_DIR/dd.err" || rc=$?
	end=$(date +%s.%N)
	echo "$rc $(python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))' "$start" "$end")"
}

check_gone() { # UNIT DEV WHAT
	local out
	out=$(timeout 10 "$IMDISK" -l -u "$1") || fail "$3: imdisk -l did not answer"
	grep -q "NBD (unix, not connected)" <<<"$out" || fail "$3: -l does not show the disk disconnected: $out"
	expect_eq false "$(disk_field "$1" proxy.connected)" "$3: proxy.connected"
	read -r rc secs < <(elapsed_io "$2" 20)
	[ "$rc" != 0 ] || fail "$3: I/O on the disconnected disk succeeded"
	python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= 5.5)' "$secs" || fail "$3: I/O on the disconnected disk took ${secs}s"
}

# A silent server.
sock=$TEST_DIR/silent.sock
start_nbdkit_unix "$sock" memory 64M
silent_pid=$NBDKIT_PID
unit=$(attach -f "nbd+unix:///?socket=$sock")
dev=$(unit_device "$unit")
dev_read "$dev" 1M >/dev/null || fail "the disk does not read before the server stops"
kill -STOP "$silent_pid"
on_cleanup "kill -CONT $silent_pid 2>/dev/null"
read -r rc secs < <(elapsed_io "$dev" 8)
[ "$rc" != 0 ] || fail "a read from a silent server succeeded"
grep -q "Input/output error" "$TEST_DIR/dd.err" || fail "a read from a silent server: $(cat "$TEST_DIR/dd.err")"
note "silent server: EIO after ${secs}s"
python3 -c 'import sys; sys.exit(not (1.5 <= float(sys.argv[1]) <= 8))' "$secs" ||
	fail "a read from a silent server failed after ${secs}s, not within twice the 2 s timeout"
check_gone "$unit" "$dev" "silent server"
timeout 20 "$IMDISK" -d -u "$unit" || fail "removing the disk of a silent server failed"
wait_detached "$dev" || fail "$dev still attached after removal"
kill -KILL "$silent_pid"

# A server that dies.
sock=$TEST_DIR/dead.sock
start_nbdkit_unix "$sock" memory 64M
unit=$(attach -f "nbd+unix:///?socket=$sock")
dev=$(unit_device "$unit")
dev_read "$dev" 1M >/dev/null || fail "the disk does not read before the server dies"
kill -KILL "$NBDKIT_PID"
wait "$NBDKIT_PID" 2>/dev/null || true
read -r rc secs < <(elapsed_io "$dev" 8)
[ "$rc" != 0 ] || fail "a read from a dead server succeeded"
grep -q "Input/output error" "$TEST_DIR/dd.err" || fail "a read from a dead server: $(cat "$TEST_DIR/dd.err")"
note "dead server: EIO after ${secs}s"
python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= 5)' "$secs" || fail "a read from a dead server took ${secs}s"
check_gone "$unit" "$dev" "dead server"
random_file "$TEST_DIR/data" 1M
dd if="$TEST_DIR/data" of="$dev" bs=1M seek=3 oflag=direct conv=notrunc status=none 2>/dev/null &&
	fail "a write to a dead server succeeded"
timeout 20 "$IMDISK" -d -u "$unit" || fail "removing the disk of a dead server failed"
wait_detached "$dev" || fail "$dev still attached after removal"

# A server that comes back: nbdkit file, killed and started again on the same
# socket, serving the same file.
img=$TEST_DIR/served.img
truncate -s 32M "$img"
sock=$TEST_DIR/back.sock
start_nbdkit_unix "$sock" file "$img"
unit=$(attach -f "nbd+unix:///?socket=$sock")
dev=$(unit_device "$unit")
random_file "$TEST_DIR/before" 1M
dev_write "$TEST_DIR/before" "$dev" 2
kill -KILL "$NBDKIT_PID"
wait "$NBDKIT_PID" 2>/dev/null || true
rm -f "$sock"
# Away long enough for the disk to give up (a read fails), then back: the
# requests of one burst (a 4 MiB write, served in parallel) all find it.
read -r rc secs < <(elapsed_io "$dev" 20)
[ "$rc" != 0 ] || fail "a read while the server was away succeeded"
start_nbdkit_unix "$sock" file "$img"
random_file "$TEST_DIR/after" 4M
dev_write "$TEST_DIR/after" "$dev" 5 || fail "a write after the server came back failed"
cmp <(dev_read "$dev" 3M | tail -c 1M) "$TEST_DIR/before" || fail "what was written before the restart is lost"
cmp <(dev_read "$dev" 9M | tail -c 4M) "$TEST_DIR/after" || fail "what was written after the restart does not read back"
cmp <(dd if="$img" bs=1M skip=5 count=4 status=none) "$TEST_DIR/after" || fail "the write after the restart is not in the file"
expect_eq true "$(disk_field "$unit" proxy.connected)" "proxy.connected after the server came back"
timeout 20 "$IMDISK" -d -u "$unit" || fail "removing the reconnected disk failed"
wait_detached "$dev" || fail "$dev still attached after removal"
echo "ok"
