#!/usr/bin/env bash
# libimdisk.so.0 exports exactly the functions lib/imdisk.h declares, under the
# version node LIBIMDISK_0; the core helpers linked into it (control codec, fd
# I/O, descriptor passing) stay private.
. "$(dirname "$0")/functions.sh"
command -v nm >/dev/null || skip "needs nm (binutils)"

library=$BUILD/libimdisk.so.0
[ -e "$library" ] || fail "$library was not built"
exported=$(nm -D --defined-only "$library" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort)
declared=$(grep -oE '^[a-z].*\bimdisk_[a-z_]+\(' lib/imdisk.h | grep -oE 'imdisk_[a-z_]+\($' | tr -d '(' | sort -u)
[ -n "$declared" ] || fail "no functions found in lib/imdisk.h"
expect_eq "$declared" "$exported" "exported functions of libimdisk.so.0"
nm -D --defined-only "$library" | grep -q ' imdisk_connect@@LIBIMDISK_0$' ||
	fail "imdisk_connect is not under the version node LIBIMDISK_0"
