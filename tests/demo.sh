#!/usr/bin/env bash
# `make demo`: the main job, as a user would do it.  A private imdiskd (started
# by imdisk itself on a socket in a temporary folder) so that nothing of the
# machine's own is touched; everything is removed at the end.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
WORK=$(mktemp -d /tmp/imdisk-demo.XXXXXX)
export IMDISK_SOCKET=$WORK/control
export PATH=$BUILD:$PATH

run() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

finish() {
	local rc=$?
	set +e
	for m in "$WORK/ram" "$WORK/part2"; do mountpoint -q "$m" && umount "$m"; done
	if [ -s "$IMDISK_SOCKET.pid" ]; then
		for u in $(imdisk -l -n 2>/dev/null); do imdisk -D -u "$u" >/dev/null 2>&1; done
		kill "$(cat "$IMDISK_SOCKET.pid")" 2>/dev/null
		sleep 0.3
	fi
	rm -rf "$WORK"
	[ $rc = 0 ] && printf '\nDemo finished: every disk removed, the demo daemon stopped.\n'
	exit $rc
}
trap finish EXIT

echo "== 1. A 512 MiB RAM disk, formatted ext4 and mounted"
run imdisk -a -s 512M -m "$WORK/ram" -p ext4
run sh -c "echo 'hello from a RAM disk' > '$WORK/ram/hello.txt'"
run cat "$WORK/ram/hello.txt"
run imdisk -l
run imdisk -l -m "$WORK/ram"
run imdisk -d -m "$WORK/ram"

echo
echo "== 2. An image file with two partitions; partition 2 formatted and mounted"
run truncate -s 64M "$WORK/disk.img"
printf 'label: dos\nstart=2048, size=40960, type=83\nstart=43008, type=83\n' > "$WORK/layout"
run sfdisk --quiet "$WORK/disk.img" < "$WORK/layout"
run sfdisk -l "$WORK/disk.img"
run imdisk -a -f "$WORK/disk.img" -v 2 -m "$WORK/part2" -p ext4
run sh -c "echo 'partition two' > '$WORK/part2/note.txt'"
run imdisk -l --json
run imdisk -d -m "$WORK/part2"
run imdisk -l
