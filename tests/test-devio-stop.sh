#!/usr/bin/env bash
# SIGTERM and SIGINT stop devio cleanly (exit 0) even with clients connected and
# idle; writes acknowledged before are in the image, with --cache=writeback too.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

new_image sparse 1M
random_file "$TEST_DIR/w" 65536

for signal in TERM INT; do
	for cache in writethrough writeback; do
		start_devio_tcp --cache=$cache "$img"
		probe $DEVIO_AT write 0 "$TEST_DIR/w" >/dev/null
		# A client that stays connected, idle, must not hold the stop up.
		probe $DEVIO_AT info sleep 10000 >/dev/null 2>&1 &
		idle=$!
		sleep 0.3
		start=$SECONDS
		stop_devio $signal || fail "SIG$signal ($cache): exit $?"
		[ $((SECONDS - start)) -le 3 ] || fail "SIG$signal ($cache) took $((SECONDS - start)) s"
		kill $idle 2>/dev/null; wait $idle 2>/dev/null || true
		cmp <(head -c 65536 "$img") "$TEST_DIR/w" || fail "data lost ($cache)"
		new_image sparse 1M
	done
done
grep -q "stopping (Interrupt)" "$DEVIO_LOG" || fail "no message for SIGINT"
