#!/usr/bin/env bash
# -p ext4 on a new RAM disk (it reads all zeroes): mkfs gets -E nodiscard,
# assume_storage_prezeroed=1, so it writes no zeroes over zeroes (and every
# block group says its inode table is zeroed: the kernel will not write it
# after mounting either) and
# the disk's memory stays nearly unused (mke2fs's defaults zero a 16 MiB journal:
# over 6 MiB of the memfd filled).  The file system mounts, holds a file and is
# clean for e2fsck.  A -E of the user's own replaces the default; an image file,
# and a RAM disk preloaded from an image, get mke2fs's defaults (they may hold
# old bytes), seen as their journal being written.
. "$(dirname "$0")/functions.sh"
requires_root
requires mkfs.ext4 e2fsck dumpe2fs
start_daemon

# KiB of memory the daemon's RAM disks hold (their memfds' allocated blocks).
ram_kib() {
	local f kib=0
	for f in /proc/"$DAEMON_PID"/fd/*; do
		[[ $(readlink "$f" 2>/dev/null) == *imdisk-memory* ]] || continue
		kib=$((kib + $(stat -L -c '%b * %B' "$f") / 1024))
	done
	echo "$kib"
}
little=$((4 << 10)) # KiB: below what zeroing the journal alone takes
much=$((6 << 10))

mnt=$TEST_DIR/mnt
mkdir "$mnt"

# A fresh RAM disk: formatted without filling its memory, then used.
u=$(attach -s 256M -p ext4)
dev=$(unit_device "$u")
used=$(ram_kib)
note "fresh RAM disk after -p ext4: $used KiB of memory"
[ "$used" -lt "$little" ] || fail "-p ext4 filled $used KiB of a fresh RAM disk (zeroes written over zeroes)"
expect_eq ext4 "$(blkid -o value -s TYPE "$dev")" "file system on the fresh RAM disk"
groups=$(dumpe2fs "$dev" 2>/dev/null | grep -c '^Group [0-9]')
zeroed=$(dumpe2fs "$dev" 2>/dev/null | grep '^Group [0-9]' | grep -c 'ITABLE_ZEROED')
[ "$groups" -gt 0 ] && [ "$zeroed" = "$groups" ] ||
	fail "only $zeroed of $groups block groups are marked ITABLE_ZEROED (the kernel would zero the rest)"
mount "$dev" "$mnt"
random_file "$TEST_DIR/data" 3M
cp "$TEST_DIR/data" "$mnt/file"
umount "$mnt"
e2fsck -fn "$dev" >"$TEST_DIR/fsck.out" 2>&1 || fail "e2fsck -fn of the fresh RAM disk: $(tail -n 5 "$TEST_DIR/fsck.out")"
mount -o ro "$dev" "$mnt"
cmp "$TEST_DIR/data" "$mnt/file" || fail "the file differs after a remount"
umount "$mnt"
imdisk -d -u "$u"

# ext2 and ext3 get the options too (with more of the user's); without
# uninit_bg their inode tables are written all the same, so only a clean file
# system is checked.
for fs in ext2 ext3; do
	u=$(attach -s 64M -p "$fs -L fresh$fs")
	dev=$(unit_device "$u")
	expect_eq "fresh$fs" "$(blkid -o value -s LABEL "$dev")" "label given to mkfs.$fs"
	e2fsck -fn "$dev" >"$TEST_DIR/fsck.out" 2>&1 || fail "e2fsck -fn after -p $fs: $(tail -n 5 "$TEST_DIR/fsck.out")"
	imdisk -d -u "$u"
done

# The user's own -E is all mkfs gets: here it asks for the journal to be zeroed.
u=$(attach -s 256M -p "ext4 -E lazy_journal_init=0")
used=$(ram_kib)
note "fresh RAM disk after -p 'ext4 -E lazy_journal_init=0': $used KiB of memory"
[ "$used" -ge "$much" ] || fail "the user's -E lazy_journal_init=0 was overridden ($used KiB filled)"
imdisk -d -u "$u"

# An image file keeps mke2fs's defaults: its journal is written.
img=$TEST_DIR/disk.img
u=$(attach -f "$img" -s 256M -o sparse -p ext4)
imdisk -d -u "$u"
used=$(( $(stat -c '%b * %B' "$img") / 1024 ))
note "image file after -p ext4: $used KiB allocated"
[ "$used" -ge "$much" ] || fail "-p ext4 on an image file wrote only $used KiB (zeroed-disk options used?)"
e2fsck -fn "$img" >"$TEST_DIR/fsck.out" 2>&1 || fail "e2fsck -fn of the image: $(tail -n 5 "$TEST_DIR/fsck.out")"

# So does a RAM disk preloaded from an image (its bytes are the image's).
truncate -s 256M "$TEST_DIR/preload.img"
u=$(attach -t vm -f "$TEST_DIR/preload.img" -p ext4)
used=$(ram_kib)
note "preloaded RAM disk after -p ext4: $used KiB of memory"
[ "$used" -ge "$much" ] || fail "-p ext4 on a preloaded RAM disk filled only $used KiB (zeroed-disk options used?)"
imdisk -d -u "$u"
expect_eq "No virtual disks." "$(imdisk -l)" "list at the end"
