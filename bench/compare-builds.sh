#!/usr/bin/env bash
# Two builds of imdisk side by side in one run: the "before and after" of a change.
# For each build, its own imdiskd and devio, and two disks:
#   BEFORE-fuse / AFTER-fuse    a 1 GiB RAM disk forced through the FUSE transport
#                               (imdisk -a -s 1G --transport=fuse)
#   BEFORE-proxy / AFTER-proxy  devio --unix SOCK memory:1G + imdisk -a -t proxy -f unix:SOCK
# Every job runs on all four in turn, round by round (the order rotated each round),
# so the machine's drift hits both builds alike; the tables give AFTER / BEFORE.
#
# Usage: bench/compare-builds.sh BEFORE_BUILD AFTER_BUILD
#   e.g. git worktree add /tmp/old v0.1 && meson setup /tmp/old/build /tmp/old &&
#        ninja -C /tmp/old/build && bench/compare-builds.sh /tmp/old/build build
# Environment as for every bench script (BENCH_RUNTIME, BENCH_ROUNDS, BENCH_JOBS).
source "$(dirname "$0")/lib.sh"
[ $# = 2 ] || bench_die "usage: bench/compare-builds.sh BEFORE_BUILD AFTER_BUILD"
before=$(cd "$1" && pwd)
after=$(cd "$2" && pwd)
bench_init "$after"
echo "# before: $before ($(git -C "$before/.." log -1 --format=%h 2>/dev/null || echo ?))" >>"$RESULTS/info.txt"
echo "# after:  $after ($(git -C "$after/.." log -1 --format=%h 2>/dev/null || echo ?))" >>"$RESULTS/info.txt"

# side_start NAME BUILD: its imdiskd on $WORK/NAME/control, its devio; sets
# the disks' devices in dev_NAME_fuse and dev_NAME_proxy.
side_start() {
	local name=$1 build=$2 dir=$WORK/$1 pid sock unit
	mkdir -p "$dir"
	"$build/imdiskd" --socket "$dir/control" --state-dir "$dir/state" --foreground \
		>>"$dir/imdiskd.log" 2>&1 </dev/null &
	pid=$!
	bench_on_exit "side_stop '$build' '$dir' $pid"
	bench_wait_for 10 test -S "$dir/control" || bench_die "$name imdiskd did not start: $(tail -n 3 "$dir/imdiskd.log")"
	sock=$dir/devio.sock
	bench_bg "devio-$name" "$build/devio" -q --unix "$sock" memory:1G
	bench_wait_for 10 test -S "$sock" || bench_die "$name devio did not start"
	unit=$(IMDISK_SOCKET=$dir/control "$build/imdisk" -a -n -s 1G --transport=fuse) ||
		bench_die "$name: imdisk -a --transport=fuse failed"
	printf -v "dev_${name}_fuse" "%s" "$(side_device "$build" "$dir" "$unit")"
	unit=$(IMDISK_SOCKET=$dir/control "$build/imdisk" -a -n -t proxy -f "unix:$sock") ||
		bench_die "$name: imdisk -a -t proxy failed"
	printf -v "dev_${name}_proxy" '%s' "$(side_device "$build" "$dir" "$unit")"
}

side_device() { # BUILD DIR UNIT
	IMDISK_SOCKET=$2/control "$1/imdisk" -l -u "$3" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d[0] if isinstance(d, list) else d
print(d.get("device") or d.get("disk", {}).get("device", ""))'
}

# Every disk removed (forced) before its daemon stops; the daemon by PID.
side_stop() { # BUILD DIR PID
	local u
	for u in $(IMDISK_SOCKET=$2/control "$1/imdisk" -l -n 2>/dev/null); do
		IMDISK_SOCKET=$2/control "$1/imdisk" -D -u "$u" >/dev/null 2>&1 ||
			IMDISK_SOCKET=$2/control "$1/imdisk" -R -u "$u" >/dev/null 2>&1
	done
	bench_kill "$3"
	[ -n "${RESULTS:-}" ] && cp "$2/imdiskd.log" "$RESULTS/imdiskd-$(basename "$2").log" 2>/dev/null
	return 0
}

side_start before "$before"
side_start after "$after"
for d in "$dev_before_fuse" "$dev_after_fuse" "$dev_before_proxy" "$dev_after_proxy"; do
	[ -b "$d" ] || bench_die "no block device: '$d'"
	bench_fill "$d"
done
bench_describe BEFORE-fuse "$before: imdisk -a -s 1G --transport=fuse → $dev_before_fuse"
bench_describe AFTER-fuse "$after: imdisk -a -s 1G --transport=fuse → $dev_after_fuse"
bench_describe BEFORE-proxy "$before: devio --unix S memory:1G + imdisk -a -t proxy -f unix:S → $dev_before_proxy"
bench_describe AFTER-proxy "$after: devio --unix S memory:1G + imdisk -a -t proxy -f unix:S → $dev_after_proxy"

bench_matrix "BEFORE-fuse=$dev_before_fuse" "AFTER-fuse=$dev_after_fuse" \
	"BEFORE-proxy=$dev_before_proxy" "AFTER-proxy=$dev_after_proxy"
echo
bench_table "FUSE transport, RAM disk: after / before" --anchor BEFORE-fuse --ours AFTER-fuse
bench_table "Proxy disk to devio on a unix socket: after / before" --anchor BEFORE-proxy --ours AFTER-proxy
bench_footer
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RESULTS/info.txt"
