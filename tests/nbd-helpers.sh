# Helpers for tests/test-nbd-*.sh (sourced after functions.sh): an nbdkit of the
# test's own, on a unix socket or a free loopback port, stopped by its PID.
requires nbdkit nbdcopy
NBDKIT_LOG=$TEST_DIR/nbdkit.log
NBDKIT_PID=
NBDKIT_PORT=

on_cleanup 'if [ "${rc:-0}" != 0 ] && [ "${rc:-0}" != 77 ] && [ -s "$NBDKIT_LOG" ]; then echo "--- nbdkit.log" >&2; tail -n 30 "$NBDKIT_LOG" >&2; fi'

# start_nbdkit_unix SOCKET PLUGIN ARGS...: nbdkit in the foreground of a
# background job (so $! is nbdkit itself), until SOCKET answers.
start_nbdkit_unix() {
	local sock=$1; shift
	nbdkit --foreground --exit-with-parent --unix "$sock" "$@" 2>>"$NBDKIT_LOG" &
	NBDKIT_PID=$!
	on_cleanup "kill -KILL $NBDKIT_PID 2>/dev/null; wait $NBDKIT_PID 2>/dev/null"
	for _ in $(seq 200); do
		[ -S "$sock" ] && return 0
		kill -0 "$NBDKIT_PID" 2>/dev/null || { cat "$NBDKIT_LOG" >&2; fail "nbdkit exited at start"; }
		sleep 0.05
	done
	fail "nbdkit did not create $sock"
}

# free_tcp_port: a loopback port nobody listens on now.
free_tcp_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_nbdkit_tcp PLUGIN ARGS...: nbdkit on a free loopback port (NBDKIT_PORT).
# A port taken by someone else between the choice and the bind: another one.
start_nbdkit_tcp() {
	for _ in 1 2 3 4 5; do
		NBDKIT_PORT=$(free_tcp_port)
		nbdkit --foreground --exit-with-parent --ipaddr 127.0.0.1 --port "$NBDKIT_PORT" "$@" 2>>"$NBDKIT_LOG" &
		NBDKIT_PID=$!
		on_cleanup "kill -KILL $NBDKIT_PID 2>/dev/null; wait $NBDKIT_PID 2>/dev/null"
		for _ in $(seq 200); do
			if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
				"$NBDKIT_PORT" 2>/dev/null; then
				return 0
			fi
			kill -0 "$NBDKIT_PID" 2>/dev/null || break
			sleep 0.05
		done
	done
	cat "$NBDKIT_LOG" >&2
	fail "nbdkit did not listen on a free port"
}

# server_bytes URI OFFSET LEN: the server's bytes, read by libnbd's nbdcopy
# (past imdisk entirely).
server_bytes() {
	nbdcopy -- "$1" - | tail -c +$(($2 + 1)) | head -c "$3"
}
