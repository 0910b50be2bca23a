# shellcheck shell=bash disable=SC2034  # sets variables the scripts use
# Shared helpers for the side-by-side benchmark scripts under bench/ (sourced).
#
# Every script measures ours and its anchors in ONE run, job by job in turn
# (the machine is shared and noisy: only ratios from one run count), with the
# anchors' fio parameters (docs/performance.md):
#   --ioengine=io_uring --direct=1 --size=1G --time_based --runtime=7 --numjobs=1
# and five jobs: 1M seq write qd8, 1M seq read qd8, 4k randwrite qd32,
# 4k randread qd32, 4k randread qd1.
#
# Environment:
#   BENCH_RUNTIME  seconds per fio job (default 7, as the anchors; 1 for a smoke run)
#   BENCH_ROUNDS   rounds of every job on every target; the tables show the median
#                  (default 3)
#   BENCH_JOBS     which jobs (default all five, names as in BENCH_ALL_JOBS)
#   BENCH_RESULTS  folder for raw fio JSON and the tables (default bench/results)
#   BENCH_KEEP     1: keep the work folder's logs (copied into the results folder)
#
# Nothing is left behind: every mount, loop device, process and file is
# registered with bench_on_exit right after it is made and undone at exit
# (last registered first), whatever happened.  Loop devices are detached by
# name, and only while their backing file is still the one we attached.
set -euo pipefail

BENCH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_RUNTIME=${BENCH_RUNTIME:-7}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_ALL_JOBS="seqwrite-1m-qd8 seqread-1m-qd8 randwrite-4k-qd32 randread-4k-qd32 randread-4k-qd1"
BENCH_JOBS=${BENCH_JOBS:-$BENCH_ALL_JOBS}
BENCH_SIZE=1G
BENCH_NAME=$(basename "$0" .sh)

# ---- build folder, work folder, results folder ----------------------------

# bench_init BUILD: where build/imdisk, build/imdiskd, build/devio are.
bench_init() {
	local build=${1:-$BENCH_TOP/build}
	BUILD=$(cd "$build" && pwd)
	IMDISK=$BUILD/imdisk
	IMDISKD=$BUILD/imdiskd
	DEVIO=$BUILD/devio
	[ "$(id -u)" = 0 ] || bench_die "needs root (loop devices, mounts)"
	local c
	for c in fio python3 losetup truncate mountpoint; do
		command -v "$c" >/dev/null 2>&1 || bench_die "needs $c (make deps)"
	done
	# tmpfs files (the anchors' /dev/shm/F), sockets and mount points: all here.
	WORK=$(mktemp -d /dev/shm/imdisk-bench.XXXXXX)
	bench_on_exit "rm -rf '$WORK'"
	local stamp
	stamp=$(date +%Y%m%d-%H%M%S)
	RESULTS=${BENCH_RESULTS:-$BENCH_TOP/bench/results}/$BENCH_NAME-$stamp
	mkdir -p "$RESULTS"
	SUMMARY=$RESULTS/summary.tsv
	: >"$SUMMARY"
	: >"$RESULTS/targets.md"
	{
		echo "# $BENCH_NAME $(date -Iseconds)"
		echo "# kernel $(uname -r), $(nproc) cores, $(fio --version)"
		echo "# BENCH_RUNTIME=$BENCH_RUNTIME BENCH_ROUNDS=$BENCH_ROUNDS"
		echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	} >"$RESULTS/info.txt"
	bench_note "results: $RESULTS"
}

bench_note() { echo "# $*" >&2; }
bench_die() { echo "bench: $*" >&2; exit 1; }
# Exit 77: the feature measured by this script is not there yet.
bench_skip() { echo "SKIPPED ($BENCH_NAME): $*"; [ -n "${RESULTS:-}" ] && echo "SKIPPED: $*" >"$RESULTS/skipped.txt"; exit 77; }

# ---- cleanup registry ------------------------------------------------------

BENCH_CLEANUP=()
bench_on_exit() { BENCH_CLEANUP+=("$*"); }

_bench_cleanup() {
	local rc=$? i
	set +e
	trap - EXIT INT TERM
	for ((i = ${#BENCH_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${BENCH_CLEANUP[$i]}" </dev/null
	done
	exit "$rc"
}
trap _bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bench_kill PID: TERM, wait up to 5 s, then KILL.  Only the PID we started.
bench_kill() {
	local pid=$1 _
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# bench_bg NAME COMMAND...: start in the background (log in $WORK/NAME.log),
# killed at exit.  Sets BG_PID.
bench_bg() {
	local name=$1; shift
	"$@" >>"$WORK/$name.log" 2>&1 </dev/null &
	BG_PID=$!
	bench_on_exit "bench_kill $BG_PID"
}

# bench_wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
bench_wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# The backing file the kernel reports for a loop device.
bench_loop_backing() { cat "/sys/block/${1##*/}/loop/backing_file" 2>/dev/null || true; }

# Which file backs a loop device, as "INODE MAJ:MIN" of the backing file: unique
# while that file lives (names are not: every imdisk RAM disk, ours or anyone's,
# is backed by "/memfd:imdisk-memory (deleted)").  Empty when DEV is not bound.
bench_loop_id() { losetup -n -O BACK-INO,BACK-MAJ:MIN "$1" 2>/dev/null | xargs || true; }

# Detach DEV only while it is still backed by the file whose bench_loop_id was
# ID (never a device someone else has taken since).
bench_detach_loop() {
	local dev=$1 id=$2 now
	[ -n "$dev" ] && [ -n "$id" ] || return 0
	now=$(bench_loop_id "$dev")
	if [ "$now" = "$id" ]; then
		losetup -d "$dev" 2>/dev/null || { sleep 0.2; losetup -d "$dev"; }
	fi
	return 0
}

# bench_losetup FILE: kernel loop with direct I/O on FILE, any free device.
# Sets LOOP_DEV; detached at exit.
bench_losetup() {
	local file=$1
	LOOP_DEV=$(losetup --direct-io=on -f --show "$file")
	bench_on_exit "bench_detach_loop '$LOOP_DEV' '$(bench_loop_id "$LOOP_DEV")'"
}

# bench_unmount DIR: unmount if mounted (FUSE or block), lazily as a last resort.
bench_unmount() {
	local dir=$1 _
	for _ in 1 2 3 4 5; do
		mountpoint -q "$dir" 2>/dev/null || return 0
		umount "$dir" 2>/dev/null || fusermount3 -u "$dir" 2>/dev/null || sleep 0.2
	done
	mountpoint -q "$dir" 2>/dev/null && umount -l "$dir"
	return 0
}

# ---- targets ---------------------------------------------------------------

# bench_tmpfs_file NAME: a 1 GiB tmpfs file (the anchors' /dev/shm/F).  Echoes its path.
bench_tmpfs_file() {
	local f=$WORK/$1
	truncate -s "$BENCH_SIZE" "$f"
	echo "$f"
}

# bench_fill TARGET: write 1 GiB of random data (fresh random buffers for
# every block) so that no target reads holes or zero pages.
bench_fill() {
	fio --name=fill --filename="$1" --ioengine=io_uring --direct=1 --size="$BENCH_SIZE" \
		--rw=write --bs=1M --iodepth=8 --numjobs=1 --refill_buffers \
		--output-format=json --output="$WORK/fill.json" >/dev/null
}

# bench_describe LABEL TEXT: how a target was made, listed under the tables.
bench_describe() { printf -- '- **%s**: %s\n' "$1" "$2" >>"$RESULTS/targets.md"; }

# ---- the private imdisk daemon ----------------------------------------------

# bench_imdiskd_start: a private imdiskd on a socket in $WORK; IMDISK_SOCKET exported.
# At exit every disk it still has is removed before it is stopped (its disks
# outlive it otherwise), and any disk left in its state folder is detached.
bench_imdiskd_start() {
	[ -x "$IMDISKD" ] || bench_die "$IMDISKD missing (make build)"
	export IMDISK_SOCKET=$WORK/control
	# BENCH_IMDISKD_ARGS: extra imdiskd options for a run (e.g. --fuse-workers 4).
	# shellcheck disable=SC2086
	"$IMDISKD" --socket "$IMDISK_SOCKET" --foreground ${BENCH_IMDISKD_ARGS:-} >>"$WORK/imdiskd.log" 2>&1 </dev/null &
	IMDISKD_PID=$!
	bench_on_exit "_bench_imdiskd_stop"
	bench_wait_for 10 test -S "$IMDISK_SOCKET" || {
		cat "$WORK/imdiskd.log" >&2
		bench_die "imdiskd did not create $IMDISK_SOCKET"
	}
}

_bench_imdiskd_stop() {
	local u f dev
	if kill -0 "$IMDISKD_PID" 2>/dev/null; then
		for u in $("$IMDISK" -l -n 2>/dev/null); do
			"$IMDISK" -D -u "$u" >/dev/null 2>&1 || "$IMDISK" -R -u "$u" >/dev/null 2>&1
		done
	fi
	bench_kill "$IMDISKD_PID"
	# A disk still described in the private state folder: detach it by its device,
	# only if the loop device still has the backing file recorded for it.
	for f in "$WORK"/state/unit-*; do
		[ -f "$f" ] || continue
		dev=$(sed -n 's/^device=//p' "$f")
		[ -n "$dev" ] || continue
		grep "^$dev " "$WORK/imdisk-devices" 2>/dev/null | while read -r _ id; do
			bench_detach_loop "$dev" "$id"
		done
	done
	if [ -s "$WORK/imdiskd.log" ] && [ -n "${RESULTS:-}" ]; then cp "$WORK/imdiskd.log" "$RESULTS/"; fi
	return 0
}

# The /dev/loopN of a unit ("device" in imdisk -l -u N --json).
bench_unit_device() {
	"$IMDISK" -l -u "$1" --json | python3 -c '
import json, sys
def find(o):
    if isinstance(o, dict):
        if isinstance(o.get("device"), str): return o["device"]
        for v in o.values():
            r = find(v)
            if r: return r
    if isinstance(o, list):
        for v in o:
            r = find(v)
            if r: return r
print(find(json.load(sys.stdin)) or "")'
}

# bench_imdisk_attach ARGS...: imdisk -a ARGS; sets UNIT, DISK_DEV and ATTACH_MS (the
# time of imdisk -a alone); the disk
# is removed at exit (by unit, then by device if imdisk could not).
bench_imdisk_attach() {
	local before after u id
	before=" $("$IMDISK" -l -n 2>/dev/null | tr '\n' ' ') "
	local t0=$EPOCHREALTIME
	"$IMDISK" -a "$@" >>"$WORK/imdisk.log" 2>&1 || return $?
	ATTACH_MS=$(python3 -c "import sys; print(f'{(float(sys.argv[2]) - float(sys.argv[1])) * 1000:.0f}')" "$t0" "$EPOCHREALTIME")
	after=$("$IMDISK" -l -n 2>/dev/null)
	UNIT=
	for u in $after; do [[ "$before" == *" $u "* ]] || UNIT=$u; done
	[ -n "$UNIT" ] || { echo "bench: imdisk -a $* made no new unit" >&2; return 1; }
	DISK_DEV=$(bench_unit_device "$UNIT")
	[ -b "$DISK_DEV" ] || { echo "bench: unit $UNIT has no block device ($DISK_DEV)" >&2; return 1; }
	id=$(bench_loop_id "$DISK_DEV")
	echo "$DISK_DEV $id" >>"$WORK/imdisk-devices"
	bench_on_exit "_bench_imdisk_remove '$UNIT' '$DISK_DEV' '$id'"
}

# Remove a disk of ours by unit; if imdiskd could not, detach its loop device
# (only while it is still backed by the same file: see bench_loop_id).
_bench_imdisk_remove() {
	local unit=$1 dev=$2 id=$3
	if [ "$(bench_loop_id "$dev")" != "$id" ]; then
		return 0 # already gone (and maybe someone else's device now)
	fi
	"$IMDISK" -D -u "$unit" >/dev/null 2>&1 || "$IMDISK" -R -u "$unit" >/dev/null 2>&1
	bench_detach_loop "$dev" "$id"
}

# ---- fio ---------------------------------------------------------------------

# The fio switches of one job (after the common ones).
bench_job_args() {
	case $1 in
	seqwrite-1m-qd8) echo "--rw=write --bs=1M --iodepth=8" ;;
	seqread-1m-qd8) echo "--rw=read --bs=1M --iodepth=8" ;;
	randwrite-4k-qd32) echo "--rw=randwrite --bs=4k --iodepth=32" ;;
	randread-4k-qd32) echo "--rw=randread --bs=4k --iodepth=32" ;;
	randread-4k-qd1) echo "--rw=randread --bs=4k --iodepth=1" ;;
	*) bench_die "unknown job $1" ;;
	esac
}

bench_fio_common() {
	echo "--ioengine=io_uring --direct=1 --size=$BENCH_SIZE --time_based --runtime=$BENCH_RUNTIME --numjobs=1"
}

# bench_fio LABEL TARGET JOB ROUND: one fio run; raw JSON kept; one summary row.
bench_fio() {
	local label=$1 target=$2 job=$3 round=$4 json
	json=$RESULTS/$label.$job.r$round.json
	# shellcheck disable=SC2046
	fio --name="$job" --filename="$target" $(bench_fio_common) $(bench_job_args "$job") \
		--output-format=json --output="$json" >/dev/null
	python3 - "$json" "$label" "$job" "$round" >>"$SUMMARY" <<'EOF'
import json, sys
path, label, job, rnd = sys.argv[1:5]
with open(path) as f:
    text = f.read()
# fio may print notes before the JSON object.
d = json.loads(text[text.index("{"):])
j = d["jobs"][0]
side = j["write"] if "write" in job else j["read"]
if j.get("error", 0):
    sys.exit(f"fio error {j['error']} on {label} {job}")
print(f"{label}\t{job}\t{rnd}\t{side['iops']:.1f}\t{side['bw_bytes'] / 1048576:.1f}\t{path}")
EOF
	printf '# %-12s %-18s r%s %s\n' "$label" "$job" "$round" "$(tail -n 1 "$SUMMARY" | cut -f4,5 | awk '{printf "%.0f IOPS  %.0f MiB/s", $1, $2}')" >&2
}

# bench_matrix LABEL=TARGET...: every job on every target, BENCH_ROUNDS times,
# jobs interleaved across targets (target order rotated each round) so that
# the machine's drift hits all targets alike.
bench_matrix() {
	local -a targets=("$@")
	local n=${#targets[@]} round job i k spec
	echo "fio $(bench_fio_common) --output-format=json --name=JOB --filename=TARGET + per job: $(for job in $BENCH_JOBS; do printf '%s: %s; ' "$job" "$(bench_job_args "$job")"; done)" >"$RESULTS/fio-command.txt"
	for ((round = 1; round <= BENCH_ROUNDS; round++)); do
		for job in $BENCH_JOBS; do
			for ((k = 0; k < n; k++)); do
				i=$(((k + round - 1) % n))
				spec=${targets[$i]}
				bench_fio "${spec%%=*}" "${spec#*=}" "$job" "$round"
			done
		done
	done
}

# bench_table TITLE [--anchor L]... [--show L]... [--ours L]... [--goal JOB=RATIO]... [--goal '*=RATIO']
# (--show: a column shown for reference, not compared with)
# Prints a markdown table to stdout and appends it to $RESULTS/tables.md: each
# target's median over the rounds (min–max), and the ratio ours / the better of
# the anchors taken round by round (each round's runs are adjacent in time, so
# the pairs share the machine's load), median of those ratios (min–max).
bench_table() {
	python3 - "$SUMMARY" "$BENCH_JOBS" "$@" <<'EOF' | tee -a "$RESULTS/tables.md"
import statistics, sys
summary, jobs, title, *args = sys.argv[1:]
jobs = jobs.split()
anchors, ours, goals, shown = [], [], {}, []
it = iter(args)
for a in it:
    v = next(it)
    if a == "--anchor": anchors.append(v)
    elif a == "--show": shown.append(v)
    elif a == "--ours": ours.append(v)
    elif a == "--goal":
        k, r = v.split("="); goals[k] = float(r)
    else: sys.exit(f"bench_table: unknown {a}")
rows, by_round = {}, {}
for line in open(summary):
    label, job, rnd, iops, mibs, _ = line.rstrip("\n").split("\t")
    rows.setdefault((label, job), []).append((float(iops), float(mibs)))
    by_round[(label, job, rnd)] = (float(iops), float(mibs))
rounds = sorted({k[2] for k in by_round}, key=int)

def paired(o, job):
    """Ratios ours / better anchor, round by round (the runs adjacent in time)."""
    out = []
    for r in rounds:
        mine = by_round.get((o, job, r))
        refs = [by_round[(a, job, r)][metric(job)] for a in anchors if (a, job, r) in by_round]
        if mine and refs and max(refs) > 0:
            out.append(mine[metric(job)] / max(refs))
    return out

def metric(job):  # 1M jobs in MiB/s, 4k jobs in IOPS
    return 1 if "-1m-" in job else 0

def med(label, job):
    v = [r[metric(job)] for r in rows.get((label, job), [])]
    return (statistics.median(v), min(v), max(v)) if v else None

def fmt(job, m):
    if m is None: return "–"
    def one(x): return f"{x:,.0f}" if metric(job) else f"{x / 1000:.1f}k"
    s = one(m[0]) + (" MiB/s" if metric(job) else " IOPS")
    if m[1] != m[2]: s += f" ({one(m[1])}–{one(m[2])})"
    return s

def goal(job):
    return goals.get(job, goals.get("*"))

best = " / better of " if len(anchors) > 1 else " / "
head = ["job"] + anchors + [s + " (for reference)" for s in shown]
for o in ours: head += [o, o + best + ", ".join(anchors)]
out = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
met = missed = 0
for job in jobs:
    cells = [job] + [fmt(job, med(a, job)) for a in anchors + shown]
    for o in ours:
        m = med(o, job)
        cells.append(fmt(job, m))
        ratios = paired(o, job)
        if not ratios:
            cells.append("–"); continue
        ratio = statistics.median(ratios)
        g = goal(job)
        mark = ""
        if g is not None:
            ok = ratio >= g
            met += ok; missed += not ok
            mark = f" {'✓' if ok else '✗'} (goal ≥ {g:g})"
        spread = f" ({min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1 else ""
        cells.append(f"**{ratio:.2f}×**{spread}{mark}")
    out.append("| " + " | ".join(cells) + " |")
out.append("")
if met + missed:
    out.append(f"Goal met on {met} of {met + missed} job(s).")
    out.append("")
print("\n".join(out))
EOF
}

# bench_footer: how each target was made, the fio command, the raw results.
bench_footer() {
	{
		echo "Targets:"
		cat "$RESULTS/targets.md"
		echo
		echo "fio: \`$(cat "$RESULTS/fio-command.txt")\`"
		echo "Median of $BENCH_ROUNDS round(s) of ${BENCH_RUNTIME}s per job, min–max in brackets; ratios are taken round by round (ours / the better anchor of the same round), median (min–max). Raw JSON: $RESULTS"
		echo
	} | tee -a "$RESULTS/tables.md"
}
