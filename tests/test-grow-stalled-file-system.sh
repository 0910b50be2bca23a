#!/usr/bin/env bash
# Growing a file disk whose image lies on a stalled file system never stalls the
# daemon: imdisk extends the image itself (with the caller's rights), so the wait
# is the caller's, and imdiskd checks the length outside its table lock.  While
# the grow hangs, `imdisk -l` and another disk's I/O answer within a second.  On
# an imdiskd that extended the image under its table lock, -l hung with it.
. "$(dirname "$0")/functions.sh"
requires_root
requires cmp timeout
SERVE=$BUILD/tests/tools/fuse-serve
[ -x "$SERVE" ] || skip "needs $SERVE"
[ -c /dev/fuse ] || skip "needs /dev/fuse"
start_daemon

# The "file system": a FUSE mount of fuse-serve with one 16 MiB file, stalled by
# stopping its server.
mkdir -p "$TEST_DIR/fs"
SERVE_PID=
serve_stop() {
	[ -n "$SERVE_PID" ] || return 0
	kill -CONT "$SERVE_PID" 2>/dev/null || true
	kill -TERM "$SERVE_PID" 2>/dev/null || true
	wait "$SERVE_PID" 2>/dev/null || true
	SERVE_PID=
}
"$SERVE" "$TEST_DIR/fs" $((16 << 20)) >"$TEST_DIR/serve.out" 2>"$TEST_DIR/serve.err" &
SERVE_PID=$!
on_cleanup serve_stop
for _ in $(seq 100); do [ -s "$TEST_DIR/serve.out" ] && break; sleep 0.05; done
image=$(head -n 1 "$TEST_DIR/serve.out")
[ -n "$image" ] || fail "fuse-serve printed no path: $(cat "$TEST_DIR/serve.err")"

# A disk on the first 8 MiB of that file, another RAM disk beside it.
slow=$(attach -f "$image" -s 8M)
other=$(attach -s 8M)
other_dev=$(unit_device "$other")
random_file "$TEST_DIR/data" 4M
dev_write "$TEST_DIR/data" "$other_dev"
sync

kill -STOP "$SERVE_PID"
"$IMDISK" -e -s 16M -u "$slow" >"$TEST_DIR/grow.out" 2>&1 &
grow_pid=$!
on_cleanup "kill -CONT $SERVE_PID 2>/dev/null; wait $grow_pid 2>/dev/null"
sleep 1
kill -0 "$grow_pid" 2>/dev/null || note "the grow ended at once: $(cat "$TEST_DIR/grow.out")"

timeout 1 "$IMDISK" -l >"$TEST_DIR/list" || fail "imdisk -l did not answer within a second during a stalled grow"
grep -q "^ *$other " "$TEST_DIR/list" || fail "the listing lacks unit $other: $(cat "$TEST_DIR/list")"
timeout 1 "$IMDISK" -l -u "$other" >/dev/null || fail "imdisk -l -u did not answer within a second"
dev_read "$other_dev" 4M | timeout 5 cmp - "$TEST_DIR/data" || fail "the other disk's data differ during a stalled grow"

# Freed, the grow ends (the FUSE file cannot be extended: an error, not a hang),
# and the disk is still the size it was.
kill -CONT "$SERVE_PID"
timeout 30 tail --pid="$grow_pid" -f /dev/null || fail "the grow did not end once the file system was back"
wait "$grow_pid" && note "grow succeeded" || note "grow refused: $(tail -n 1 "$TEST_DIR/grow.out")"
size=$(disk_field "$slow" size)
[ "$size" = $((8 << 20)) ] || [ "$size" = $((16 << 20)) ] || fail "size after the grow: $size"
imdisk -d -u "$slow" >/dev/null
imdisk -d -u "$other" >/dev/null
