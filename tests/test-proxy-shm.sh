#!/usr/bin/env bash
# A proxy disk on devio over shared memory (-t proxy -o shm -f NAME): formatted and
# mounted by imdisk, its files survive an umount and a mount by hand, the JSON
# describes it (proxy, shm, connected, fuse), and its data lands in devio's image.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires mkfs.ext4 e2fsck debugfs findmnt
start_daemon

name=imdisk-test-$$-$RANDOM
on_cleanup "rm -f /dev/shm/$name /dev/shm/sem.${name}_Request /dev/shm/sem.${name}_Response"
img=$TEST_DIR/disk.img
truncate -s 64M "$img"
start_devio "shm:$name" "$img" 0 0 1 1M
for _ in $(seq 100); do grep -q "serving on shared memory" "$DEVIO_LOG" && break; sleep 0.05; done
grep -q "serving on shared memory" "$DEVIO_LOG" || fail "devio does not serve on shared memory"
proxy_ext4_roundtrip "$img" shm "$name" -o shm -f "$name"
devio_alive
# A clean stop of the server still removes its objects (the client let go).
stop_devio || fail "devio exited with $?"
for f in "/dev/shm/$name" "/dev/shm/sem.${name}_Request" "/dev/shm/sem.${name}_Response"; do
	[ ! -e "$f" ] || fail "$f left behind"
done
