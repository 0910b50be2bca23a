#!/usr/bin/env bash
# devio --idle-timeout SECS closes a connection on which no whole request arrives
# for SECS seconds (a silent one, and one that stops in the middle of a header),
# while a client that keeps asking is served throughout.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires python3

sock=$TEST_DIR/devio.sock
start_devio_unix "$sock" --idle-timeout 1 memory:1M
devio_python "$sock" <<'PY' || fail "idle timeout"
def closed_within(s, limit):
    s.settimeout(limit)
    start = time.monotonic()
    try:
        got = s.recv(1)
    except socket.timeout:
        raise SystemExit("still open after %.1f s" % limit)
    if got:
        raise SystemExit("unexpected bytes from devio")
    return time.monotonic() - start
silent, partial, busy = connect(), connect(), connect()
partial.sendall(struct.pack('<Q', 2)[:5])  # half a request code
# The busy client asks for INFO (code 1) every 0.3 s for 2.4 s and is answered.
busy.settimeout(5)
for _ in range(8):
    size = info(busy)
    if size is None:
        raise SystemExit("the busy client was closed")
    if size != 1 << 20:
        raise SystemExit("bad INFO size %d" % size)
    time.sleep(0.3)
# By now (2.4 s) the idle ones are closed (1 s, checked every 0.1 s).
closed_within(silent, 1.0)
closed_within(partial, 1.0)
PY
grep -q "no request for 1 s: closing" "$DEVIO_LOG" || fail "devio did not log the idle close"
stop_devio || fail "devio did not end cleanly"

# 0: no timeout.
start_devio_unix "$sock" --idle-timeout 0 memory:1M
devio_python "$sock" <<'PY' || fail "--idle-timeout 0 closed a connection"
s = connect(5)
time.sleep(1.5)
if info(s) != 1 << 20:
    raise SystemExit("closed")
PY
stop_devio || fail "devio did not end cleanly"
expect_error "bad idle timeout 'x' \(seconds, 0: none\)" 2 "$DEVIO" --idle-timeout x --unix "$sock" memory:1M
echo "ok"
