#!/usr/bin/env bash
# devio - serves one session on stdin/stdout (inetd style) and exits 0 after
# CLOSE or at the end of its input; 1 when the input ends inside a request.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

new_image random $((1 << 20))
random_file "$TEST_DIR/w" 5000
expect_output "info size=1048576 alignment=1 flags=0x6
write errorno=0 length=5000
read errorno=0 length=5000
close
exit 0" probe --exec "exec '$DEVIO' - '$img' 2>>'$DEVIO_LOG'" info write 777 "$TEST_DIR/w" \
	read 777 5000 "$TEST_DIR/r" close wait-exit
cmp "$TEST_DIR/w" "$TEST_DIR/r" || fail "data differs over stdio"

# stdin ends between requests: a normal end.  In the middle of one: an error.
printf '\1\0\0\0\0\0\0\0' | "$DEVIO" - "$img" 2>>"$DEVIO_LOG" | od -An -tu8 >"$TEST_DIR/out"
[ "$(tr -s ' \n' ' ' <"$TEST_DIR/out")" = " 1048576 1 6 " ] || fail "INFO over a pipe: $(cat "$TEST_DIR/out")"
rc=0
printf '\3\0\0\0\0\0\0\0\0\0' | "$DEVIO" - "$img" >/dev/null 2>"$TEST_DIR/err" || rc=$?
[ $rc = 1 ] || fail "input cut inside a request: exit $rc"
[ "$(wc -l <"$TEST_DIR/err")" = 1 ] || fail "not one line: $(cat "$TEST_DIR/err")"
