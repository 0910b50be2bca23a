#!/usr/bin/env bash
# FUSE over io_uring, imdiskd's default channel where the kernel has it:
# - without any option imdiskd serves user-space disks through io_uring rings,
#   one thread per --fuse-workers, and the machine-wide switch is left as it was;
# - a RAM disk forced through --transport=fuse carries data both ways;
# - a proxy disk, whose reads are answered by the proxy's reader threads rather
#   than by the ring's own worker, verifies 4k random reads at queue depth 32.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires fio
switch=/sys/module/fuse/parameters/enable_uring
[ -w "$switch" ] || skip "this kernel has no FUSE over io_uring"
before=$(cat "$switch")
start_daemon --fuse-workers 3
u=$("$IMDISK" -a -s 64M --transport=fuse -n)
[ "$(cat "$switch")" = "$before" ] || fail "enable_uring is $(cat "$switch"), was $before"
rings=$(find "/proc/$DAEMON_PID/fd" -lname 'anon_inode:\[io_uring\]' 2>/dev/null | wc -l)
expect_eq 3 "$rings" "io_uring rings of imdiskd with 3 workers (the default channel)"
threads=$(grep -l '^imdisk-fuser' /proc/"$DAEMON_PID"/task/*/comm 2>/dev/null | wc -l)
expect_eq 3 "$threads" "io_uring worker threads"

dev=$(unit_device "$u")
random_file "$TEST_DIR/data" $((32 << 20))
dd if="$TEST_DIR/data" of="$dev" bs=1M oflag=direct status=none
cmp "$TEST_DIR/data" <(head -c $((32 << 20)) "$dev") || fail "data differs through FUSE over io_uring"
"$IMDISK" -d -u "$u" >/dev/null

size=$((64 << 20))
proxy_disk_on_new_image "$size"
fio --name=write --filename="$dev" --ioengine=io_uring --direct=1 --bs=4k --size="$size" --iodepth=16 \
	--rw=randwrite --randrepeat=1 --verify=crc32c --do_verify=0 --verify_state_save=0 \
	--output="$TEST_DIR/write.out" || fail "writing the pattern failed: $(tail -n 5 "$TEST_DIR/write.out")"
fio --name=write --filename="$dev" --ioengine=io_uring --direct=1 --bs=4k --size="$size" --iodepth=32 \
	--rw=randwrite --randrepeat=1 --verify=crc32c --verify_fatal=1 --verify_only --verify_state_save=0 \
	--output="$TEST_DIR/verify.out" || fail "proxy reads over io_uring did not verify: $(grep -i -m3 'verify\|err' "$TEST_DIR/verify.out")"
"$IMDISK" -d -u "$u" >/dev/null || fail "imdisk -d of the proxy disk failed"
