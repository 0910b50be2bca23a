#!/usr/bin/env bash
# -v N on a GPT image (sfdisk label: gpt, two partitions).
. "$(dirname "$0")/functions.sh"
requires_root
requires sfdisk
start_daemon

img=$TEST_DIR/disk.img
truncate -s 32M "$img"
sfdisk --quiet "$img" <<'LAYOUT'
label: gpt
unit: sectors
start=2048, size=8192, type=L
start=10240, size=20480, type=L
LAYOUT
declare -A start=([1]=2048 [2]=10240)
declare -A count=([1]=8192 [2]=20480)
for n in 1 2; do
	random_file "$TEST_DIR/part$n" $((count[$n] * 512))
	dd if="$TEST_DIR/part$n" of="$img" bs=512 seek="${start[$n]}" conv=notrunc status=none
done

for n in 2 1; do
	u=$(attach -f "$img" -v "$n")
	dev=$(unit_device "$u")
	expect_eq $((count[$n] * 512)) "$(blockdev --getsize64 "$dev")" "size of GPT partition $n"
	expect_eq $((start[$n] * 512)) "$(disk_field "$u" offset)" "JSON offset of GPT partition $n"
	cmp "$TEST_DIR/part$n" <(dev_read "$dev") || fail "-v $n does not show GPT partition $n"
	# A write through the partition stays inside it.
	random_file "$TEST_DIR/new" 1M
	dev_write "$TEST_DIR/new" "$dev" 1
	dd if="$TEST_DIR/new" of="$TEST_DIR/part$n" bs=1M seek=1 conv=notrunc status=none
	imdisk -d -u "$u"
done
for n in 1 2; do
	cmp "$TEST_DIR/part$n" <(dd if="$img" bs=512 skip="${start[$n]}" count="${count[$n]}" status=none) ||
		fail "GPT partition $n in the image differs"
done
sfdisk -d "$img" >/dev/null 2>&1 || fail "the GPT no longer parses"
expect_error "partition" 12 imdisk -a -f "$img" -v 3
