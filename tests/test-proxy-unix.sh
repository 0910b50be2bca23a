#!/usr/bin/env bash
# A proxy disk on devio over a unix socket (-t proxy -f unix:PATH): formatted and
# mounted by imdisk, its files survive an umount and a mount by hand, the JSON
# describes it (proxy, unix, connected, fuse), and its data lands in devio's image.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires mkfs.ext4 e2fsck debugfs findmnt
start_daemon

img=$TEST_DIR/disk.img
truncate -s 64M "$img"
sock=$TEST_DIR/devio.sock
start_devio_unix "$sock" "$img"
proxy_ext4_roundtrip "$img" unix "unix:$sock" -f "unix:$sock"
devio_alive
