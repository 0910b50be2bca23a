#!/usr/bin/env bash
# A proxy disk on devio over TCP (-t proxy -o ip -f 127.0.0.1:PORT): formatted and
# mounted by imdisk, its files survive an umount and a mount by hand, the JSON
# describes it (proxy, tcp, connected, fuse), and its data lands in devio's image.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires mkfs.ext4 e2fsck debugfs findmnt
start_daemon

img=$TEST_DIR/disk.img
truncate -s 64M "$img"
start_devio_tcp "$img"
proxy_ext4_roundtrip "$img" tcp "127.0.0.1:$DEVIO_PORT" -o ip -f "127.0.0.1:$DEVIO_PORT"
devio_alive
