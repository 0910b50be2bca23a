#!/usr/bin/env bash
# devio --max-connections N serves N connections at once: one more is closed at
# once (and logged), the N are still served, and once one ends a new one is.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires python3

sock=$TEST_DIR/devio.sock
start_devio_unix "$sock" --max-connections 2 memory:1M
devio_python "$sock" <<'PY' || fail "connection cap"
a, b = connect(5), connect(5)
if info(a) != 1 << 20 or info(b) != 1 << 20:
    raise SystemExit("the first two were not served")
extra = connect(5)
try:
    extra.sendall(struct.pack('<Q', 1))
except OSError:
    pass
start = time.monotonic()
try:
    got = extra.recv(24)
except ConnectionResetError:
    got = b''
if got or time.monotonic() - start > 2:
    raise SystemExit("the third connection was served or left open")
if info(a) != 1 << 20 or info(b) != 1 << 20:
    raise SystemExit("the first two lost service")
a.close()
for _ in range(50):  # devio sees a's end shortly
    c = connect(5)
    try:
        if info(c) == 1 << 20:
            break
    except OSError:
        pass
    c.close()
    time.sleep(0.1)
else:
    raise SystemExit("no new connection was served after one ended")
PY
grep -q "too many connections (2): refusing one" "$DEVIO_LOG" || fail "the refusal was not logged"
stop_devio || fail "devio did not end cleanly"
expect_error "bad connection count '0' \(1\.\.1024\)" 2 "$DEVIO" --max-connections 0 --unix "$sock" memory:1M
echo "ok"
