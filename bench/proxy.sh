#!/usr/bin/env bash
# Proxy disks (issue: IMDPROXY), side by side in one run:
#   ours-proxy  build/devio --unix SOCK memory:1G, and imdisk -a -t proxy -f unix:SOCK
#               (the disk goes through the best user-space transport imdiskd has)
#   C           nbdkit memory 1G on a unix socket + nbdfuse + loop with direct I/O
#   D           qemu-storage-daemon FUSE export of a tmpfs file + loop with direct I/O
#               (shown for reference: one process, no socket hop; not the goal's anchor)
# Goal: ours-proxy >= 1.5 x C on 4k randread qd32 and >= 1.0 x on 1M sequential
# read and write.
#
# Usage: bench/proxy.sh [BUILD]
# Skips (exit 77) while build/devio or `imdisk -a -t proxy` does not work; with
# BENCH_ANCHORS_ONLY=1 it then measures the anchors alone.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/anchors.sh"
bench_init "${1:-}"

# ours_proxy: sets have_ours / why; on success dev_proxy and its description.
ours_proxy() {
	have_ours=0
	if ! "$DEVIO" --help 2>/dev/null | grep -q -- '--unix'; then
		why="$DEVIO does not serve unix sockets yet"; return
	fi
	if ! "$IMDISK" --help 2>/dev/null | grep -q -- 'proxy'; then
		why="$IMDISK has no -t proxy yet"; return
	fi
	local sock=$WORK/devio.sock
	bench_bg devio "$DEVIO" -q --unix "$sock" memory:1G
	devio_cmd="devio -q --unix $sock memory:1G"
	if ! bench_wait_for 10 test -S "$sock"; then
		why="devio did not create $sock: $(tail -n 2 "$WORK/devio.log" | tr '\n' ' ')"; return
	fi
	bench_imdiskd_start
	# The brief's unix:PATH form first, then a bare socket path (-t proxy's default kind).
	local f
	for f in "unix:$sock" "$sock"; do
		if bench_imdisk_attach -t proxy -f "$f"; then
			have_ours=1 dev_proxy=$DISK_DEV
			proxy_cmd="imdisk -a -t proxy -f $f"
			return
		fi
	done
	why="imdisk -a -t proxy -f unix:$sock failed: $(tail -n 2 "$WORK/imdisk.log" | tr '\n' ' ')"
}

ours_proxy
if [ "$have_ours" = 0 ]; then
	[ "${BENCH_ANCHORS_ONLY:-0}" = 1 ] || bench_skip "$why"
	bench_note "$why: measuring the anchors only"
else
	backing=$(bench_loop_backing "$dev_proxy")
	bench_fill "$dev_proxy"
	bench_describe ours-proxy "\`$devio_cmd\` + \`$proxy_cmd\` (private imdiskd) → $dev_proxy${backing:+ on \`$backing\` ($(findmnt -n -o FSTYPE --target "$backing" 2>/dev/null || echo ?), dio=$(cat /sys/block/${dev_proxy##*/}/loop/dio 2>/dev/null))}"
fi

anchor_c; dev_c=$ANCHOR_DEV; bench_fill "$dev_c"
anchor_d; dev_d=$ANCHOR_DEV; bench_fill "$dev_d"

targets=("C=$dev_c" "D=$dev_d")
[ "$have_ours" = 1 ] && targets+=("ours-proxy=$dev_proxy")
bench_matrix "${targets[@]}"

echo
if [ "$have_ours" = 1 ]; then
	bench_table "(2) proxy disk to devio (unix socket) vs nbdfuse + loop to nbdkit on a unix socket (C)" \
		--anchor C --show D --ours ours-proxy \
		--goal randread-4k-qd32=1.5 --goal seqread-1m-qd8=1.0 --goal seqwrite-1m-qd8=1.0
else
	bench_table "anchors only (ours not measured: $why)" --anchor C --anchor D
fi
bench_footer
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RESULTS/info.txt"
