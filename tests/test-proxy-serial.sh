#!/usr/bin/env bash
# A proxy disk on devio over a serial line (-t proxy -o comm -f TTY:BAUD; a socat
# pty pair plays the cable): formatted and mounted by imdisk, its files survive an
# umount and a mount by hand, the JSON describes it (proxy, comm, connected, fuse),
# and its data lands in devio's image.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires socat mkfs.ext4 e2fsck debugfs findmnt
start_daemon

start_pty_pair

img=$TEST_DIR/disk.img
truncate -s 64M "$img"
start_devio "$TEST_DIR/a:115200,8,N,1" "$img"
# devio flushes the line once it has set it up: attach only after that.
for _ in $(seq 200); do grep -q "serving on" "$DEVIO_LOG" && break; sleep 0.05; done
grep -q "serving on" "$DEVIO_LOG" || fail "devio did not start serving the line"
proxy_ext4_roundtrip "$img" comm "$TEST_DIR/b:115200" -o comm -f "$TEST_DIR/b:115200"
devio_alive
