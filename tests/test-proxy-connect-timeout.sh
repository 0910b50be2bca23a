#!/usr/bin/env bash
# Reconnecting is bounded: a proxy server that stops accepting (its listening
# socket still there, its backlog filled, nothing accepted) makes a disk's
# reconnect give up within the proxy timeout, and the read that needed it fails
# with EIO; `imdisk -l` answers meanwhile.  Both transports: a unix socket (a
# full backlog makes connect wait for room) and TCP (a full accept queue drops
# the SYN, so connect would wait for minutes of retransmissions).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires python3 timeout
start_daemon --proxy-timeout 2

cat >"$TEST_DIR/stalling-proxy.py" <<'PY'
# An IMDPROXY server (memory-backed) that, once the file STALL exists, closes
# every connection, stops accepting and fills its backlog with its own connects.
import os, socket, struct, sys, threading, time
kind, where, size, stall = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
buf = bytearray(size)
conns = []
lock = threading.Lock()
def recv(c, n):
    b = bytearray()
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return bytes(b)
def serve(c):
    try:
        while True:
            (code,) = struct.unpack("<Q", recv(c, 8))
            if code == 1:
                c.sendall(struct.pack("<QQQ", size, 1, 0))
            elif code == 2:
                off, n = struct.unpack("<QQ", recv(c, 16))
                n = min(n, size - off)
                c.sendall(struct.pack("<QQ", 0, n) + bytes(buf[off:off + n]))
            elif code == 3:
                off, n = struct.unpack("<QQ", recv(c, 16))
                buf[off:off + n] = recv(c, n)
                c.sendall(struct.pack("<QQ", 0, n))
            elif code == 5:
                break
            else:
                c.sendall(struct.pack("<Q", 19))
    except (EOFError, OSError):
        pass
    c.close()
if kind == "unix":
    family, address = socket.AF_UNIX, where
    s = socket.socket(family)
    s.bind(where + ".new")
else:
    family = socket.AF_INET
    s = socket.socket(family)
    s.bind(("127.0.0.1", 0))
    address = s.getsockname()
s.listen(1)
if kind == "unix":
    os.rename(where + ".new", where)
else:
    with open(where + ".new", "w") as f:
        f.write("127.0.0.1:%d\n" % address[1])
    os.rename(where + ".new", where)
s.settimeout(0.1)
while not os.path.exists(stall):
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.settimeout(None)
    with lock:
        conns.append(c)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
with lock:
    for c in conns:
        try:
            c.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
fillers = []
for _ in range(8):
    f = socket.socket(family)
    f.setblocking(False)
    try:
        f.connect(address)
    except (BlockingIOError, InterruptedError, OSError):
        pass
    fillers.append(f)
open(stall + ".filled", "w").close()
time.sleep(3600)
PY

check_kind() { # unix|tcp
	local kind=$1 where=$TEST_DIR/$1.addr stall=$TEST_DIR/$1.stall u dev address start took pid
	python3 "$TEST_DIR/stalling-proxy.py" "$kind" "$where" $((16 << 20)) "$stall" 2>>"$TEST_DIR/proxy.err" &
	pid=$!
	on_cleanup "kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null"
	for _ in $(seq 100); do [ -e "$where" ] && break; sleep 0.05; done
	[ -e "$where" ] || fail "$kind: the server did not start: $(cat "$TEST_DIR/proxy.err")"
	if [ "$kind" = unix ]; then
		u=$(attach -t proxy -f "unix:$where") || fail "$kind: no disk"
	else
		address=$(cat "$where")
		u=$(attach -t proxy -o ip -f "$address") || fail "$kind: no disk"
	fi
	dev=$(unit_device "$u")
	random_file "$TEST_DIR/data" $((1 << 20))
	dev_write "$TEST_DIR/data" "$dev"
	cmp "$TEST_DIR/data" <(dev_read "$dev" $((1 << 20))) || fail "$kind: the data does not read back"

	touch "$stall"
	for _ in $(seq 100); do [ -e "$stall.filled" ] && break; sleep 0.05; done
	[ -e "$stall.filled" ] || fail "$kind: the server did not stall"
	start=$(date +%s%N)
	timeout 60 dd if="$dev" of=/dev/null bs=4k count=1 skip=$((RANDOM % 4096)) iflag=direct status=none \
		2>"$TEST_DIR/dd.err" &
	local dd_pid=$!
	sleep 0.5
	timeout 2 "$IMDISK" -l >/dev/null || fail "$kind: imdisk -l does not answer during the reconnect"
	if wait "$dd_pid"; then
		fail "$kind: the read succeeded from a server that accepts nothing"
	fi
	took=$((($(date +%s%N) - start) / 1000000))
	grep -q "Input/output error" "$TEST_DIR/dd.err" || fail "$kind: unexpected error: $(cat "$TEST_DIR/dd.err")"
	# The window (2 s) and one bounded connect (2 s), with room for a loaded machine.
	[ "$took" -le 12000 ] || fail "$kind: the failing read took $took ms"
	note "$kind: EIO after $took ms"
	expect_eq false "$(disk_field "$u" proxy.connected)" "$kind: connected"
	imdisk -D -u "$u" >/dev/null || fail "$kind: imdisk -D failed"
	wait_detached "$dev" "unit$u" || fail "$kind: $dev still attached"
	kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
}
check_kind unix
check_kind tcp
