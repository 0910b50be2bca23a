#!/usr/bin/env bash
# Writes of a proxy disk are pipelined like its reads (sent on the pipes without
# waiting, answered from their readers) and each lands where it was aimed:
# - 4k random writes at queue depth 32, then every block read back and checked
#   (fio's crc32c headers), and the same bytes found in devio's image;
# - devio killed (SIGKILL) in the middle of such writes and started again within
#   imdiskd's --proxy-timeout: the writes pending on the dead connections are
#   sent again, the run ends without an error, and every block verifies;
# - devio stopped (SIGSTOP: silent, connections open) fails a write with EIO
#   within a bounded time instead of hanging, and once devio goes on again the
#   disk writes right again.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires fio cmp
start_daemon --proxy-timeout 3

size=$((64 << 20))
proxy_disk_on_new_image "$size"
fio_job() { # NAME EXTRA-ARGS...: 4k blocks, crc32c checksums in every block
	local name=$1; shift
	fio --name="$name" --filename="$dev" --ioengine=io_uring --direct=1 --bs=4k --size="$size" \
		--rw=randwrite --iodepth=32 --verify=crc32c --verify_fatal=1 --verify_state_save=0 \
		--output="$TEST_DIR/$name.out" "$@"
}

# Written at qd32 and verified by fio, then compared with the image itself.
fio_job write --randrepeat=1 || fail "pipelined writes did not verify: $(grep -i -m3 'verify\|err' "$TEST_DIR/write.out")"
cmp "$img" <(head -c "$size" "$dev") || fail "devio's image differs from what the disk reads"

# A new pattern (another seed), slowed down so that devio dies in its middle.
fio_job write-restart --randseed=7 --do_verify=0 --rate_iops=4000 &
fio_pid=$!
sleep 1
kill -0 "$fio_pid" 2>/dev/null || fail "the writing fio ended before devio was killed"
stop_devio KILL || true
sleep 0.5
start_devio_unix "$sock" "$img"
rc=0
wait "$fio_pid" || rc=$?
[ "$rc" = 0 ] || fail "writes across the server restart failed (exit $rc): $(grep -i -m3 'verify\|err' "$TEST_DIR/write-restart.out")"
fio_job verify-restart --randseed=7 --verify_only ||
	fail "writes across the server restart did not land: $(grep -i -m3 'verify\|err' "$TEST_DIR/verify-restart.out")"
expect_eq true "$(disk_field "$u" proxy.connected)" "JSON proxy.connected after the restart"

# Silent server: a write fails within the timeout (3 s) plus slack.
kill -STOP "$DEVIO_PID"
on_cleanup "kill -CONT $DEVIO_PID 2>/dev/null"
start=$SECONDS
if dd if=/dev/zero of="$dev" bs=4k count=1 seek=12345 oflag=direct conv=notrunc status=none 2>"$TEST_DIR/dd.err"; then
	fail "a write to a silent server succeeded"
fi
elapsed=$((SECONDS - start))
[ "$elapsed" -le 12 ] || fail "the write to a silent server took ${elapsed}s"
grep -q "Input/output error" "$TEST_DIR/dd.err" || fail "unexpected error: $(cat "$TEST_DIR/dd.err")"
kill -CONT "$DEVIO_PID"
# Back: writes land and verify again.
fio_job write-after --randseed=11 || fail "writes after the server went on failed: $(grep -i -m3 'verify\|err' "$TEST_DIR/write-after.out")"
devio_alive
imdisk -d -u "$u" >/dev/null || fail "imdisk -d failed"
wait_detached "$dev" "unit$u" || fail "$dev still attached after -d"
stop_devio || fail "devio exited with $?"
