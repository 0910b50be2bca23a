#!/usr/bin/env bash
# -e -o: ro/rw (the kernel's read-only flag follows), rem/fix, saved (clears the
# modified flag a write set); an unknown word is a syntax error.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

u=$(attach -s 16M)
dev=$(unit_device "$u")
expect_eq false "$(disk_field "$u" read_only)" "JSON read_only of a new disk"
expect_eq false "$(disk_field "$u" removable)" "JSON removable of a new disk"
expect_eq false "$(disk_field "$u" modified)" "JSON modified of a new disk"

imdisk -e -o ro -u "$u"
expect_eq 1 "$(blockdev --getro "$dev")" "read-only flag after -e -o ro"
expect_eq true "$(disk_field "$u" read_only)" "JSON read_only after -e -o ro"
if dd if=/dev/zero of="$dev" bs=4096 count=1 oflag=direct conv=notrunc status=none 2>/dev/null; then
	fail "a write after -e -o ro succeeded"
fi
expect_eq false "$(disk_field "$u" modified)" "JSON modified after a refused write"
imdisk -e -o rw -u "$u"
expect_eq 0 "$(blockdev --getro "$dev")" "read-only flag after -e -o rw"
expect_eq false "$(disk_field "$u" read_only)" "JSON read_only after -e -o rw"

imdisk -e -o rem -u "$u"
expect_eq true "$(disk_field "$u" removable)" "JSON removable after -e -o rem"
imdisk -e -o fix -u "$u"
expect_eq false "$(disk_field "$u" removable)" "JSON removable after -e -o fix"

random_file "$TEST_DIR/data" 1M
dev_write "$TEST_DIR/data" "$dev"
expect_eq true "$(disk_field "$u" modified)" "JSON modified after a write"
imdisk -e -o saved -u "$u"
expect_eq false "$(disk_field "$u" modified)" "JSON modified after -e -o saved"
dev_write "$TEST_DIR/data" "$dev" 2
expect_eq true "$(disk_field "$u" modified)" "JSON modified after another write"

# Several words at once.
imdisk -e -o ro,rem -u "$u"
expect_eq true "$(disk_field "$u" read_only)" "JSON read_only after -e -o ro,rem"
expect_eq true "$(disk_field "$u" removable)" "JSON removable after -e -o ro,rem"
imdisk -e -o rw,fix -u "$u"
expect_eq false "$(disk_field "$u" read_only)" "JSON read_only after -e -o rw,fix"

# Wrong words: unknown, not changeable, contradictory.
expect_error "bogus" 13 imdisk -e -o bogus -u "$u"
expect_error "awe|cannot|-e" 13 imdisk -e -o awe -u "$u"
expect_error "ro|rw|combined" 13 imdisk -e -o ro,rw -u "$u"
expect_eq 0 "$(blockdev --getro "$dev")" "read-only flag after refused -e"
cmp "$TEST_DIR/data" <(dd if="$dev" bs=1M skip=2 count=1 iflag=direct status=none) || fail "data changed"
imdisk -d -u "$u"

# A disk removed while read-only leaves nothing read-only behind: the next disk
# (which may well get the same loop device) is writable, as it says.
u=$(attach -s 16M)
dev=$(unit_device "$u")
imdisk -e -o ro -u "$u"
imdisk -d -u "$u"
u=$(attach -s 16M)
dev2=$(unit_device "$u")
[ "$dev2" = "$dev" ] || note "the next disk got $dev2, not $dev"
json_ro=$(disk_field "$u" read_only)
kernel_ro=$(blockdev --getro "$dev2")
write_rc=0
dev_write "$TEST_DIR/data" "$dev2" 2>/dev/null || write_rc=$?
imdisk -d -u "$u"
# Should the kernel's read-only flag outlive the disks, do not hand it on.
for d in "$dev" "$dev2"; do [ -n "$(loop_backing "$d")" ] || blockdev --setrw "$d"; done
expect_eq false "$json_ro" "JSON read_only of the next disk"
expect_eq 0 "$kernel_ro" "read-only flag of the next disk $dev2 (after $dev was removed read-only)"
expect_eq 0 "$write_rc" "exit of a write to the next disk $dev2"
