#!/usr/bin/env bash
# Every man page renders without a single groff/man warning, and each program's
# --help names every long option its man page documents (the two do not drift).
. "$(dirname "$0")/functions.sh"
command -v man >/dev/null || skip "needs man (man-db)"

pages=$(ls man/*.[0-9])
[ -n "$pages" ] || fail "no man pages found under man/"
for page in $pages; do
	warnings=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
	[ -z "$warnings" ] || fail "$page renders with warnings: $warnings"
done

# The long options a page lists (the tag line after each .TP) must be known to --help.
for program in imdisk imdiskd devio; do
	help=$("$BUILD/$program" --help 2>&1) || true
	for option in $(awk 'tag { print; tag = 0 } /^\.TP/ { tag = 1 }' "man/$program.8" |
		sed 's/\\-/-/g' | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
		grep -q -- "$option" <<<"$help" || fail "man/$program.8 documents $option, but $program --help does not know it"
	done
done
