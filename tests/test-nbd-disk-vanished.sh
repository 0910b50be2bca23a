#!/usr/bin/env bash
# An NBD server that goes away: one that falls silent (SIGSTOP) fails I/O with
# EIO within the daemon's --proxy-timeout, one that dies (SIGKILL) at once; in
# both cases `imdisk -l` still answers and shows the disk disconnected, further
# I/O fails at once, and the disk is removed cleanly.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/nbd-helpers.sh"
requires_root
start_daemon --proxy-timeout 2

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
	python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= 1.0)' "$secs" || fail "$3: I/O on the disconnected disk took ${secs}s"
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
	fail "a read from a silent server failed after ${secs}s, not about the 2 s timeout"
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
python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= 1.5)' "$secs" || fail "a read from a dead server took ${secs}s"
check_gone "$unit" "$dev" "dead server"
random_file "$TEST_DIR/data" 1M
dd if="$TEST_DIR/data" of="$dev" bs=1M seek=3 oflag=direct conv=notrunc status=none 2>/dev/null &&
	fail "a write to a dead server succeeded"
timeout 20 "$IMDISK" -d -u "$unit" || fail "removing the disk of a dead server failed"
wait_detached "$dev" || fail "$dev still attached after removal"
echo "ok"
