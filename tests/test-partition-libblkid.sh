#!/usr/bin/env bash
# -v N on tables read by libblkid that our own parser never read: an SGI disk
# label, a BSD disklabel nested in an MBR slice (numbered after the logical
# partitions, 5 and 6 here, as partx and the kernel number them), and a GPT whose
# primary header is destroyed (read from its backup), by imdisk -v N and by
# devio's partition argument.
# Data written through the partition lands at its place in the image.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/devio-helpers.sh"
requires_root
requires sfdisk fdisk partx
start_daemon

# check_partition IMAGE N START COUNT WHAT: -v N is COUNT sectors at START.
check_partition() {
	local img=$1 n=$2 start=$3 count=$4 what=$5 u dev
	random_file "$TEST_DIR/part" $((count * 512))
	dd if="$TEST_DIR/part" of="$img" bs=512 seek="$start" conv=notrunc status=none
	u=$(attach -f "$img" -v "$n")
	dev=$(unit_device "$u")
	expect_eq $((count * 512)) "$(blockdev --getsize64 "$dev")" "size of $what partition $n"
	expect_eq $((start * 512)) "$(disk_field "$u" offset)" "JSON offset of $what partition $n"
	cmp "$TEST_DIR/part" <(dev_read "$dev") || fail "-v $n does not show $what partition $n"
	random_file "$TEST_DIR/new" 1M
	dev_write "$TEST_DIR/new" "$dev" 1
	imdisk -d -u "$u"
	dd if="$TEST_DIR/new" of="$TEST_DIR/part" bs=1M seek=1 conv=notrunc status=none
	cmp "$TEST_DIR/part" <(dd if="$img" bs=512 skip="$start" count="$count" status=none) ||
		fail "$what partition $n in the image differs from what was written"
}

# 1. An SGI disk label: the numbers and places partx (libblkid) reports.
sgi=$TEST_DIR/sgi.img
truncate -s 32M "$sgi"
printf 'start=4096, size=8192\nstart=16384, size=8192\n' | sfdisk --quiet --label sgi "$sgi" ||
	skip "sfdisk cannot write an SGI label here"
found=0
while read -r n start end; do
	[ "$start" -gt 0 ] || continue # the volume header and the whole-disk entry
	check_partition "$sgi" "$n" "$start" $((end - start + 1)) SGI
	found=$((found + 1))
done < <(partx -g -o NR,START,END "$sgi")
[ "$found" -ge 2 ] || fail "partx reports $found data partitions in the SGI label"
expect_error "partition" 12 imdisk -a -f "$sgi" -v 7

# 2. A BSD disklabel in MBR slice 1 (type 0xa5), made with fdisk's nested editor:
# slices a and b (4.2BSD) become partitions 5 and 6.
bsd=$TEST_DIR/bsd.img
truncate -s 32M "$bsd"
printf 'label: dos\nstart=2048, size=40960, type=a5\n' | sfdisk --quiet "$bsd"
printf 'b\ny\nn\na\n4096\n+4M\nt\na\n7\nn\nb\n16384\n+4M\nt\nb\n7\nw\n' |
	fdisk "$bsd" >"$TEST_DIR/fdisk.log" 2>&1 || skip "fdisk cannot write a BSD disklabel here"
expect_eq "5 4096
6 16384" "$(partx -g -o NR,START "$bsd" | awk '$1 > 4 { print $1, $2 }')" "BSD slices seen by partx"
while read -r n start end; do
	[ "$n" -gt 4 ] || continue
	check_partition "$bsd" "$n" "$start" $((end - start + 1)) BSD
done < <(partx -g -o NR,START,END "$bsd")
check_partition "$bsd" 1 2048 40960 "MBR slice with a BSD label,"
expect_error "partition" 12 imdisk -a -f "$bsd" -v 7

# 3. A GPT whose primary header is zeroed: libblkid reads the backup header.
gpt=$TEST_DIR/gpt.img
truncate -s 32M "$gpt"
sfdisk --quiet "$gpt" <<'LAYOUT'
label: gpt
unit: sectors
start=2048, size=8192, type=L
start=10240, size=20480, type=L
LAYOUT
dd if=/dev/zero of="$gpt" bs=512 seek=1 count=1 conv=notrunc status=none
check_partition "$gpt" 2 10240 20480 "GPT (backup)"
check_partition "$gpt" 1 2048 8192 "GPT (backup)"
# devio reads the same table: partition 2, 10 MiB at sector 10240.
start_devio_tcp "$gpt" 2
served=$(probe $DEVIO_AT info read 0 4096 "$TEST_DIR/first" |
	sed -n 's/^info size=\([0-9]*\).*/\1/p')
stop_devio || fail "devio $gpt 2 exited with $?"
expect_eq $((20480 * 512)) "$served" "size devio serves of GPT (backup) partition 2"
cmp "$TEST_DIR/first" <(dd if="$gpt" bs=512 skip=10240 count=8 status=none) ||
	fail "devio does not serve GPT (backup) partition 2"
# ... and with the backup zeroed too, the table is corrupt.
dd if=/dev/zero of="$gpt" bs=512 seek=$((32 * 2048 - 1)) count=1 conv=notrunc status=none
expect_error "partition|table|corrupt" 12 imdisk -a -f "$gpt" -v 1

expect_eq "No virtual disks." "$(imdisk -l)" "list at the end"
for img in "$sgi" "$bsd" "$gpt"; do
	[ -z "$(losetup -j "$img")" ] || fail "a loop device is left on $img: $(losetup -j "$img")"
done
