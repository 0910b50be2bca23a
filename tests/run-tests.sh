#!/usr/bin/env bash
# Run the whole suite against one or more build folders: unit tests (cmocka),
# fuzz-corpus replays, then every tests/test-*.sh.  Each test is one behaviour;
# exit 0 = pass, 77 = skipped, anything else = fail.  The last line is the total:
#   N passed, N failed, N skipped
set -u
cd "$(dirname "$0")/.."
unit_only=0
if [ "${1:-}" = "--unit-only" ]; then unit_only=1; shift; fi
[ $# -ge 1 ] || set -- build
passed=0 failed=0 skipped=0
failures=()
log_dir=$(mktemp -d /tmp/imdisk-tests.XXXXXX)

run_one() { # label, command...
	local label=$1; shift
	local log="$log_dir/$(echo "$label" | tr '/ ' '__').log"
	local start=$SECONDS rc
	timeout --kill-after=10 300 "$@" >"$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1)); printf 'PASS %-50s %3ss\n' "$label" $((SECONDS - start))
	elif [ $rc -eq 77 ]; then
		skipped=$((skipped + 1)); printf 'SKIP %-50s (%s)\n' "$label" "$(tail -n 1 "$log")"
	else
		failed=$((failed + 1)); failures+=("$label")
		printf 'FAIL %-50s rc=%s\n' "$label" $rc
		sed 's/^/    | /' "$log" | tail -n 40
	fi
}

for build in "$@"; do
	build=$(cd "$build" && pwd)
	echo "== suite on $build"
	for t in "$build"/tests/unit/test-*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		run_one "$(basename "$build")/unit/$(basename "$t")" "$t"
	done
	for r in "$build"/fuzz/*-replay; do
		[ -f "$r" ] && [ -x "$r" ] || continue
		name=$(basename "$r" -replay)
		run_one "$(basename "$build")/fuzz/$name" "$r" "fuzz/corpus/$name"
	done
	[ $unit_only -eq 1 ] && continue
	for t in tests/test-*.sh; do
		[ -f "$t" ] || continue
		run_one "$(basename "$build")/$(basename "$t")" env IMDISK_BUILD="$build" bash "$t"
	done
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
	echo "logs: $log_dir"
else
	rm -rf "$log_dir"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
