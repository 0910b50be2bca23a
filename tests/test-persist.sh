#!/usr/bin/env bash
# -P saves a disk for the next boot and --restore makes it again: a RAM disk made
# with -P -p ext4 -m DIR comes back formatted, mounted on DIR, on its unit; an
# image disk given by a relative path (from another folder) comes back on the
# same image with its data; -d without -P keeps the entry (as ImDisk does), -d -P
# deletes it; the entries are root's, mode 0600; a saved disk that cannot come
# back (its image is gone) is reported while the others still come back (exit 3).
source "$(dirname "$0")/functions.sh"
requires_root
requires mkfs.ext4
start_daemon
export IMDISK_PERSIST_DIR=$TEST_DIR/persist

mnt=$TEST_DIR/mnt
mkdir -p "$TEST_DIR/images" "$TEST_DIR/elsewhere"
random_file "$TEST_DIR/images/disk.img" $((8 << 20))
cp "$TEST_DIR/images/disk.img" "$TEST_DIR/original.img"

u1=$(attach -s 64M -p ext4 -m "$mnt" -P)
u2=$(cd "$TEST_DIR/images" && attach -f disk.img -u 5 -P)
expect_eq 5 "$u2" "unit given with -u"
for u in "$u1" "$u2"; do
	expect_eq "600 root" "$(stat -c '%a %U' "$IMDISK_PERSIST_DIR/unit$u")" "mode and owner of unit$u's entry"
done
grep -qa -- "-P" "$IMDISK_PERSIST_DIR/unit$u1" && fail "-P itself was saved"
echo hello >"$mnt/file"

# "Reboot": every disk goes (-d without -P keeps the entries).
imdisk -d -m "$mnt" >/dev/null || fail "-d -m failed"
imdisk -d -u "$u2" >/dev/null || fail "-d -u $u2 failed"
expect_eq "No virtual disks." "$(imdisk -l)" "list before --restore"
[ -e "$IMDISK_PERSIST_DIR/unit$u1" ] && [ -e "$IMDISK_PERSIST_DIR/unit$u2" ] || fail "-d without -P deleted an entry"

(cd "$TEST_DIR/elsewhere" && imdisk --restore >"$TEST_DIR/restore.out") || fail "--restore failed: $(cat "$TEST_DIR/restore.out")"
expect_eq "$u1 $u2" "$(imdisk -l -n | tr '\n' ' ' | sed 's/ $//')" "units after --restore"
mountpoint -q "$mnt" || fail "the RAM disk is not mounted on $mnt again"
expect_eq ext4 "$(findmnt -n -o FSTYPE --target "$mnt")" "file system of the restored RAM disk"
[ ! -e "$mnt/file" ] || fail "a restored RAM disk should come back empty"
dev2=$(unit_device "$u2")
cmp "$TEST_DIR/original.img" <(dd if="$dev2" bs=1M iflag=direct status=none) || fail "the image disk did not come back on its image"
expect_eq "$TEST_DIR/images/disk.img" "$(disk_field "$u2" image)" "image of the restored disk"

# A second --restore: both units are taken, so both fail, each reported (exit 3).
rc=0
imdisk --restore >/dev/null 2>"$TEST_DIR/restore2.err" || rc=$?
expect_eq 3 "$rc" "exit of --restore with the units taken"
[ "$(grep -c "saved in .* did not come back" "$TEST_DIR/restore2.err")" = 2 ] || fail "not every failure reported: $(cat "$TEST_DIR/restore2.err")"

# -d -P forgets the disk; an entry whose image is gone fails alone.
imdisk -d -m "$mnt" -P >/dev/null || fail "-d -P failed"
[ ! -e "$IMDISK_PERSIST_DIR/unit$u1" ] || fail "-d -P kept the entry"
imdisk -d -u "$u2" >/dev/null
u3=$(attach -s 16M -P)
mv "$TEST_DIR/images/disk.img" "$TEST_DIR/images/moved.img"
imdisk -d -u "$u3" >/dev/null
rc=0
imdisk --restore >"$TEST_DIR/restore3.out" 2>"$TEST_DIR/restore3.err" || rc=$?
expect_eq 3 "$rc" "exit of --restore with one image gone"
grep -q "unit $u2 .*did not come back" "$TEST_DIR/restore3.err" || fail "the missing image is not reported: $(cat "$TEST_DIR/restore3.err")"
expect_eq "$u3" "$(imdisk -l -n)" "the other saved disk came back"
imdisk -d -u "$u3" -P >/dev/null
# -d -P of a disk that is not there fails (exit 1) and leaves the entry.
expect_exit 1 imdisk -d -u "$u2" -P 2>/dev/null
[ -e "$IMDISK_PERSIST_DIR/unit$u2" ] || fail "a failed -d -P deleted the entry"
rm -f "$IMDISK_PERSIST_DIR/unit$u2"
imdisk --restore || fail "--restore with nothing saved failed"
expect_eq "No virtual disks." "$(imdisk -l)" "list at the end"

# -P makes no sense with -R or -l.
expect_error "cannot be used" 13 imdisk -l -P
