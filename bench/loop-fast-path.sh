#!/usr/bin/env bash
# The loop fast path (issue: foundation), side by side in one run:
#   A          kernel loop over a tmpfs file (the anchor): truncate -s 1G /dev/shm/F,
#              losetup --direct-io=on -f --show
#   ours-ram   an imdisk RAM disk of 1 GiB (imdisk -a -s 1G; memfd under loop)
#   ours-file  an imdisk image-file disk on a 1 GiB tmpfs file (imdisk -a -f F)
# the same fio jobs on each (bench/lib.sh), goal >= 0.97 x A on every job.
# Then the time of `imdisk -a -s 1G -m DIR -p ext4` + `imdisk -d -m DIR` (goal
# < 0.5 s; median of 5, split into create+mkfs+mount and remove), what each step
# costs, and what other mkfs.ext4 options would change.
#
# Usage: bench/loop-fast-path.sh [BUILD]     (BENCH_RUNTIME=1 BENCH_ROUNDS=1 for a smoke run)
#   BENCH_TIMING_RUNS  cycles of the create/remove timing (default 5)
#   BENCH_DIAG=1       also a diagnostic target (see below)
source "$(dirname "$0")/lib.sh"
bench_init "${1:-}"
BENCH_TIMING_RUNS=${BENCH_TIMING_RUNS:-5}

"$IMDISK" --help 2>/dev/null | grep -q -- '--attach' || bench_skip "$IMDISK does not work yet"
bench_imdiskd_start

# A: kernel loop over a tmpfs file.
fa=$(bench_tmpfs_file A)
bench_losetup "$fa"
dev_a=$LOOP_DEV
bench_fill "$dev_a"
bench_describe A "\`truncate -s 1G $fa; losetup --direct-io=on -f --show $fa\` → $dev_a (dio=$(cat /sys/block/${dev_a##*/}/loop/dio))"

# ours-ram: a RAM disk.
bench_imdisk_attach -s 1G || bench_die "imdisk -a -s 1G failed: $(tail -n 3 "$WORK/imdisk.log")"
dev_ram=$DISK_DEV
bench_fill "$dev_ram"
bench_describe ours-ram "\`imdisk -a -s 1G\` (private imdiskd) → $dev_ram, backing \`$(bench_loop_backing "$dev_ram")\` (dio=$(cat /sys/block/${dev_ram##*/}/loop/dio))"

# ours-file: an image-file disk on a tmpfs file.
ff=$(bench_tmpfs_file ours-file.img)
bench_imdisk_attach -f "$ff" || bench_die "imdisk -a -f $ff failed: $(tail -n 3 "$WORK/imdisk.log")"
dev_file=$DISK_DEV
bench_fill "$dev_file"
bench_describe ours-file "\`truncate -s 1G $ff; imdisk -a -f $ff\` → $dev_file (dio=$(cat /sys/block/${dev_file##*/}/loop/dio))"

targets=("A=$dev_a" "ours-ram=$dev_ram" "ours-file=$dev_file")

# BENCH_DIAG=1: also a memfd like imdiskd's, but reopened through /proc/PID/fd/N
# (which runs tmpfs's open and so allows O_DIRECT), under loop with direct I/O:
# what the RAM disk would reach if imdiskd did the same.  Not ours: a diagnosis.
if [ "${BENCH_DIAG:-0}" = 1 ]; then
	bench_bg memfd-holder python3 -c '
import os, signal
fd = os.memfd_create("bench-memfd", 0)
os.ftruncate(fd, 1 << 30)
print(f"/proc/{os.getpid()}/fd/{fd}", flush=True)
signal.sigwait([signal.SIGTERM, signal.SIGINT])'
	bench_wait_for 10 test -s "$WORK/memfd-holder.log" || bench_die "memfd holder did not start"
	bench_losetup "$(head -n 1 "$WORK/memfd-holder.log")"
	dev_diag=$LOOP_DEV
	bench_fill "$dev_diag"
	bench_describe diag-memfd-dio "a memfd (memfd_create + ftruncate 1G, held by a python process), \`losetup --direct-io=on -f --show /proc/PID/fd/N\` → $dev_diag (dio=$(cat /sys/block/${dev_diag##*/}/loop/dio))"
	targets+=("diag-memfd-dio=$dev_diag")
fi

bench_matrix "${targets[@]}"

echo
ours=(--ours ours-ram --ours ours-file)
[ "${BENCH_DIAG:-0}" = 1 ] && ours+=(--ours diag-memfd-dio)
bench_table "loop fast path: ours vs kernel loop over tmpfs (A)" --anchor A "${ours[@]}" --goal '*=0.97'
bench_footer

# Free the memory before the timing part.
_bench_imdisk_remove "$UNIT" "$dev_file" "$(bench_loop_id "$dev_file")"
rm -f "$ff" "$fa"

# ---- create + mkfs + mount + remove -------------------------------------------

mnt=$WORK/mnt
mkdir -p "$mnt"
bench_on_exit "bench_unmount '$mnt'"

now() { echo "$EPOCHREALTIME"; }
ms() { python3 -c "import sys; print(f'{(float(sys.argv[2]) - float(sys.argv[1])) * 1000:.0f}')" "$1" "$2"; }

# time_cycle "FORMAT": one `imdisk -a -s 1G -m DIR -p FORMAT` + `imdisk -d -m DIR`;
# echoes "create_ms remove_ms".
time_cycle() {
	local t0 t1 t2
	t0=$(now)
	"$IMDISK" -a -s 1G -m "$mnt" -p "$1" >>"$WORK/imdisk.log" 2>&1 || bench_die "imdisk -a -s 1G -m $mnt -p '$1' failed: $(tail -n 3 "$WORK/imdisk.log")"
	t1=$(now)
	"$IMDISK" -d -m "$mnt" >>"$WORK/imdisk.log" 2>&1 || bench_die "imdisk -d -m $mnt failed: $(tail -n 3 "$WORK/imdisk.log")"
	t2=$(now)
	echo "$(ms "$t0" "$t1") $(ms "$t1" "$t2")"
}

# timing_row "FORMAT" "what": median of BENCH_TIMING_RUNS cycles.
timing_row() {
	local fmt=$1 what=$2 i
	: >"$WORK/cycles"
	for ((i = 0; i < BENCH_TIMING_RUNS; i++)); do time_cycle "$fmt" >>"$WORK/cycles"; done
	python3 - "$WORK/cycles" "$fmt" "$what" <<'EOF'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
tot = [a + b for a, b in rows]
i = sorted(range(len(rows)), key=lambda k: tot[k])[len(rows) // 2]  # the median run
a, b = rows[i]
ok = "✓" if tot[i] < 500 else "✗"
print(f"| `imdisk -a -s 1G -m DIR -p \"{sys.argv[2]}\"` + `imdisk -d -m DIR` | {sys.argv[3]} | "
      f"**{tot[i]:.0f} ms** {ok} | {a:.0f} ms | {b:.0f} ms | {min(tot):.0f}–{max(tot):.0f} ms |")
EOF
}

{
	echo "### create + mkfs.ext4 + mount + remove of a 1 GiB RAM disk (goal < 500 ms)"
	echo
	echo "| command | mkfs options | total (median of $BENCH_TIMING_RUNS) | create+mkfs+mount | remove | range of totals |"
	echo "|---|---|---|---|---|---|"
	timing_row "ext4" "the CLI's default on a fresh RAM disk (-E nodiscard,assume_storage_prezeroed=1)"
	timing_row "ext4 -E discard" "the user's -E: mke2fs's own defaults (discard, zeroed journal)"
	echo
} | tee -a "$RESULTS/tables.md"

# Where the time goes: the same steps one by one, outside the CLI (median of 5).
step_ms() { # step_ms NAME COMMAND...: run, append "NAME ms" to $WORK/steps
	local name=$1 t0 t1
	shift
	t0=$(now)
	"$@" >>"$WORK/steps.log" 2>&1 || bench_die "$* failed: $(tail -n 3 "$WORK/steps.log")"
	t1=$(now)
	echo "$name $(ms "$t0" "$t1")" >>"$WORK/steps"
}
: >"$WORK/steps"
for ((i = 0; i < BENCH_TIMING_RUNS; i++)); do
	bench_imdisk_attach -s 1G || bench_die "imdisk -a -s 1G failed"
	echo "imdisk-a $ATTACH_MS" >>"$WORK/steps"
	u=$UNIT dev=$DISK_DEV
	for fmt in "" "-E nodiscard" "-E nodiscard,assume_storage_prezeroed=1"; do
		# shellcheck disable=SC2086
		step_ms "mkfs.ext4${fmt:+ $fmt}" mkfs.ext4 -q -F $fmt "$dev"
	done
	step_ms mount mount "$dev" "$mnt"
	step_ms umount umount "$mnt"
	step_ms "imdisk-d" "$IMDISK" -d -u "$u"
done
{
	echo "Step by step, outside the CLI (median of $BENCH_TIMING_RUNS; each mkfs on the same fresh RAM disk in turn):"
	echo
	echo "| step | median | range |"
	echo "|---|---|---|"
	python3 - "$WORK/steps" <<'EOF'
import statistics, sys
steps = {}
for l in open(sys.argv[1]):
    name, v = l.rsplit(" ", 1)
    steps.setdefault(name, []).append(float(v))
for name, v in steps.items():
    print(f"| `{name}` | {statistics.median(v):.0f} ms | {min(v):.0f}–{max(v):.0f} ms |")
EOF
	echo
} | tee -a "$RESULTS/tables.md"
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RESULTS/info.txt"
bench_note "tables: $RESULTS/tables.md"
