#!/usr/bin/env bash
# An NBD disk on `nbdkit memory` over a unix socket (-f nbd+unix:///?socket=S, the
# URI alone): data written to the block device reads back and is on the server;
# discard and write-zeroes reach the server (it reads back zeroes); fsync works;
# the server offers multi-conn, so requests go over several connections;
# -l and --json describe it (NBD, URI, export, connected); removed cleanly.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/nbd-helpers.sh"
requires_root
requires blkdiscard python3
start_daemon

sock=$TEST_DIR/nbd.sock
conn_log=$TEST_DIR/connections.log
start_nbdkit_unix "$sock" --filter=log memory 64M logfile="$conn_log"
uri="nbd+unix:///?socket=$sock"

unit=$(attach -f "$uri")
dev=$(unit_device "$unit")
[ -b "$dev" ] || fail "no block device for unit $unit"
expect_eq 67108864 "$(blockdev --getsize64 "$dev")" "size of the disk"
expect_eq nbd "$(disk_field "$unit" proxy.protocol)" "proxy.protocol"
expect_eq unix "$(disk_field "$unit" proxy.kind)" "proxy.kind"
expect_eq "$uri" "$(disk_field "$unit" proxy.address)" "proxy.address"
expect_eq "" "$(disk_field "$unit" proxy.export)" "proxy.export"
expect_eq true "$(disk_field "$unit" proxy.connected)" "proxy.connected"
# nbdkit memory offers multi-conn: the disk opens 4 connections.
expect_eq 4 "$(grep -c ' Connect export=""' "$conn_log")" "connections opened"
imdisk -l -u "$unit" | grep -q "NBD (unix, connected)" || fail "-l does not say NBD, connected: $(imdisk -l -u "$unit")"

# Data: 8 MiB at 4 MiB, read back through the device and straight from the server.
random_file "$TEST_DIR/data" 8M
dev_write "$TEST_DIR/data" "$dev" 4
cmp <(dev_read "$dev" 12M | tail -c 8M) "$TEST_DIR/data" || fail "data read back through the device differs"
cmp <(server_bytes "$uri" $((4 << 20)) $((8 << 20))) "$TEST_DIR/data" || fail "data on the server differs"

# Many requests at once: parallel direct writes and reads of distinct MiBs.
writers=()
for i in 0 1 2 3 4 5 6 7; do
	dd if="$TEST_DIR/data" of="$dev" bs=64k count=16 skip=$((i * 16)) seek=$((800 + i * 16)) \
		oflag=direct conv=notrunc status=none &
	writers+=($!)
done
for pid in "${writers[@]}"; do wait "$pid" || fail "a parallel write failed"; done
used=$(sed -n 's/.*connection=\([0-9]*\) Write .*/\1/p' "$conn_log" | sort -u | wc -l)
note "parallel writes went over $used connections"
[ "$used" -ge 2 ] || fail "writes went over $used connection(s), not spread over several"
cmp <(dd if="$dev" bs=64k skip=800 count=128 iflag=direct status=none) "$TEST_DIR/data" ||
	fail "data written in parallel differs"

# Discard and write-zeroes reach the server.
blkdiscard -o $((4 << 20)) -l $((1 << 20)) "$dev"
cmp <(server_bytes "$uri" $((4 << 20)) $((1 << 20))) <(head -c 1M /dev/zero) || fail "a discard did not zero the server's range"
blkdiscard -z -o $((6 << 20)) -l $((1 << 20)) "$dev"
cmp <(server_bytes "$uri" $((6 << 20)) $((1 << 20))) <(head -c 1M /dev/zero) || fail "write-zeroes did not zero the server's range"
cmp <(dev_read "$dev" 5M | tail -c 1M) <(head -c 1M /dev/zero) ||
	fail "the discarded range does not read back as zeroes"
cmp <(server_bytes "$uri" $((5 << 20)) $((1 << 20))) <(dd if="$TEST_DIR/data" bs=1M skip=1 count=1 status=none) ||
	fail "a discard touched bytes outside its range"

# fsync on the device (a FLUSH to the server).
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); os.write(fd, b"x" * 4096); os.fsync(fd); os.close(fd)' "$dev" ||
	fail "fsync on the NBD disk failed"
expect_eq xxxx "$(server_bytes "$uri" 0 4)" "bytes written and fsynced, on the server"

imdisk -d -u "$unit" || fail "removing the NBD disk failed"
wait_detached "$dev" || fail "$dev still attached after removal"
imdisk -l -u "$unit" >/dev/null 2>&1 && fail "unit $unit still listed after removal"
kill -0 "$NBDKIT_PID" || fail "nbdkit died"
echo "ok"
