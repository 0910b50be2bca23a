#!/usr/bin/env bash
# -f new.img -s 64M creates the image: fully allocated, or sparse with -o sparse;
# data written through the device is in the image afterwards.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

size=$((64 << 20))
allocated() { du --block-size=1 "$1" | cut -f1; }

for mode in full sparse; do
	img=$TEST_DIR/$mode.img
	opts=()
	[ $mode = sparse ] && opts=(-o sparse)
	u=$(attach -f "$img" -s 64M "${opts[@]}")
	dev=$(unit_device "$u")
	[ -f "$img" ] || fail "$img was not created"
	expect_eq $size "$(stat -c %s "$img")" "size of the new $mode image"
	expect_eq $size "$(blockdev --getsize64 "$dev")" "size of $dev ($mode)"
	if [ $mode = full ]; then
		[ "$(allocated "$img")" -ge $size ] || fail "$img is not fully allocated: $(allocated "$img") bytes"
		expect_eq false "$(disk_field "$u" sparse)" "JSON sparse without -o sparse"
	else
		[ "$(allocated "$img")" -le $((1 << 20)) ] || fail "$img is not sparse: $(allocated "$img") bytes"
		expect_eq true "$(disk_field "$u" sparse)" "JSON sparse with -o sparse"
	fi
	# A new image reads as zeros.
	cmp -n $size /dev/zero <(dev_read "$dev") || fail "new $mode image does not read as zeros"
	random_file "$TEST_DIR/data" 4M
	dev_write "$TEST_DIR/data" "$dev" 10
	imdisk -d -u "$u"
	wait_detached "$dev" "$img" || fail "$dev still attached after -d"
	cmp "$TEST_DIR/data" <(dd if="$img" bs=1M skip=10 count=4 status=none) ||
		fail "data written through $dev is not in the $mode image"
	cmp -n $((10 << 20)) /dev/zero "$img" || fail "$mode image changed before the data"
	if [ $mode = sparse ]; then
		a=$(allocated "$img")
		[ "$a" -le $((6 << 20)) ] || fail "sparse image grew to $a bytes for 4 MiB of data"
	fi
	# Attached again: the same content.
	u=$(attach -f "$img")
	cmp "$img" <(dev_read "$(unit_device "$u")") || fail "$mode image attached again differs"
	imdisk -d -u "$u"
done
