#!/usr/bin/env bash
# The FUSE transport, side by side in one run:
#   ours-fuse  an imdisk RAM disk of 1 GiB forced through the FUSE transport
#              (imdisk -a -s 1G --transport=fuse: a file in imdiskd's FUSE mount, loop on it)
#   C          nbdkit memory 1G + nbdfuse + loop with direct I/O
#   D          qemu-storage-daemon FUSE export of a tmpfs file + loop with direct I/O
#   A          kernel loop over a tmpfs file
# Goals: (1) ours-fuse >= 1.5 x the better of C and D on 4k randread qd32 and
# >= 1.0 x on 1M sequential read and write; (3) ours-fuse >= 0.5 x A on 4k
# randread qd32 and 1M sequential read.
#
# Usage: bench/fuse-transport.sh [BUILD]
# Skips (exit 77) while `imdisk -a --transport=fuse` does not work; with
# BENCH_ANCHORS_ONLY=1 it then measures the anchors alone.  imdiskd takes FUSE
# requests over io_uring where the kernel has it (its default); to measure the
# /dev/fuse channel instead: BENCH_IMDISKD_ARGS=--no-fuse-io-uring.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/anchors.sh"
bench_init "${1:-}"

ours_label=ours-fuse
have_ours=1
why=
if ! "$IMDISK" --help 2>/dev/null | grep -q -- '--transport'; then
	have_ours=0 why="$IMDISK has no --transport yet"
else
	bench_imdiskd_start
	if ! bench_imdisk_attach -s 1G --transport=fuse; then
		have_ours=0 why="imdisk -a -s 1G --transport=fuse failed: $(tail -n 2 "$WORK/imdisk.log" | tr '\n' ' ')"
	fi
fi
if [ "$have_ours" = 0 ]; then
	[ "${BENCH_ANCHORS_ONLY:-0}" = 1 ] || bench_skip "$why"
	bench_note "$why: measuring the anchors only"
else
	dev_fuse=$DISK_DEV
	backing=$(bench_loop_backing "$dev_fuse")
	# It must really go through FUSE: a loop device on a file in a fuse mount.
	fstype=$(findmnt -n -o FSTYPE --target "$backing" 2>/dev/null || true)
	case $fstype in
	fuse*) ;;
	*) bench_skip "--transport=fuse made $dev_fuse on '$backing' (file system '${fstype:-?}'), not a FUSE file" ;;
	esac
	bench_fill "$dev_fuse"
	# How imdiskd receives FUSE requests: io_uring rings it holds, else /dev/fuse.
	rings=$(find "/proc/$IMDISKD_PID/fd" -lname 'anon_inode:\[io_uring\]' 2>/dev/null | wc -l)
	fuse_fds=$(find "/proc/$IMDISKD_PID/fd" -lname '/dev/fuse' 2>/dev/null | wc -l)
	how="imdiskd holds $fuse_fds /dev/fuse descriptor(s) and $rings io_uring ring(s)"
	bench_describe "$ours_label" "\`imdisk -a -s 1G --transport=fuse\` (private imdiskd) → $dev_fuse on \`$backing\` ($fstype, dio=$(cat /sys/block/${dev_fuse##*/}/loop/dio)); $how"
fi

anchor_a; dev_a=$ANCHOR_DEV; bench_fill "$dev_a"
anchor_c; dev_c=$ANCHOR_DEV; bench_fill "$dev_c"
anchor_d; dev_d=$ANCHOR_DEV; bench_fill "$dev_d"

targets=("A=$dev_a" "C=$dev_c" "D=$dev_d")
[ "$have_ours" = 1 ] && targets+=("$ours_label=$dev_fuse")
bench_matrix "${targets[@]}"

echo
if [ "$have_ours" = 1 ]; then
	bench_table "(1) FUSE transport RAM disk vs nbdfuse (C) and qemu-storage-daemon FUSE (D)" \
		--anchor C --anchor D --ours "$ours_label" \
		--goal randread-4k-qd32=1.5 --goal seqread-1m-qd8=1.0 --goal seqwrite-1m-qd8=1.0
	bench_table "(3) FUSE transport RAM disk vs kernel loop over tmpfs (A)" \
		--anchor A --ours "$ours_label" --goal randread-4k-qd32=0.5 --goal seqread-1m-qd8=0.5
else
	bench_table "anchors only (ours not measured: $why)" --anchor A --anchor C --anchor D
fi
bench_footer
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RESULTS/info.txt"
