#!/usr/bin/env bash
# devio serves a VHD image as the virtual disk it holds: a dynamic VHD reads as
# qemu reads it, writes into unallocated and allocated blocks land where qemu
# finds them and leave a sound image; -r refuses writes; a damaged or
# differencing VHD is refused at start with one line; --raw serves the file's
# bytes; windows (offset, size) apply to the virtual disk; a fixed VHD is its
# data without the footer.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
source "$(dirname "$0")/vhd-helpers.sh"
requires qemu-io

MiB=$((1 << 20))
sock=$TEST_DIR/devio.sock

# read_disk SIZE OUT: the whole served disk, in 8 MiB READs on one connection.
read_disk() {
	local size=$1 out=$2 args=() i=0
	while [ $((i * 8 * MiB)) -lt "$size" ]; do
		local n=$((size - i * 8 * MiB))
		[ $n -gt $((8 * MiB)) ] && n=$((8 * MiB))
		args+=(read $((i * 8 * MiB)) $n "$TEST_DIR/part.$i")
		i=$((i + 1))
	done
	probe $DEVIO_AT "${args[@]}" >"$TEST_DIR/read.out" || fail "reading the disk failed: $(cat "$TEST_DIR/read.out")"
	[ "$(grep -c 'errorno=0' "$TEST_DIR/read.out")" = "$i" ] || fail "READ failed: $(cat "$TEST_DIR/read.out")"
	: >"$out"
	for j in $(seq 0 $((i - 1))); do cat "$TEST_DIR/part.$j" >>"$out"; done
}

# A 32 MiB disk with data in some 2 MiB blocks only: blocks 2-3 (4 MiB..8 MiB,
# random), block 10 (a pattern); the rest is never allocated.
raw=$TEST_DIR/ref.raw
vhd=$TEST_DIR/disk.vhd
truncate -s $((32 * MiB)) "$raw"
head -c $((4 * MiB)) /dev/urandom | dd of="$raw" bs=1M seek=4 conv=notrunc status=none
vhd_from_raw "$raw" "$vhd"
qemu-io -f vpc -c "write -P 0x5a $((20 * MiB + 4096)) 8192" "$vhd" >/dev/null || fail "qemu-io write"
qemu-img convert -f vpc -O raw "$vhd" "$raw"
size=$(vhd_raw_size "$vhd")
[ "$(stat -c %s "$raw")" = "$size" ] || fail "qemu's raw copy is not the virtual size"
expect_eq "ok 3" "$(vhd_tool check "$vhd")" "the image made by qemu"

# Reads: the size is the virtual disk's, no UNMAP or ZERO offered; every byte is qemu's.
start_devio_unix "$sock" "$vhd"
grep -q "dynamic VHD image" "$DEVIO_LOG" || fail "devio did not say it serves a dynamic VHD"
expect_output "info size=$size alignment=1 flags=0x0" probe $DEVIO_AT info
read_disk "$size" "$TEST_DIR/served"
cmp "$TEST_DIR/served" "$raw" || fail "the served disk differs from qemu's raw copy"

# Writes: inside an allocated block; across two unallocated blocks; across an
# allocated and an unallocated one; into the last block (past the file's old
# end).  Each reads back through devio at once.
file_size=$(stat -c %s "$vhd")
writes=("$((4 * MiB + 777)):5000" "$((14 * MiB - 100)):300" "$((8 * MiB - 1000)):70000" "$((size - 4096)):4096")
for w in "${writes[@]}"; do
	off=${w%%:*} len=${w##*:}
	random_file "$TEST_DIR/w" "$len"
	expect_output "write errorno=0 length=$len
read errorno=0 length=$len" probe $DEVIO_AT write "$off" "$TEST_DIR/w" read "$off" "$len" "$TEST_DIR/r"
	cmp "$TEST_DIR/w" "$TEST_DIR/r" || fail "write at $off did not read back"
	dd if="$TEST_DIR/w" of="$raw" bs=1 seek="$off" conv=notrunc status=none
done
# A ZERO on an unallocated block allocates nothing; on an allocated one it zeroes.
expect_output "zero errorno=0" probe $DEVIO_AT zero "$((24 * MiB)):$MiB,$((5 * MiB)):4096"
dd if=/dev/zero of="$raw" bs=4096 seek=$((5 * 256)) count=1 conv=notrunc status=none
read_disk "$size" "$TEST_DIR/served"
cmp "$TEST_DIR/served" "$raw" || fail "the served disk differs from what was written"
stop_devio || fail "devio exited with $?"

# Four new blocks (6, 7, 4 and the last), appended, the footer after the last.
expect_eq $((file_size + 4 * (2 * MiB + 512))) "$(stat -c %s "$vhd")" "the image's size after four allocations"
expect_eq "ok 7" "$(vhd_tool check "$vhd")" "the image written by devio"
rc=0
qemu-img check -f vpc "$vhd" >"$TEST_DIR/check.out" 2>&1 || rc=$?
# qemu 7.2 has no checker for vpc (63: "does not support checks"); 0 where it has one.
[ $rc = 0 ] || [ $rc = 63 ] || fail "qemu-img check: $(cat "$TEST_DIR/check.out")"
qemu-img convert -f vpc -O raw "$vhd" "$TEST_DIR/after.raw"
cmp "$TEST_DIR/after.raw" "$raw" || fail "qemu does not read what devio wrote"

# Read-only: RO in INFO, writes refused with EBADF, the image unchanged.
cp "$vhd" "$TEST_DIR/before.vhd"
start_devio_unix "$sock" -r "$vhd"
random_file "$TEST_DIR/w" 4096
expect_output "info size=$size alignment=1 flags=0x1
write errorno=9 length=18446744073709551615
read errorno=0 length=4096" probe $DEVIO_AT info write $((30 * MiB)) "$TEST_DIR/w" read $((20 * MiB + 4096)) 4096 "$TEST_DIR/r"
cmp "$TEST_DIR/r" <(dd if="$raw" bs=4096 skip=$((20 * 256 + 1)) count=1 status=none) || fail "read-only READ"
stop_devio || fail "devio -r exited with $?"
cmp "$vhd" "$TEST_DIR/before.vhd" || fail "the image changed under -r"

# A window on the virtual disk: 3 MiB from 4 MiB.
start_devio_unix "$sock" --offset 4M --size 3M "$vhd"
expect_output "info size=$((3 * MiB)) alignment=1 flags=0x0
read errorno=0 length=$((3 * MiB))" probe $DEVIO_AT info read 0 $((3 * MiB)) "$TEST_DIR/r"
cmp "$TEST_DIR/r" <(dd if="$raw" bs=1M skip=4 count=3 status=none) || fail "the window's bytes"
stop_devio || fail "devio exited with $?"

# --raw: the file's own bytes, footer copy and all.
start_devio_unix "$sock" --raw -r "$vhd"
vsize=$(stat -c %s "$vhd")
expect_output "info size=$vsize alignment=1 flags=0x1" probe $DEVIO_AT info
read_disk "$vsize" "$TEST_DIR/served"
cmp "$TEST_DIR/served" "$vhd" || fail "--raw does not serve the file's bytes"
stop_devio || fail "devio --raw exited with $?"

# Damaged images are refused at start: exit 1, one line that says why.
bad=$TEST_DIR/bad.vhd
refuse() { # PATTERN: devio on $bad must fail with it
	expect_error "$1" 1 "$DEVIO" --unix "$TEST_DIR/never.sock" "$bad"
	[ ! -e "$TEST_DIR/never.sock" ] || fail "devio listened on a bad image"
}
cp "$vhd" "$bad"
printf 'X' | dd of="$bad" bs=1 seek=40 conv=notrunc status=none # in the footer copy at 0
refuse "corrupt VHD.*checksum"
cp "$vhd" "$bad"
vhd_tool set "$bad" header checksum 0x12345678
refuse "corrupt VHD.*checksum"
cp "$vhd" "$bad"
vhd_tool set "$bad" header table_offset $((1 << 40))
refuse "corrupt VHD.*outside the file"
cp "$vhd" "$bad"
# A BAT entry (block 0's) pointing past the end of the file.
bat=$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(); h=struct.unpack_from(">Q",d,16)[0]; print(struct.unpack_from(">Q",d,h+16)[0])' "$bad")
printf '\x00\xff\x00\x00' | dd of="$bad" bs=1 seek="$bat" conv=notrunc status=none
refuse "corrupt VHD.*outside the file"
cp "$vhd" "$bad"
vhd_tool set "$bad" header block_size 3000
refuse "corrupt VHD"
cp "$vhd" "$bad"
vhd_tool set "$bad" footers type 4
refuse "differencing VHD"
cp "$vhd" "$bad"
truncate -s 600 "$bad" # the header is gone
refuse "corrupt VHD.*outside the file"
# --raw still serves a damaged one.
start_devio_unix "$sock" --raw "$bad"
expect_output "info size=600 alignment=1 flags=0x6" probe $DEVIO_AT info
stop_devio || fail "devio --raw exited with $?"

# A fixed VHD: the data, not the footer after it.
fixed=$TEST_DIR/fixed.vhd
random_file "$TEST_DIR/fixed.raw" $((3 * MiB))
qemu-img convert -f raw -O vpc -o subformat=fixed "$TEST_DIR/fixed.raw" "$fixed" || fail "qemu-img fixed"
qemu-img convert -f vpc -O raw "$fixed" "$TEST_DIR/fixed.raw"
fsize=$(stat -c %s "$TEST_DIR/fixed.raw")
start_devio_unix "$sock" "$fixed"
grep -q "fixed VHD image" "$DEVIO_LOG" || fail "devio did not say it serves a fixed VHD"
expect_output "info size=$fsize alignment=1 flags=0x6" probe $DEVIO_AT info
read_disk "$fsize" "$TEST_DIR/served"
cmp "$TEST_DIR/served" "$TEST_DIR/fixed.raw" || fail "the fixed VHD's data"
stop_devio || fail "devio exited with $?"
