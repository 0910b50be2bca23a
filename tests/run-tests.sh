#!/usr/bin/env bash
# Run the suite against one or more build folders with `meson test` (every test
# is one: docs/testing.md), two at a time, then count the results of all of
# them.  The last line is the total, which CI looks for:
#   N passed, N failed, N skipped
#
#   tests/run-tests.sh [--unit-only] [--suite NAME]... [BUILD...]   (BUILD: build)
#
# --unit-only runs the suites unit and fuzz (no root needed); --suite picks
# suites (unit, fuzz, behaviour); the default is all of them.  Exit status 0 when
# nothing failed.  TEST_PROCESSES (2) sets how many tests run at once.
set -u
cd "$(dirname "$0")/.."
suites=()
while [ $# -gt 0 ]; do
	case $1 in
	--unit-only) suites+=(unit fuzz); shift ;;
	--suite) [ $# -ge 2 ] || { echo "run-tests.sh: --suite needs a name" >&2; exit 2; }
		suites+=("$2"); shift 2 ;;
	--suite=*) suites+=("${1#--suite=}"); shift ;;
	-*) echo "usage: tests/run-tests.sh [--unit-only] [--suite NAME]... [BUILD...]" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || set -- build
suite_args=()
for s in "${suites[@]}"; do suite_args+=(--suite "$s"); done

# The behaviour tests are listed when a build is configured (tests/meson.build):
# a test added or removed since needs a reconfigure.
behaviour_list_is_current() { # BUILD
	local known
	known=$(meson introspect --tests "$1" 2>/dev/null | python3 -c '
import json, sys
print("\n".join(sorted(t["name"] for t in json.load(sys.stdin) if t["name"].endswith(".sh"))))') || return 1
	[ "$known" = "$(cd tests && printf '%s\n' test-*.sh | sort)" ]
}

# count BUILD: "passed failed skipped" of the last meson test run in BUILD.
count() {
	python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    result = json.loads(line)["result"]
    if result in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif result == "SKIP":
        skipped += 1
    else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS
        failed += 1
print(passed, failed, skipped)
PY
}

passed=0 failed=0 skipped=0
broken=()
for build in "$@"; do
	echo "== suite on $build${suites[*]:+ (${suites[*]})}"
	if [ ! -f "$build/build.ninja" ]; then
		echo "run-tests.sh: $build is not a configured build folder" >&2
		failed=$((failed + 1)) broken+=("$build"); continue
	fi
	if ! behaviour_list_is_current "$build"; then
		echo "tests/test-*.sh changed since $build was configured: reconfiguring"
		meson setup --reconfigure "$build" >/dev/null || { failed=$((failed + 1)) broken+=("$build"); continue; }
	fi
	rm -f "$build/meson-logs/testlog.json"
	start=$SECONDS
	meson test -C "$build" --num-processes "${TEST_PROCESSES:-2}" --print-errorlogs "${suite_args[@]}"
	if [ ! -s "$build/meson-logs/testlog.json" ]; then
		echo "run-tests.sh: meson test ran nothing in $build" >&2
		failed=$((failed + 1)) broken+=("$build"); continue
	fi
	read -r p f s < <(count "$build")
	echo "== $build: $p passed, $f failed, $s skipped in $((SECONDS - start)) s"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
[ ${#broken[@]} -eq 0 ] || echo "could not run: ${broken[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
