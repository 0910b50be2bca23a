#!/usr/bin/env bash
# -d refuses a disk that a program has open (exit 2, "busy", the disk and its
# data kept), not only a mounted one: a plain open by another process counts,
# after a grace of half a second for short opens such as udev's probe.  Once the
# program closes it, -d removes it; -D removes a disk that is still open.
source "$(dirname "$0")/functions.sh"
requires_root
start_daemon

u=$(attach -s 16M)
dev=$(unit_device "$u")
random_file "$TEST_DIR/data" $((1 << 20))
dev_write "$TEST_DIR/data" "$dev"

# A program holding the device open (read-only, not exclusively).
sleep 120 <"$dev" &
holder=$!
on_cleanup "kill $holder 2>/dev/null; wait $holder 2>/dev/null"
expect_error "busy" 2 imdisk -d -u "$u"
expect_eq "$u" "$(imdisk -l -n)" "units after -d of an open disk"
cmp "$TEST_DIR/data" <(dd if="$dev" bs=1M count=1 iflag=direct status=none) || fail "data changed after the refused -d"

# Closed again: -d goes through.
kill "$holder"; wait "$holder" 2>/dev/null || true
imdisk -d -u "$u" >/dev/null || fail "-d failed once the program closed the disk"
expect_eq "No virtual disks." "$(imdisk -l)" "list after -d"
wait_detached "$dev" "unit$u" || fail "$dev still attached after -d"

# A short open (here 0.2 s, as a probe would) does not make -d fail.
u=$(attach -s 16M)
dev=$(unit_device "$u")
sleep 0.2 <"$dev" &
imdisk -d -u "$u" >/dev/null || fail "-d failed over a short open"
wait_detached "$dev" "unit$u" || fail "$dev still attached after -d"

# -D takes a disk away from a program that still has it open.
u=$(attach -s 16M)
dev=$(unit_device "$u")
sleep 120 <"$dev" &
holder=$!
on_cleanup "kill $holder 2>/dev/null; wait $holder 2>/dev/null"
imdisk -D -u "$u" >/dev/null || fail "-D failed on an open disk"
expect_eq "No virtual disks." "$(imdisk -l)" "list after -D"
kill "$holder"; wait "$holder" 2>/dev/null || true
wait_detached "$dev" "unit$u" || fail "$dev still attached after -D and the last close"
