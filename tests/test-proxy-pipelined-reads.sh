#!/usr/bin/env bash
# Reads of a proxy disk are pipelined (sent without waiting for the replies, on
# connections of their own) and every reply reaches the read it answers:
# - 4k random reads at queue depth 32 verify against what was written;
# - devio killed (SIGKILL) in the middle of such reads and started again within
#   imdiskd's --proxy-timeout: the reads waiting on the dead connections are
#   asked again, and the whole run completes and verifies without an error;
# - devio stopped (SIGSTOP: silent, connections open) fails a read with EIO
#   within a bounded time instead of hanging, and once devio goes on again the
#   disk reads right again.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires fio
start_daemon --proxy-timeout 3

size=$((64 << 20))
proxy_disk_on_new_image "$size"
fio_job() { # NAME EXTRA-ARGS...: 4k blocks, crc32c checksums in every block
	local name=$1; shift
	fio --name="$name" --filename="$dev" --ioengine=io_uring --direct=1 --bs=4k --size="$size" \
		--rw=randwrite --randrepeat=1 --verify=crc32c --verify_fatal=1 --verify_state_save=0 --output="$TEST_DIR/$name.out" "$@"
}
fio_job write --iodepth=16 --do_verify=0 || fail "writing the pattern failed: $(tail -n 5 "$TEST_DIR/write.out")"

# Random reads at qd32 over the whole disk, each block checked.
fio_job verify --iodepth=32 --verify_only || fail "pipelined reads did not verify: $(grep -i -m3 'verify\|err' "$TEST_DIR/verify.out")"
[ "$(ss -x 2>/dev/null | grep -c "$sock")" -ge 2 ] || note "fewer connections than expected: $(ss -x | grep -c "$sock")"

# The same reads with devio killed and back 0.5 s later.
fio_job verify-restart --iodepth=32 --verify_only --loops=20 &
fio_pid=$!
sleep 1
kill -0 "$fio_pid" 2>/dev/null || fail "the verifying fio ended before devio was killed"
stop_devio KILL || true
sleep 0.5
start_devio_unix "$sock" "$img"
rc=0
wait "$fio_pid" || rc=$?
[ "$rc" = 0 ] || fail "reads across the server restart failed (exit $rc): $(grep -i -m3 'verify\|err' "$TEST_DIR/verify-restart.out")"
expect_eq true "$(disk_field "$u" proxy.connected)" "JSON proxy.connected after the restart"

# Silent server: a read fails within the timeout (3 s) plus slack.
kill -STOP "$DEVIO_PID"
on_cleanup "kill -CONT $DEVIO_PID 2>/dev/null"
start=$SECONDS
if dd if="$dev" of=/dev/null bs=4k count=1 skip=12345 iflag=direct status=none 2>"$TEST_DIR/dd.err"; then
	fail "a read of a silent server succeeded"
fi
elapsed=$((SECONDS - start))
[ "$elapsed" -le 12 ] || fail "the read of a silent server took ${elapsed}s"
grep -q "Input/output error" "$TEST_DIR/dd.err" || fail "unexpected error: $(cat "$TEST_DIR/dd.err")"
kill -CONT "$DEVIO_PID"
# Back: reads verify again (after the pipes' pause, through the pool meanwhile).
fio_job verify-after --iodepth=32 --verify_only || fail "reads after the server went on failed: $(grep -i -m3 'verify\|err' "$TEST_DIR/verify-after.out")"
devio_alive
imdisk -d -u "$u" >/dev/null || fail "imdisk -d failed"
wait_detached "$dev" "unit$u" || fail "$dev still attached after -d"
stop_devio || fail "devio exited with $?"
