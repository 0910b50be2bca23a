#!/usr/bin/env bash
# A proxy server that goes for good (devio SIGKILLed), with imdiskd
# --proxy-timeout 1: a read of the disk fails with an I/O error within a bounded
# time, `imdisk -l --json` says connected false, and -d, -D and -R each remove
# such a disk (three disks, one each), leaving no loop device behind.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
start_daemon --proxy-timeout 1

units=() devs=() pids=()
for i in 0 1 2; do
	truncate -s 16M "$TEST_DIR/disk$i.img"
	start_devio_unix "$TEST_DIR/devio$i.sock" "$TEST_DIR/disk$i.img"
	pids+=("$DEVIO_PID")
	u=$(attach -t proxy -f "unix:$TEST_DIR/devio$i.sock")
	units+=("$u")
	devs+=("$(unit_device "$u")")
	expect_eq true "$(disk_field "$u" proxy.connected)" "JSON proxy.connected of unit $u while devio runs"
	dev_read "${devs[$i]}" 4096 >/dev/null || fail "reading ${devs[$i]} failed while devio runs"
done
for pid in "${pids[@]}"; do kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; done

for i in 0 1 2; do
	start=$(date +%s%N)
	rc=0
	dd if="${devs[$i]}" of=/dev/null bs=4K count=1 skip=$((100 + i)) iflag=direct status=none 2>"$TEST_DIR/dd.err" || rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	[ "$rc" != 0 ] || fail "reading ${devs[$i]} succeeded with its server gone"
	grep -q "Input/output error" "$TEST_DIR/dd.err" || fail "reading ${devs[$i]}: not an I/O error: $(cat "$TEST_DIR/dd.err")"
	[ "$ms" -lt 10000 ] || fail "the read of ${devs[$i]} took $ms ms to fail"
	note "read of a disk without server failed in $ms ms"
	expect_eq false "$(disk_field "${units[$i]}" proxy.connected)" "JSON proxy.connected of unit ${units[$i]} after devio died"
done

expect_exit 0 imdisk -d -u "${units[0]}"
expect_error "${units[0]}" 1 imdisk -l -u "${units[0]}"
expect_exit 0 imdisk -D -u "${units[1]}"
expect_error "${units[1]}" 1 imdisk -l -u "${units[1]}"
expect_exit 0 imdisk -R -u "${units[2]}"
expect_eq "No virtual disks." "$(imdisk -l)" "list after -d, -D and -R"
for i in 0 1 2; do
	wait_detached "${devs[$i]}" "unit${units[$i]}" || fail "${devs[$i]} still attached after its removal"
done
