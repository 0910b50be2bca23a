#!/usr/bin/env bash
# devio --nbd keeps devio's limits: --idle-timeout closes a client silent in the
# handshake or between requests, --max-connections closes connections past the
# cap at once, and SIGTERM in the middle of a copy ends devio cleanly (exit 0,
# socket removed) with what it acknowledged after a FLUSH in the image.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires python3 nbdcopy nbdinfo

sock=$TEST_DIR/nbd.sock
uri="nbd+unix:///?socket=$sock"
start_devio_unix "$sock" --nbd --idle-timeout 1 --max-connections 2 memory:16M

nbd_python "$sock" <<'PY' || fail "a limit check failed"
def closed_within(s, seconds):
    start = time.monotonic()
    try:
        while s.recv(65536):
            pass
    except (ConnectionResetError, socket.timeout):
        pass
    return time.monotonic() - start <= seconds

# Silent after the greeting, and silent after GO: closed after about 1 s.
a = connect(); check(recv_exact(a, 18)[:8] == b'NBDMAGIC', "greeting")
b = connect(); recv_exact(b, 18); b.sendall(struct.pack('>I', 3))
b.sendall(b'IHAVEOPT' + struct.pack('>II', 7, 6) + struct.pack('>IH', 0, 0))
while True:
    magic, opt, typ, ln = struct.unpack('>QIII', recv_exact(b, 20)); recv_exact(b, ln)
    if typ == 1:
        break
# Two are connected: a third is closed at once, without a greeting.
c = connect()
check(recv_exact(c, 18) is None, "a third connection got a greeting")
check(closed_within(a, 5), "a client silent in the handshake was not closed")
check(closed_within(b, 5), "a client silent between requests was not closed")
PY
[ "$(devio_log_count "too many connections")" -ge 1 ] || fail "no log line for the cap"
wait_for_log "no request for 1 s" 1

# SIGTERM during a long copy: devio stops cleanly.
stop_devio || fail "devio exited with $?"
new_image sparse $((64 << 20))
start_devio_unix "$sock" --nbd "$img"
random_file "$TEST_DIR/data" $((64 << 20))
nbdcopy --flush "$TEST_DIR/data" "$uri"
cmp "$TEST_DIR/data" "$img" || fail "a flushed copy is not in the image"
# Copies one after another until devio is gone.
(while nbdcopy --connections=2 --requests=16 "$TEST_DIR/data" "$uri" 2>/dev/null; do :; done) &
copier=$!
on_cleanup "kill $copier 2>/dev/null; wait $copier 2>/dev/null"
sleep 0.3
stop_devio || fail "devio exited with $? when stopped under load"
wait "$copier" 2>/dev/null || true
[ ! -e "$sock" ] || fail "the socket was left behind"
