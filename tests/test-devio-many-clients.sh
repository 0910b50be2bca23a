#!/usr/bin/env bash
# devio serves many clients at once over TCP: each writes its own region and
# reads it back while an idle client holds a connection open; the image ends up
# with every client's data.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

clients=16
chunk=$((256 << 10))
new_image sparse $((clients * chunk))
start_devio_tcp "$img"

# An idle client first: it must not keep the others waiting.
probe $DEVIO_AT info sleep 4000 info >"$TEST_DIR/idle.out" &
idle=$!

start=$SECONDS
pids=()
for i in $(seq 0 $((clients - 1))); do
	random_file "$TEST_DIR/w$i" $chunk
	probe $DEVIO_AT info write $((i * chunk)) "$TEST_DIR/w$i" read $((i * chunk)) $chunk "$TEST_DIR/r$i" close \
		>"$TEST_DIR/out$i" 2>&1 &
	pids+=($!)
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || fail "client $i failed: $(cat "$TEST_DIR/out$i")"
	cmp "$TEST_DIR/w$i" "$TEST_DIR/r$i" || fail "client $i read back other data"
done
[ $((SECONDS - start)) -lt 4 ] || fail "the clients waited for the idle one"
wait $idle || fail "the idle client failed"
[ "$(grep -c '^info ' "$TEST_DIR/idle.out")" = 2 ] || fail "the idle client: $(cat "$TEST_DIR/idle.out")"

for i in $(seq 0 $((clients - 1))); do cat "$TEST_DIR/w$i"; done | cmp - "$img" || fail "the image lacks some client's data"
devio_alive
stop_devio || fail "devio exited with $?"
