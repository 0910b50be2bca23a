#!/usr/bin/env bash
# `make fuzz-long`: every libFuzzer harness (one per fuzz/fuzz-*.c) for
# FUZZ_SECONDS each, one after another; what each run finds that adds coverage is
# merged into fuzz/corpus/<harness> (kept small: see docs/fuzzing.md), and a
# table says per harness: executions, coverage (cov/ft), crashes.
#
#   fuzz/fuzz-long.sh [BUILD-FUZZ [HARNESS...]]
#
# BUILD-FUZZ is a build with -Dfuzz=true (clang; `make fuzz` makes build-fuzz).
# Environment: FUZZ_SECONDS (600), FUZZ_CORPUS_MAX_FILES (128) and
# FUZZ_CORPUS_MAX_BYTES (524288) per harness, FUZZ_MERGE (1; 0: leave the corpus).
# Exit status: 0 when no harness crashed, 1 otherwise.
set -u
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
shift || true
seconds=${FUZZ_SECONDS:-600}
max_files=${FUZZ_CORPUS_MAX_FILES:-128}
max_bytes=${FUZZ_CORPUS_MAX_BYTES:-524288}
merge=${FUZZ_MERGE:-1}
scratch=$build/fuzz-long
# UB is a finding too: stop at the first report, as at a crash.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The longest input worth trying, per harness: the largest structure it parses
# (with room to spare).  A harness not listed gets 4096, or its largest seed.
max_len_of() {
	case $1 in
	fuzz-control) echo 65552 ;;        # a whole control message: header + 64 KiB
	fuzz-geometry) echo 1024 ;;        # 16-byte header, boot sector, a name
	fuzz-imdproxy-request) echo 4096 ;; # a stream of request headers and payloads
	fuzz-imdproxy-reply) echo 4096 ;;  # a stream of replies
	fuzz-partition) echo 65536 ;;      # MBR chains and a GPT with 128 entries
	fuzz-vhd) echo 65536 ;;            # footer, header, BAT and a few blocks
	*)
		local largest
		largest=$(find "fuzz/corpus/$1" -type f -printf '%s\n' 2>/dev/null | sort -n | tail -n 1)
		[ -n "$largest" ] && [ "$largest" -gt 4096 ] && echo "$largest" || echo 4096 ;;
	esac
}

corpus_files() { find "$1" -maxdepth 1 -type f | wc -l; }
corpus_bytes() { find "$1" -maxdepth 1 -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

# merge HARNESS BIN: add to fuzz/corpus/HARNESS the inputs of this run that
# bring new coverage (libFuzzer -merge=1 picks them, smallest first), within the
# caps; the seeds already there stay.
merge_corpus() {
	local name=$1 bin=$2 corpus=fuzz/corpus/$1 merged=$scratch/$1/merged
	rm -rf "$merged"
	mkdir -p "$merged" "$corpus"
	cp -p "$corpus"/* "$merged"/ 2>/dev/null
	"$bin" -merge=1 -max_len="$(max_len_of "$name")" "$merged" "$scratch/$name/new" \
		>"$scratch/$name/merge.log" 2>&1 || { echo "merge of $name failed: see $scratch/$name/merge.log" >&2; return 1; }
	local files bytes f size
	files=$(corpus_files "$corpus")
	bytes=$(corpus_bytes "$corpus")
	# New files, smallest first, while the caps allow.
	while read -r size f; do
		[ -e "$corpus/$(basename "$f")" ] && continue
		[ "$files" -lt "$max_files" ] && [ $((bytes + size)) -le "$max_bytes" ] || break
		cp "$f" "$corpus/"
		files=$((files + 1)) bytes=$((bytes + size))
	done < <(find "$merged" -maxdepth 1 -type f -printf '%s %p\n' | sort -n)
}

harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
	for src in fuzz/fuzz-*.c; do harnesses+=("$(basename "$src" .c)"); done
fi
rows=()
crashed=0
for name in "${harnesses[@]}"; do
	bin=$build/fuzz/$name
	if [ ! -x "$bin" ]; then
		echo "fuzz-long: $bin is missing: is fuzz/$name.c registered in fuzz/meson.build?" >&2
		rows+=("$(printf '| %-22s | %12s | %6s | %-11s | %-12s | %s |' "$name" - - - - "not built")")
		crashed=1
		continue
	fi
	dir=$scratch/$name
	rm -rf "$dir"
	mkdir -p "$dir/new" "$dir/artifacts"
	before=$(corpus_files "fuzz/corpus/$name" 2>/dev/null || echo 0)
	echo "== $name: ${seconds} s, -max_len=$(max_len_of "$name")"
	# New inputs go to the scratch folder (the first one named); the corpus is
	# only read.  -timeout: an input slower than 10 s is a finding (a hang).
	"$bin" -max_total_time="$seconds" -max_len="$(max_len_of "$name")" -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
		"$dir/new" "fuzz/corpus/$name" >"$dir/fuzz.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$dir/fuzz.log" | tail -n 1 | awk '{ print $2 "/" $4 }')
	crashes=$(find "$dir/artifacts" -type f | wc -l)
	[ "$rc" = 0 ] || [ "$crashes" -gt 0 ] || crashes="exit $rc"
	if [ "$crashes" != 0 ]; then
		crashed=1
		echo "   found: $(ls "$dir/artifacts") (log: $dir/fuzz.log)"
	fi
	if [ "$merge" = 1 ] && [ "$crashes" = 0 ]; then merge_corpus "$name" "$bin"; fi
	after=$(corpus_files "fuzz/corpus/$name")
	rows+=("$(printf '| %-22s | %12s | %6s | %-11s | %4s -> %-4s | %s |' "$name" "${execs:-?}" "${seconds}s" \
		"${cov:-?}" "$before" "$after" "$crashes")")
	echo "${rows[-1]}"
done

echo
echo "| harness                |   executions |   time | cov/ft      | corpus files | crashes |"
echo "|------------------------|--------------|--------|-------------|--------------|---------|"
printf '%s\n' "${rows[@]}"
exit $crashed
