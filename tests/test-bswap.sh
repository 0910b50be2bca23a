#!/usr/bin/env bash
# -o bswap swaps each byte pair between the device and what backs it: a RAM disk
# loaded from an image, a file disk and a proxy disk each show the image with its
# byte pairs swapped, and data written through the device lands swapped in the
# image (data round-trips through the device either way).  These disks go through
# the FUSE transport; --transport=loop -o bswap is refused with exit 13.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
start_daemon

swab() { dd if="$1" conv=swab bs=1M status=none; }
random_file "$TEST_DIR/src" $((4 << 20))
random_file "$TEST_DIR/new" $((1 << 20))
# expected_image IMAGE: IMAGE after "new" was written at 1 MiB through a bswap device.
expected_image() {
	cp "$1" "$TEST_DIR/expected"
	swab "$TEST_DIR/new" | dd of="$TEST_DIR/expected" bs=1M seek=1 conv=notrunc status=none
}
# check_disk UNIT IMAGE WHAT: the device shows IMAGE swapped; "new" written at
# 1 MiB reads back as written.
check_disk() {
	local u=$1 img=$2 what=$3 dev
	dev=$(unit_device "$u")
	expect_eq true "$(disk_field "$u" byte_swap)" "JSON byte_swap of the $what"
	expect_eq fuse "$(disk_field "$u" transport)" "JSON transport of the $what"
	cmp <(swab "$img") <(dev_read "$dev") || fail "the $what does not show its image byte-swapped"
	dev_write "$TEST_DIR/new" "$dev" 1
	cmp <(dev_read "$dev" $((2 << 20)) | tail -c +$(((1 << 20) + 1))) "$TEST_DIR/new" ||
		fail "data written to the $what does not read back as written"
}

# A RAM disk: loaded from the image (which stays as it is), and one from nothing.
cp "$TEST_DIR/src" "$TEST_DIR/ram.img"
u=$(attach -t vm -f "$TEST_DIR/ram.img" -o bswap)
check_disk "$u" "$TEST_DIR/ram.img" "RAM disk"
imdisk -d -u "$u" >/dev/null
cmp "$TEST_DIR/src" "$TEST_DIR/ram.img" || fail "a RAM disk wrote to the image it was loaded from"
u=$(attach -s 4M -o bswap)
dev=$(unit_device "$u")
dev_write "$TEST_DIR/src" "$dev"
cmp "$TEST_DIR/src" <(dev_read "$dev") || fail "data written to a bswap RAM disk does not read back"
imdisk -d -u "$u" >/dev/null

# A file disk.
cp "$TEST_DIR/src" "$TEST_DIR/file.img"
u=$(attach -f "$TEST_DIR/file.img" -o bswap)
check_disk "$u" "$TEST_DIR/src" "file disk"
imdisk -d -u "$u" >/dev/null
expected_image "$TEST_DIR/src"
cmp "$TEST_DIR/expected" "$TEST_DIR/file.img" || fail "the file disk's image does not hold the data byte-swapped"

# A proxy disk.
cp "$TEST_DIR/src" "$TEST_DIR/proxy.img"
start_devio_unix "$TEST_DIR/devio.sock" "$TEST_DIR/proxy.img"
u=$(attach -t proxy -f "unix:$TEST_DIR/devio.sock" -o bswap)
check_disk "$u" "$TEST_DIR/src" "proxy disk"
imdisk -d -u "$u" >/dev/null
cmp "$TEST_DIR/expected" "$TEST_DIR/proxy.img" || fail "the proxy disk's image does not hold the data byte-swapped"

# The kernel loop driver cannot swap bytes.
expect_error "bswap" 13 imdisk -a -s 4M -o bswap --transport=loop
expect_error "bswap" 13 imdisk -a -f "$TEST_DIR/file.img" -o bswap --transport=loop
expect_eq "No virtual disks." "$(imdisk -l)" "list after the refused attaches"
cmp "$TEST_DIR/expected" "$TEST_DIR/file.img" || fail "a refused attach changed the image"
