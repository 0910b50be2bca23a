#!/usr/bin/env bash
# A slow disk does not hold other disks' FUSE requests: with a proxy disk whose
# server is stalled (devio stopped with SIGSTOP, writes and reads to it waiting
# on the server), a second user-space disk (a RAM disk on --transport=fuse)
# still takes writes and reads that verify, within a second.  Checked on each
# FUSE channel the machine has (io_uring where the kernel offers it, and
# /dev/fuse).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires dd cmp
[ -c /dev/fuse ] || skip "needs /dev/fuse"

STALLED_WRITES=${STALLED_WRITES:-4} STALLED_READS=${STALLED_READS:-2}
waiters=()
resume_devio() { [ -z "$DEVIO_PID" ] || kill -CONT "$DEVIO_PID" 2>/dev/null; }
wait_waiters() { # the requests to the stalled disk end once it answers again
	for pid in "${waiters[@]}"; do wait "$pid" 2>/dev/null; done
	waiters=()
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# check_channel LABEL IMDISKD-OPTIONS...
check_channel() {
	local label=$1 ram ram_dev start ms i
	shift
	start_daemon --proxy-timeout 60 "$@"
	proxy_disk_on_new_image $((64 << 20))
	ram=$(attach -s 64M --transport=fuse)
	ram_dev=$(unit_device "$ram")
	random_file "$TEST_DIR/data" $((1 << 20))
	dev_write "$TEST_DIR/data" "$dev" || fail "$label: writing the proxy disk failed while devio runs"
	cmp <(dd if="$dev" bs=1M count=1 iflag=direct status=none) "$TEST_DIR/data" ||
		fail "$label: the proxy disk did not read back while devio runs"

	kill -STOP "$DEVIO_PID"
	for ((i = 0; i < STALLED_WRITES; i++)); do
		dd if="$TEST_DIR/data" of="$dev" bs=64K count=1 seek=$((16 + i)) oflag=direct conv=notrunc status=none \
			2>/dev/null &
		waiters+=($!)
	done
	for ((i = 0; i < STALLED_READS; i++)); do
		dd if="$dev" of=/dev/null bs=64K count=1 skip=$((32 + i)) iflag=direct status=none 2>/dev/null &
		waiters+=($!)
	done
	sleep 0.5 # the stalled disk's requests are in imdiskd's hands now

	start=$(now_ms)
	timeout 20 dd if="$TEST_DIR/data" of="$ram_dev" bs=64K oflag=direct conv=notrunc status=none ||
		fail "$label: writing the RAM disk failed (or hung) while the proxy disk is stalled"
	timeout 20 dd if="$ram_dev" of="$TEST_DIR/back" bs=64K count=16 iflag=direct status=none ||
		fail "$label: reading the RAM disk failed (or hung) while the proxy disk is stalled"
	ms=$(($(now_ms) - start))
	cmp "$TEST_DIR/data" "$TEST_DIR/back" || fail "$label: the RAM disk's data differs"
	note "$label: 1 MiB written and read back in $ms ms beside a stalled disk"
	[ "$ms" -lt 1000 ] || fail "$label: the RAM disk took $ms ms beside a stalled disk"

	resume_devio
	wait_waiters
	cmp <(dd if="$dev" bs=64K count=1 skip=16 iflag=direct status=none) <(head -c 65536 "$TEST_DIR/data") ||
		fail "$label: a write held while devio was stopped did not arrive"
	imdisk -d -u "$ram" >/dev/null || fail "$label: imdisk -d of the RAM disk failed"
	imdisk -d -u "$u" >/dev/null || fail "$label: imdisk -d of the proxy disk failed"
	stop_daemon
	stop_devio KILL || true
}
# Cleanup runs last-registered first: devio resumes before anything waits.
on_cleanup wait_waiters
on_cleanup resume_devio

switch=/sys/module/fuse/parameters/enable_uring
if [ -w "$switch" ]; then
	check_channel io_uring --fuse-io-uring
fi
check_channel /dev/fuse --no-fuse-io-uring
