#!/usr/bin/env bash
# TRIM gives a RAM disk's memory back: 192 MiB written to a 256 MiB RAM disk,
# then blkdiscard; Shmem in /proc/meminfo drops by at least 150 MiB.
. "$(dirname "$0")/functions.sh"
requires_root
requires blkdiscard
start_daemon

shmem() { awk '/^Shmem:/ { printf "%.0f\n", $2 * 1024 }' /proc/meminfo; }

u=$(attach -s 256M)
dev=$(unit_device "$u")
dd if=/dev/urandom of="$dev" bs=1M count=192 oflag=direct conv=fsync status=none
random_file "$TEST_DIR/tail" 1M
dev_write "$TEST_DIR/tail" "$dev" 255
full=$(shmem)
note "Shmem with 193 MiB written: $((full >> 20)) MiB"

blkdiscard "$dev"
freed=0
for _ in $(seq 40); do
	freed=$((full - $(shmem)))
	[ "$freed" -ge $((150 << 20)) ] && break
	sleep 0.05
done
note "Shmem after blkdiscard: $(( $(shmem) >> 20)) MiB"
[ "$freed" -ge $((150 << 20)) ] || fail "blkdiscard freed only $((freed >> 20)) MiB of Shmem"
# Discarded blocks read as zeros; the disk keeps working.
cmp -n $((256 << 20)) /dev/zero <(dev_read "$dev") || fail "discarded $dev does not read as zeros"
dev_write "$TEST_DIR/tail" "$dev" 100
cmp "$TEST_DIR/tail" <(dd if="$dev" bs=1M skip=100 count=1 iflag=direct status=none) || fail "write after discard differs"
imdisk -d -u "$u"
