#!/usr/bin/env bash
# A proxy disk uses several connections to a server that takes them (devio over
# TCP): more than one (at most 4) under a parallel load of direct writes, all
# seen by devio and by ss; the data of every writer reads back right; removal
# closes them all.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires ss
start_daemon

size=$((64 << 20))
img=$TEST_DIR/disk.img
truncate -s "$size" "$img"
start_devio_tcp "$img"
established() { ss -Htn state established "( sport = :$DEVIO_PORT )" | wc -l; }
u=$(attach -t proxy -o ip -f "127.0.0.1:$DEVIO_PORT")
dev=$(unit_device "$u")
[ "$(established)" -ge 1 ] || fail "no connection to devio after the attach"

# 8 writers at once, 8 MiB each, 64 KiB direct writes, then 8 readers.
random_file "$TEST_DIR/src" "$size"
pids=()
for i in $(seq 0 7); do
	dd if="$TEST_DIR/src" of="$dev" bs=64K skip=$((i * 128)) seek=$((i * 128)) count=128 \
		oflag=direct conv=notrunc status=none &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a parallel writer failed"; done
pids=()
for i in $(seq 0 7); do
	dd if="$dev" of="$TEST_DIR/part$i" bs=64K skip=$((i * 128)) count=128 iflag=direct status=none &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a parallel reader failed"; done
cat "$TEST_DIR"/part{0..7} | cmp - "$TEST_DIR/src" || fail "data written in parallel reads back wrong"

n=$(established)
[ "$n" -ge 2 ] && [ "$n" -le 4 ] || fail "$n connections to devio after a parallel load (expected 2 to 4)"
logged=$(grep -c ": connected$" "$DEVIO_LOG")
expect_eq "$n" "$logged" "connections devio logged"
note "$n connections to devio under load"
imdisk -d -u "$u" >/dev/null
for _ in $(seq 60); do [ "$(established)" = 0 ] && break; sleep 0.05; done
expect_eq 0 "$(established)" "connections to devio after -d"
cmp "$TEST_DIR/src" "$img" || fail "the image does not hold the data written in parallel"
devio_alive
