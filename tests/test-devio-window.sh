#!/usr/bin/env bash
# What devio serves of an image, by the reference command line's rules: MBR
# partition 1 when the image has a table and nothing else was said; a partition
# number below 512; a count of 512-byte blocks from 512 up; a suffixed size; an
# offset in sectors (or suffixed); the alignment; and the long options.  Writes
# land inside the window and never pass its end.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

img=$TEST_DIR/mbr.img
random_file "$img" $((8 << 20))
# Partition 1: sectors 2048..6143 (2 MiB at 1 MiB), partition 2: 6144..8191 (1 MiB at 3 MiB).
python3 - "$img" <<'PY'
import struct, sys
with open(sys.argv[1], 'r+b') as f:
    mbr = bytearray(512)
    for i, (start, count) in enumerate([(2048, 4096), (6144, 2048)]):
        mbr[446 + 16 * i:446 + 16 * (i + 1)] = struct.pack('<B3sB3sII', 0, b'\0\0\0', 0x83, b'\0\0\0', start, count)
    mbr[510:512] = b'\x55\xaa'
    f.write(mbr)
PY
cp "$img" "$TEST_DIR/original"
plain=$TEST_DIR/plain.img
random_file "$plain" $((1 << 20))
printf '\0\0' | dd of="$plain" bs=1 seek=510 conv=notrunc status=none

# serve ARGS... -> "SIZE ALIGNMENT" and the first 4 KiB it serves in $TEST_DIR/first
serve() {
	start_devio_tcp "$@"
	probe $DEVIO_AT info read 0 4096 "$TEST_DIR/first" |
		sed -n 's/^info size=\([0-9]*\) alignment=\([0-9]*\).*/\1 \2/p'
	stop_devio || fail "devio $* exited with $?"
}
# first_is OFFSET: the first 4 KiB served are the image's at OFFSET
first_is() { cmp "$TEST_DIR/first" <(dd if="${2:-$img}" bs=4096 skip=$(($1 / 4096)) count=1 status=none) || fail "data not from offset $1"; }

[ "$(serve "$img")" = "2097152 1" ] || fail "no argument: partition 1 of an MBR image"
first_is $((1 << 20))
[ "$(serve "$img" 2)" = "1048576 1" ] || fail "partition 2"
first_is $((3 << 20))
[ "$(serve "$img" 0)" = "8388608 1" ] || fail "partition 0: the whole image"
first_is 0
[ "$(serve "$plain")" = "1048576 1" ] || fail "no table: the whole image"
first_is 0 "$plain"
[ "$(serve "$img" 1024)" = "524288 1" ] || fail "1024 blocks"
first_is 0
[ "$(serve "$img" 1024 8)" = "524288 1" ] || fail "1024 blocks at sector 8"
first_is 4096
[ "$(serve "$img" 128K 8K)" = "131072 1" ] || fail "suffixed size and offset"
first_is 8192
[ "$(serve "$img" 131072B 8192b)" = "131072 1" ] || fail "B and b are bytes"
first_is 8192
[ "$(serve "$img" 0 2048 512)" = "7340032 512" ] || fail "partition 0 at sector 2048, alignment 512"
first_is $((1 << 20))
[ "$(serve --partition 2 "$img")" = "1048576 1" ] || fail "--partition 2"
first_is $((3 << 20))
[ "$(serve --size 1M --offset 512K --alignment 4 "$img")" = "1048576 4" ] || fail "--size --offset --alignment"
first_is $((512 << 10))

# Missing partitions and windows past the end are errors, not the whole image.
expect_error "partition 5 does not exist" 1 "$DEVIO" 0 "$img" 5
expect_error "no partition table" 1 "$DEVIO" 0 "$plain" 1
expect_error "do not fit" 1 "$DEVIO" 0 "$img" 9M
expect_error "past the end" 1 "$DEVIO" 0 "$img" 0 20000

# Writes through partition 2 land at 3 MiB and stop at its end.
start_devio_tcp "$img" 2
random_file "$TEST_DIR/w" 4096
expect_output "write errorno=0 length=4096
write errorno=22 length=18446744073709551615" probe $DEVIO_AT \
	write 0 "$TEST_DIR/w" write $(((1 << 20) - 2048)) "$TEST_DIR/w"
stop_devio || fail "devio exited with $?"
cmp "$TEST_DIR/w" <(dd if="$img" bs=4096 skip=768 count=1 status=none) || fail "write not at 3 MiB"
cmp <(head -c $((3 << 20)) "$img") <(head -c $((3 << 20)) "$TEST_DIR/original") || fail "bytes before the partition changed"
cmp <(tail -c +$(((4 << 20) + 1)) "$img") <(tail -c +$(((4 << 20) + 1)) "$TEST_DIR/original") || fail "bytes after the partition changed"
