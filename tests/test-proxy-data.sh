#!/usr/bin/env bash
# Raw data through a proxy disk's block device (direct I/O, requests of 4 KiB to
# 4 MiB, at MiB and odd 4 KiB offsets, up to the last byte) reads back as written,
# and after removal the image devio serves holds the same bytes at the same
# offsets, with the rest still zeroes.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
start_daemon

size=$((32 << 20))
truncate -s "$size" "$TEST_DIR/expected"
proxy_disk_on_new_image "$size"
expect_eq "$size" "$(blockdev --getsize64 "$dev")" "size of $dev"

# put FILE BS SEEK: write FILE at block SEEK of BS bytes, on the device and in
# the expected image.
put() {
	dd if="$1" of="$dev" bs="$2" seek="$3" oflag=direct conv=fsync,notrunc status=none ||
		fail "writing $1 (bs=$2 seek=$3) to $dev failed"
	dd if="$1" of="$TEST_DIR/expected" bs="$2" seek="$3" conv=notrunc status=none
}
random_file "$TEST_DIR/a" $((8 << 20))
random_file "$TEST_DIR/b" $((300 * 4096))
random_file "$TEST_DIR/c" 4096
random_file "$TEST_DIR/d" $((1 << 20))
put "$TEST_DIR/a" 4M 1       # 8 MiB at 4 MiB, requests larger than a proxy transfer
put "$TEST_DIR/b" 4K 3077    # 1.2 MiB at an odd 4 KiB offset
put "$TEST_DIR/c" 4K 0       # the first block
put "$TEST_DIR/d" 1M 31      # the last MiB, up to the end
cmp "$TEST_DIR/expected" <(dev_read "$dev") || fail "$dev does not read back what was written"
# Small reads at odd offsets too.
cmp <(dd if="$dev" bs=4K skip=3077 count=300 iflag=direct status=none) "$TEST_DIR/b" ||
	fail "4 KiB reads differ"
# Past the end: nothing written, an error.
if dd if="$TEST_DIR/c" of="$dev" bs=4K seek=$((size / 4096)) oflag=direct conv=notrunc status=none 2>/dev/null; then
	fail "a write past the end of $dev succeeded"
fi

imdisk -d -u "$u" >/dev/null
wait_detached "$dev" "unit$u" || fail "$dev still attached after -d"
expect_eq "$size" "$(stat -c %s "$img")" "image size after use"
cmp "$TEST_DIR/expected" "$img" || fail "the image does not hold the bytes written through $dev"
devio_alive
