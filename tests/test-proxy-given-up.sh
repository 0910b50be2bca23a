#!/usr/bin/env bash
# A proxy server that stays silent (devio SIGSTOPped: connections accepted,
# never answered), imdiskd --proxy-timeout 1: once a read has failed and the
# reconnect window has closed, many reads at once all fail with an I/O error
# quickly (one attempt at reconnecting at a time, the others fail at once,
# instead of a whole connect timeout per request, which would hold the threads
# that serve every other disk), a RAM disk of the same imdiskd forced through
# FUSE keeps answering meanwhile, and once devio goes on again the proxy disk
# reads right again by itself.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
start_daemon --proxy-timeout 1

size=$((16 << 20))
random_file "$TEST_DIR/data" "$size"
cp "$TEST_DIR/data" "$TEST_DIR/disk.img"
sock=$TEST_DIR/devio.sock
start_devio_unix "$sock" "$TEST_DIR/disk.img"
u=$(attach -t proxy -f "unix:$sock")
dev=$(unit_device "$u")
ram=$(attach -s 16M --transport=fuse)
ram_dev=$(unit_device "$ram")
dev_read "$dev" 4096 >/dev/null || fail "reading $dev failed while devio runs"

kill -STOP "$DEVIO_PID"
on_cleanup "kill -CONT $DEVIO_PID 2>/dev/null"
dd if="$dev" of=/dev/null bs=4K count=1 skip=100 iflag=direct status=none 2>"$TEST_DIR/dd.err" &&
	fail "a read succeeded with the server stopped"
grep -q "Input/output error" "$TEST_DIR/dd.err" || fail "not an I/O error: $(cat "$TEST_DIR/dd.err")"

# Given up: twenty reads at once, and the RAM disk meanwhile.  A connect
# timeout per read, two at a time, would be 10 s and more.
start=$(date +%s%N)
pids=()
for i in $(seq 20); do
	dd if="$dev" of=/dev/null bs=4K count=1 skip=$((200 + i)) iflag=direct status=none 2>"$TEST_DIR/dd$i.err" &
	pids+=($!)
done
sleep 0.2
ram_start=$(date +%s%N)
dd if="$ram_dev" of=/dev/null bs=4K count=100 iflag=direct status=none || fail "reading the RAM disk failed"
ram_ms=$((($(date +%s%N) - ram_start) / 1000000))
for i in $(seq 20); do
	! wait "${pids[$((i - 1))]}" || fail "read $i succeeded with the server stopped"
	grep -q "Input/output error" "$TEST_DIR/dd$i.err" || fail "read $i: not an I/O error: $(cat "$TEST_DIR/dd$i.err")"
done
ms=$((($(date +%s%N) - start) / 1000000))
note "20 reads at once of a disk given up on failed in $ms ms; 100 RAM disk reads meanwhile took $ram_ms ms"
[ "$ms" -lt 5000 ] || fail "20 reads at once of a disk given up on took $ms ms to fail"
[ "$ram_ms" -lt 3000 ] || fail "100 reads of the RAM disk took $ram_ms ms while the proxy server was stopped"
expect_eq false "$(disk_field "$u" proxy.connected)" "JSON proxy.connected while devio is stopped"

# Back: within a few retries the disk reads its data again.
kill -CONT "$DEVIO_PID"
ok=0
for _ in $(seq 50); do
	if dd if="$dev" of="$TEST_DIR/back" bs=1M count=16 iflag=direct status=none 2>/dev/null; then ok=1; break; fi
	sleep 0.2
done
[ "$ok" = 1 ] || fail "the disk did not read again within 10 s of devio going on"
cmp "$TEST_DIR/data" "$TEST_DIR/back" || fail "data read after the server came back differs"
expect_eq true "$(disk_field "$u" proxy.connected)" "JSON proxy.connected after devio went on"
imdisk -d -u "$u" >/dev/null || fail "imdisk -d of the proxy disk failed"
imdisk -d -u "$ram" >/dev/null || fail "imdisk -d of the RAM disk failed"
