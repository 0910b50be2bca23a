# Helpers for tests/test-devio-*.sh (sourced after functions.sh): start devio in
# the background on a free port, talk to it with tests/tools/imdproxy-probe.
PROBE=$BUILD/tests/tools/imdproxy-probe
[ -x "$PROBE" ] || fail "$PROBE is not built"
[ -x "$DEVIO" ] || fail "$DEVIO is not built"
DEVIO_LOG=$TEST_DIR/devio.log
DEVIO_PID=
DEVIO_PORT=

# Show devio's messages when the test fails (rc is _cleanup's).
on_cleanup 'if [ "${rc:-0}" != 0 ] && [ "${rc:-0}" != 77 ] && [ -s "$DEVIO_LOG" ]; then echo "--- devio.log" >&2; tail -n 30 "$DEVIO_LOG" >&2; fi'

probe() { "$PROBE" --timeout 20 "$@"; }

# start_devio ARGS...: devio in the background; DEVIO_PID is its PID.
start_devio() {
	"$DEVIO" "$@" 2>>"$DEVIO_LOG" &
	DEVIO_PID=$!
	on_cleanup "kill -KILL $DEVIO_PID 2>/dev/null; wait $DEVIO_PID 2>/dev/null"
}

# start_devio_tcp ARGS...: devio on a free loopback port (DEVIO_PORT), ARGS after
# the port (the disk and the rest).
start_devio_tcp() {
	local port_file
	port_file=$(mktemp "$TEST_DIR/port.XXXXXX")
	rm -f "$port_file"
	start_devio --port-file "$port_file" 0 "$@"
	wait_for_path "$port_file"
	DEVIO_PORT=$(cat "$port_file")
}

# wait_for_path PATH: until PATH exists (devio still running), at most 10 s.
wait_for_path() {
	for _ in $(seq 200); do
		[ -e "$1" ] && return 0
		kill -0 "$DEVIO_PID" 2>/dev/null || { cat "$DEVIO_LOG" >&2; fail "devio exited at start"; }
		sleep 0.05
	done
	fail "devio did not create $1"
}

# stop_devio [SIGNAL]: stop devio and return its exit status.
stop_devio() {
	local rc=0
	kill "-${1:-TERM}" "$DEVIO_PID" 2>/dev/null || true
	wait "$DEVIO_PID" 2>/dev/null || rc=$?
	DEVIO_PID=
	return $rc
}

# expect_output EXPECTED command...: the command's stdout must be exactly EXPECTED.
expect_output() {
	local want=$1 got; shift
	got=$("$@") || fail "failed ($?): $* -> $got"
	[ "$got" = "$want" ] || fail "$*: expected
$want
got
$got"
}

devio_alive() { kill -0 "$DEVIO_PID" 2>/dev/null || fail "devio died: $(tail -n 5 "$DEVIO_LOG")"; }
