#!/usr/bin/env bash
# Request headers cannot make devio commit memory without bound: a READ/WRITE
# longer than the buffer size drops its connection, and the request buffers of
# all connections together stay within --max-buffer-memory (connections past it
# are dropped), so devio's RSS stays bounded; once they are gone a good client is
# served correctly.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires python3

sock=$TEST_DIR/devio.sock
start_devio_unix "$sock" --buffer-size 32M --max-buffer-memory 64M memory:8M
devio_python "$sock" "$DEVIO_PID" <<'PY' || fail "request memory"
MiB = 1 << 20
def rss():
    for line in open('/proc/%s/status' % sys.argv[2]):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) * 1024
def dropped(s):
    try:
        return s.recv(1) == b''
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
# 4 GiB claims: past the per-request limit, dropped without an allocation.
for _ in range(8):
    s = connect(10)
    s.sendall(struct.pack('<QQQ', 3, 0, 4 << 30))
    if not dropped(s):
        raise SystemExit("a 4 GiB WRITE header was not dropped")
# 12 connections each claim a 32 MiB WRITE and send 24 MiB of it: without a cap
# that is 288 MiB of buffers; with it at most 64 MiB are committed.
hogs = []
chunk = os.urandom(MiB)
for _ in range(12):
    s = connect(10)
    s.sendall(struct.pack('<QQQ', 3, 0, 32 * MiB))
    s.settimeout(2)
    try:
        for _ in range(24):
            s.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    hogs.append(s)
time.sleep(0.5)
used = rss()
if used > 120 * MiB:
    raise SystemExit("devio's RSS is %d MiB" % (used // MiB))
for s in hogs:
    s.close()
time.sleep(0.3)
# A good client: a 1 MiB WRITE (code 3) then READ (code 2) round-trips.
s = connect(10)
data = os.urandom(MiB)
s.sendall(struct.pack('<QQQ', 3, MiB, MiB) + data)
errorno, length = struct.unpack('<QQ', recv_exact(s, 16))
if errorno or length != MiB:
    raise SystemExit("WRITE errorno=%d length=%d" % (errorno, length))
s.sendall(struct.pack('<QQQ', 2, MiB, MiB))
errorno, length = struct.unpack('<QQ', recv_exact(s, 16))
if errorno or length != MiB or recv_exact(s, MiB) != data:
    raise SystemExit("READ back differs")
PY
grep -q "request buffers are at their limit" "$DEVIO_LOG" || fail "no connection met the memory cap"
stop_devio || fail "devio did not end cleanly"
expect_error "below the buffer size" 2 "$DEVIO" --buffer-size 32M --max-buffer-memory 16M --unix "$sock" memory:1M
echo "ok"
