#!/usr/bin/env bash
# imdiskd killed (SIGKILL) while a disk is being written: the disks keep working,
# and the next imdiskd re-adopts them with the same units and devices, the data
# intact; they are then removed cleanly.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

random_file "$TEST_DIR/ram-data" 16M
random_file "$TEST_DIR/file-data" 16M
random_file "$TEST_DIR/late" 48M
img=$TEST_DIR/disk.img
random_file "$img" 16M

ram=$(attach -s 64M)
file=$(attach -f "$img")
ram_dev=$(unit_device "$ram")
file_dev=$(unit_device "$file")
dev_write "$TEST_DIR/ram-data" "$ram_dev"
dev_write "$TEST_DIR/file-data" "$file_dev"
listing=$(imdisk -l)

# Kill the daemon in the middle of a write to the RAM disk: dd reads from a
# FIFO fed in two halves, the daemon dies between them.
mkfifo "$TEST_DIR/fifo"
dd if="$TEST_DIR/fifo" of="$ram_dev" bs=64K seek=256 iflag=fullblock oflag=direct conv=fsync,notrunc status=none &
dd_pid=$!
exec 3>"$TEST_DIR/fifo"
head -c 24M "$TEST_DIR/late" >&3
kill_daemon
tail -c +$(((24 << 20) + 1)) "$TEST_DIR/late" >&3
exec 3>&-
wait "$dd_pid" || fail "the write to $ram_dev failed when imdiskd died"
[ -n "$(loop_backing "$ram_dev")" ] || fail "$ram_dev went away with imdiskd"
[ -n "$(loop_backing "$file_dev")" ] || fail "$file_dev went away with imdiskd"

start_daemon
expect_eq "$(printf '%s\n' "$ram" "$file" | sort -n)" "$(imdisk -l -n)" "units after the restart"
expect_eq "$ram_dev" "$(unit_device "$ram")" "device of the RAM disk after the restart"
expect_eq "$file_dev" "$(unit_device "$file")" "device of the file disk after the restart"
expect_eq "$listing" "$(imdisk -l)" "listing after the restart"
expect_eq $((64 << 20)) "$(disk_field "$ram" size)" "JSON size of the RAM disk after the restart"
expect_eq "$img" "$(disk_field "$file" image)" "JSON image of the file disk after the restart"
cmp <(cat "$TEST_DIR/ram-data" "$TEST_DIR/late") <(dev_read "$ram_dev") || fail "RAM disk data differs after the restart"
cmp "$TEST_DIR/file-data" <(dev_read "$file_dev") || fail "file disk data differs after the restart"

# Still usable: written again, then removed.
dev_write "$TEST_DIR/file-data" "$ram_dev"
cmp "$TEST_DIR/file-data" <(dev_read "$ram_dev" $((16 << 20))) || fail "RAM disk write after the restart"
imdisk -d -u "$ram"
imdisk -d -u "$file"
wait_detached "$ram_dev" imdisk-memory || fail "$ram_dev still attached after -d"
wait_detached "$file_dev" "$img" || fail "$file_dev still attached after -d"
expect_eq "No virtual disks." "$(imdisk -l)" "list after removal"
cmp "$TEST_DIR/file-data" "$img" || fail "the image does not hold what was written"
[ -z "$(ls -A "$TEST_DIR/state")" ] || fail "state left behind: $(ls -A "$TEST_DIR/state")"

# A clean stop (SIGTERM) re-adopts too.
u=$(attach -s 8M)
dev=$(unit_device "$u")
stop_daemon
start_daemon
expect_eq "$dev" "$(unit_device "$u")" "device after SIGTERM and start"
imdisk -d -u "$u"
