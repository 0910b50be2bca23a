#!/usr/bin/env bash
# devio killed (SIGKILL) while a dd writes to a proxy disk, and started again on
# the same socket within imdiskd's --proxy-timeout: the dd completes without an
# error and every byte it wrote reads back right, through the device and in the
# image (no acknowledged write lost, none torn), and the disk says connected.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
start_daemon --proxy-timeout 5

size=$((32 << 20))
proxy_disk_on_new_image "$size"
random_file "$TEST_DIR/src" "$size"

# The data comes 1 MiB at a time with a pause between, so that the dd is still
# running whatever the machine's speed; each MiB is 16 direct writes of 64 KiB.
(for i in $(seq 0 31); do
	dd if="$TEST_DIR/src" bs=1M skip="$i" count=1 status=none
	sleep 0.02
done) | dd of="$dev" bs=64K iflag=fullblock oflag=direct conv=fsync status=none 2>"$TEST_DIR/dd.err" &
dd_pid=$!
# Kill devio once 4 MiB reached the image.
for _ in $(seq 400); do
	[ $(($(stat -c %b "$img") * 512)) -ge $((4 << 20)) ] && break
	sleep 0.01
done
[ $(($(stat -c %b "$img") * 512)) -ge $((4 << 20)) ] || fail "the dd did not get going"
# Stopped first, so that a write is surely waiting for its answer when it dies.
kill -STOP "$DEVIO_PID"
sleep 0.2
kill -0 "$dd_pid" 2>/dev/null || fail "the dd ended before devio was killed"
stop_devio KILL || true
written_at_kill=$(($(stat -c %b "$img") * 512))
sleep 0.5
start_devio_unix "$sock" "$img" # replaces the socket the killed one left
rc=0
wait "$dd_pid" || rc=$?
[ "$rc" = 0 ] || fail "dd failed across the server restart (exit $rc): $(cat "$TEST_DIR/dd.err")"
note "devio killed with $((written_at_kill >> 20)) MiB in the image"
expect_eq true "$(disk_field "$u" proxy.connected)" "JSON proxy.connected after the restart"
cmp "$TEST_DIR/src" <(dev_read "$dev") || fail "$dev does not read back what dd wrote across the restart"
imdisk -d -u "$u" >/dev/null
cmp "$TEST_DIR/src" "$img" || fail "the image does not hold what dd wrote across the restart"
devio_alive
