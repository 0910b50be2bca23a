#!/usr/bin/env bash
# A create that waits on the network (a proxy server that accepts and never
# answers INFO) holds no lock the others need: `imdisk -l` answers within a
# second meanwhile, and the create then fails on the proxy timeout.
source "$(dirname "$0")/functions.sh"
requires_root
requires python3 timeout
start_daemon --proxy-timeout 3

sock=$TEST_DIR/silent.sock
python3 - "$sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(8)
held = []
while True:
    c, _ = s.accept()
    held.append(c)  # accepted, and never a word
PY
server_pid=$!
on_cleanup "kill -KILL $server_pid 2>/dev/null; wait $server_pid 2>/dev/null"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

imdisk -a -t proxy -f "unix:$sock" >"$TEST_DIR/create.out" 2>&1 &
create_pid=$!
sleep 0.5
kill -0 "$create_pid" 2>/dev/null || fail "the create did not wait on the silent server: $(cat "$TEST_DIR/create.out")"
start=$(date +%s%N)
timeout 1 "$IMDISK" -l >/dev/null || fail "imdisk -l did not answer within a second during a slow create"
note "imdisk -l answered in $((($(date +%s%N) - start) / 1000000)) ms"
rc=0
wait "$create_pid" || rc=$?
[ "$rc" = 3 ] || fail "the create against a silent server: exit $rc, not 3 ($(cat "$TEST_DIR/create.out"))"
echo "ok"
