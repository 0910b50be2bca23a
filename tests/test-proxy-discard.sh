#!/usr/bin/env bash
# A discard on a proxy disk (blkdiscard on its device) reaches devio as UNMAP:
# the sparse image it serves gives the space back (du drops), the range reads
# back as zeroes through the device and in the image, the data around it stays.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires blkdiscard du
start_daemon

size=$((32 << 20))
proxy_disk_on_new_image "$size"

random_file "$TEST_DIR/data" $((24 << 20))
dev_write "$TEST_DIR/data" "$dev" 4 # 4..28 MiB
full=$(du -k "$img" | cut -f1)
[ "$full" -ge $((24 << 10)) ] || fail "the image holds only $full KiB after 24 MiB were written"

# 16 MiB from 8 MiB.
expect_exit 0 blkdiscard -o $((8 << 20)) -l $((16 << 20)) "$dev"
after=$(du -k "$img" | cut -f1)
[ $((full - after)) -ge $((15 << 10)) ] || fail "du of the image went from $full to $after KiB after a 16 MiB discard"
cp "$TEST_DIR/data" "$TEST_DIR/expected"
dd if=/dev/zero of="$TEST_DIR/expected" bs=1M seek=4 count=16 conv=notrunc status=none
cmp <(dd if="$dev" bs=1M skip=4 count=24 iflag=direct status=none) "$TEST_DIR/expected" ||
	fail "$dev after the discard: the range is not zeroes, or data next to it changed"
imdisk -d -u "$u" >/dev/null
cmp <(dd if="$img" bs=1M skip=4 count=24 status=none) "$TEST_DIR/expected" ||
	fail "the image after the discard: the range is not zeroes, or data next to it changed"
expect_eq "$size" "$(stat -c %s "$img")" "image size after the discard"
devio_alive
