#!/usr/bin/env bash
# An NBD disk on `nbdkit file` over TCP, on a free loopback port the test picks
# (-t proxy -o nbd -f nbd://127.0.0.1:PORT/): the export name is shown, the data
# written to the block device lands in the served file (compared byte for
# byte), flushes reach it, and bytes already in the file read back; then a
# read-only server with a named export gives a read-only disk of that export.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/nbd-helpers.sh"
requires_root
start_daemon

img=$TEST_DIR/served.img
random_file "$img" 32M
cp "$img" "$TEST_DIR/original"
start_nbdkit_tcp file "$img"
uri="nbd://127.0.0.1:$NBDKIT_PORT/"

unit=$(attach -t proxy -o nbd -f "$uri")
dev=$(unit_device "$unit")
[ -b "$dev" ] || fail "no block device for unit $unit"
expect_eq 33554432 "$(blockdev --getsize64 "$dev")" "size of the disk"
expect_eq tcp "$(disk_field "$unit" proxy.kind)" "proxy.kind"
expect_eq nbd "$(disk_field "$unit" proxy.protocol)" "proxy.protocol"
expect_eq "$uri" "$(disk_field "$unit" proxy.address)" "proxy.address"
imdisk -l -u "$unit" | grep -q "^NBD server: *$uri\$" || fail "-l does not name the NBD server"
imdisk -l -u "$unit" | grep -q "^NBD export: *(default)\$" || fail "-l does not name the export"

# What the file held reads back through the device.
cmp <(dev_read "$dev") "$TEST_DIR/original" || fail "the device does not read the served file"

# Writes land in the file: 3 MiB at 10 MiB, and the same bytes at the end.
random_file "$TEST_DIR/data" 3M
dev_write "$TEST_DIR/data" "$dev" 10
dev_write "$TEST_DIR/data" "$dev" 29
sync "$dev"
dd if="$TEST_DIR/data" of="$TEST_DIR/original" bs=1M seek=10 conv=notrunc status=none
dd if="$TEST_DIR/data" of="$TEST_DIR/original" bs=1M seek=29 conv=notrunc status=none
cmp "$img" "$TEST_DIR/original" || fail "the served file does not hold what was written"
cmp <(dev_read "$dev") "$TEST_DIR/original" || fail "the device does not read back what was written"

imdisk -d -u "$unit" || fail "removing the NBD disk failed"
wait_detached "$dev" || fail "$dev still attached after removal"
cmp "$img" "$TEST_DIR/original" || fail "the served file changed at removal"
kill -0 "$NBDKIT_PID" || fail "nbdkit died"

# A read-only server, and an export name (percent-decoded on its way to the
# server): the disk is read-only, a write fails, the file is untouched.
kill -KILL "$NBDKIT_PID"
wait "$NBDKIT_PID" 2>/dev/null || true
conn_log=$TEST_DIR/connections.log
start_nbdkit_tcp --readonly --filter=log file "$img" logfile="$conn_log"
uri="nbd://127.0.0.1:$NBDKIT_PORT/vol%2F1"
unit=$(attach -f "$uri")
dev=$(unit_device "$unit")
expect_eq true "$(disk_field "$unit" read_only)" "read_only of a read-only server's disk"
expect_eq "vol/1" "$(disk_field "$unit" proxy.export)" "proxy.export"
grep -qE ' Connect export="?vol/1"? ' "$conn_log" || fail "the server was not asked for export vol/1: $(cat "$conn_log")"
imdisk -l -u "$unit" | grep -q "^NBD export: *vol/1\$" || fail "-l does not name export vol/1"
dd if="$TEST_DIR/data" of="$dev" bs=1M oflag=direct conv=notrunc status=none 2>/dev/null &&
	fail "a write to a read-only NBD disk succeeded"
cmp <(dev_read "$dev") "$TEST_DIR/original" || fail "the read-only disk does not read the served file"
imdisk -d -u "$unit" || fail "removing the read-only NBD disk failed"
wait_detached "$dev" || fail "$dev still attached after removal"
cmp "$img" "$TEST_DIR/original" || fail "the served file changed behind a read-only disk"
echo "ok"
