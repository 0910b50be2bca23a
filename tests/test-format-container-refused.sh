#!/usr/bin/env bash
# An image in a container format imdisk does not serve yet (qcow2, VMDK, VHDX,
# VDI, QED) is told by its content, whatever its name, and refused with one line
# naming the format (exit 3), never attached as raw metadata; nothing is left.
. "$(dirname "$0")/functions.sh"
requires_root
command -v qemu-img >/dev/null || skip "needs qemu-img (qemu-utils)"
start_daemon

for format in qcow2 vmdk vhdx vdi qed; do
	img="$TEST_DIR/disk-$format.img"      # a raw-looking name: content decides
	qemu-img create -q -f "$format" "$img" 64M
	expect_error "disk-$format.img is a $format image, which imdisk cannot serve yet" 3 \
		imdisk -a -t file -f "$img"
	expect_error "is a $format image" 3 imdisk -a -t vm -f "$img"
done
expect_eq "No virtual disks." "$(imdisk -l)" "list after the refusals"

# A raw image whose first sector happens to be zeroes, and a dynamic VHD, still attach.
truncate -s 8M "$TEST_DIR/raw.img"
u=$(attach -t file -f "$TEST_DIR/raw.img")
imdisk -d -u "$u"
qemu-img create -q -f vpc "$TEST_DIR/dynamic.vhd" 8M
u=$(attach -t file -f "$TEST_DIR/dynamic.vhd")
imdisk -d -u "$u"
expect_eq "No virtual disks." "$(imdisk -l)" "list at the end"
