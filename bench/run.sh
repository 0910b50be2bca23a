#!/usr/bin/env bash
# `make bench`: every side-by-side benchmark, one after the other (never in
# parallel: they would measure each other).  Raw fio JSON and the tables go to
# bench/results/<script>-<time>/ (git-ignored); a script whose feature is not
# there yet says so and is skipped.
#
# Usage: bench/run.sh [BUILD] [SCRIPT...]     e.g. bench/run.sh build loop-fast-path
#        BENCH_RUNTIME=1 BENCH_ROUNDS=1 bench/run.sh build     (a quick smoke run)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd) || exit 1
shift || true
scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(loop-fast-path fuse-transport proxy)

export BENCH_RESULTS=${BENCH_RESULTS:-$here/results}
mkdir -p "$BENCH_RESULTS"
status=0
declare -A outcome
for s in "${scripts[@]}"; do
	echo "=== bench/$s.sh $build"
	"$here/${s%.sh}.sh" "$build"
	rc=$?
	case $rc in
	0) outcome[$s]="done" ;;
	77) outcome[$s]=skipped ;;
	*) outcome[$s]="failed (exit $rc)"; status=1 ;;
	esac
	echo
done
echo "=== summary"
for s in "${scripts[@]}"; do printf '  %-16s %s\n' "$s" "${outcome[$s]}"; done
echo "  results under $BENCH_RESULTS"
exit $status
