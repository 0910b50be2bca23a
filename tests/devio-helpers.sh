# Helpers for tests/test-devio-*.sh (sourced after functions.sh): start devio in
# the background (on a free port, a unix socket, shared memory, a serial line),
# talk to it with tests/tools/imdproxy-probe (DEVIO_AT says where) or with a
# python3 client (devio_python).
PROBE=$BUILD/tests/tools/imdproxy-probe
[ -x "$PROBE" ] || fail "$PROBE is not built"
[ -x "$DEVIO" ] || fail "$DEVIO is not built"
DEVIO_LOG=$TEST_DIR/devio.log
DEVIO_PID=
DEVIO_PORT=
DEVIO_AT= # where probe finds the devio started last: "--tcp 127.0.0.1:PORT", "--unix PATH"

# Show devio's messages when the test fails (rc is _cleanup's).
on_cleanup 'if [ "${rc:-0}" != 0 ] && [ "${rc:-0}" != 77 ] && [ -s "$DEVIO_LOG" ]; then echo "--- devio.log" >&2; tail -n 30 "$DEVIO_LOG" >&2; fi'

probe() { "$PROBE" --timeout 20 "$@"; }

# new_image random|sparse SIZE: the image a test serves, img=$TEST_DIR/disk.img:
# SIZE random bytes (kept as $TEST_DIR/original too, to see what changed), or a
# sparse file of SIZE (zeroes).
new_image() {
	img=$TEST_DIR/disk.img
	case $1 in
	random) random_file "$img" "$2"; cp "$img" "$TEST_DIR/original" ;;
	sparse) rm -f "$img"; truncate -s "$2" "$img" ;;
	*) fail "new_image: random or sparse, not '$1'" ;;
	esac
}

# start_devio ARGS...: devio in the background; DEVIO_PID is its PID.
start_devio() {
	"$DEVIO" "$@" 2>>"$DEVIO_LOG" &
	DEVIO_PID=$!
	on_cleanup "kill -KILL $DEVIO_PID 2>/dev/null; wait $DEVIO_PID 2>/dev/null"
}

# start_devio_with_umask MASK ARGS...: start_devio under umask MASK.
start_devio_with_umask() {
	local mask=$1; shift
	(umask "$mask"; exec "$DEVIO" "$@" 2>>"$DEVIO_LOG") &
	DEVIO_PID=$!
	on_cleanup "kill -KILL $DEVIO_PID 2>/dev/null; wait $DEVIO_PID 2>/dev/null"
}

# devio_log_count TEXT: how many lines of devio's log hold TEXT (a fixed string).
devio_log_count() { grep -c -F -- "$1" "$DEVIO_LOG" 2>/dev/null || true; }

# wait_for_log TEXT COUNT: until more than COUNT lines of devio's log hold TEXT
# (devio still running), at most 10 s.
wait_for_log() {
	for _ in $(seq 200); do
		[ "$(devio_log_count "$1")" -gt "${2:-0}" ] && return 0
		kill -0 "$DEVIO_PID" 2>/dev/null || { cat "$DEVIO_LOG" >&2; fail "devio exited at start"; }
		sleep 0.05
	done
	fail "devio did not log '$1'"
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
	DEVIO_AT="--tcp 127.0.0.1:$DEVIO_PORT"
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

# start_devio_unix SOCKET ARGS...: devio on a unix socket (ARGS: the disk and the
# rest); returns once it listens (a stale socket at SOCKET is not taken for it).
start_devio_unix() {
	local sock=$1 before; shift
	before=$(devio_log_count "listening on $sock")
	start_devio --unix "$sock" "$@"
	wait_for_log "listening on $sock" "$before"
	DEVIO_AT="--unix $sock"
}

# start_devio_shm NAME ARGS...: devio on shared memory /NAME (ARGS: the disk and
# the rest); returns once it serves there.
start_devio_shm() {
	local name=$1 before; shift
	before=$(devio_log_count "serving on shared memory /$name ")
	start_devio "shm:$name" "$@"
	wait_for_log "serving on shared memory /$name " "$before"
}

# start_devio_serial LINE ARGS...: devio on the serial line LINE (with its
# settings; ARGS: the disk and the rest); returns once devio has set the line up
# and flushed it, so that what a client sends from then on is read.
start_devio_serial() {
	local line=$1 before; shift
	before=$(devio_log_count "serving on ${line%%:*}")
	start_devio "$line" "$@"
	wait_for_log "serving on ${line%%:*}" "$before"
}

# The python3 side of the helpers: recv_some(s, n) (n bytes, None when s closes
# first) for every client and server script here, and the client calls below.
DEVIO_PY_HELPERS=$(cat <<'PY'
import os, socket, struct, sys, time
def connect(timeout=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.settimeout(timeout)
    return s
def recv_some(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return bytes(b)
def recv_exact(s, n):
    b = recv_some(s, n)
    if b is None:
        raise SystemExit("the connection closed")
    return b
def info(s):
    s.sendall(struct.pack('<Q', 1))
    reply = recv_some(s, 24)
    return None if reply is None else struct.unpack('<QQQ', reply)[0]
PY
)

# devio_python ARGS... <<'PY': a python3 client script (stdin) with ARGS as
# sys.argv[1:], the IMDPROXY client helpers below defined before it:
#   connect(timeout=None)  a stream to the unix socket sys.argv[1]
#   recv_exact(s, n)       n bytes from s (SystemExit when s closes first)
#   info(s)                INFO on s: the size, or None when s closes first
devio_python() {
	{ printf '%s\n' "$DEVIO_PY_HELPERS"; cat; } | python3 - "$@"
}

# nbd_python ARGS... <<'PY': a raw NBD client script (stdin; no libnbd, which never
# sends what a bad-input test must) with ARGS as sys.argv[1:], these defined first:
#   connect()          a stream to the unix socket sys.argv[1], 10 s timeout
#   recv_exact(s, n)   n bytes from s, or None when s closes first (a refusal)
#   check(cond, what)  exit 1 with "FAIL: what" unless cond
NBD_PY_HELPERS=$(cat <<'PY'
import socket, struct, sys, time
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1]); s.settimeout(10)
    return s
def recv_exact(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b
def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr); sys.exit(1)
PY
)
nbd_python() {
	{ printf '%s\n' "$NBD_PY_HELPERS"; cat; } | python3 - "$@"
}

# proxy_disk_on_new_image SIZE: a sparse image of SIZE bytes served by devio on a
# unix socket, and a proxy disk on it; sets img, sock, u (unit) and dev.
proxy_disk_on_new_image() {
	new_image sparse "$1"
	sock=$TEST_DIR/devio.sock
	start_devio_unix "$sock" "$img"
	u=$(attach -t proxy -f "unix:$sock")
	dev=$(unit_device "$u")
}

# proxy_ext4_roundtrip IMAGE KIND ADDRESS ATTACH-ARGS...: `imdisk -a -t proxy
# ATTACH-ARGS -p ext4 -m DIR` on the server devio runs for IMAGE; checks the JSON
# (backing proxy, proxy {KIND, ADDRESS, connected}, transport fuse), that files
# written survive an umount and a mount by hand, that -d -m DIR removes it all, and
# that IMAGE then holds the file system and the files.
proxy_ext4_roundtrip() {
	local img=$1 kind=$2 address=$3 mnt=$TEST_DIR/mnt u dev
	shift 3
	on_cleanup "! mountpoint -q '$mnt' || umount -l '$mnt'" # before devio goes
	u=$("$IMDISK" -a -n -t proxy "$@" -p ext4 -m "$mnt") || fail "imdisk -a -t proxy $* failed"
	dev=$(unit_device "$u")
	[ -b "$dev" ] || fail "unit $u has no block device ($dev)"
	expect_eq proxy "$(disk_field "$u" backing)" "JSON backing"
	expect_eq "$kind" "$(disk_field "$u" proxy.kind)" "JSON proxy.kind"
	expect_eq "$address" "$(disk_field "$u" proxy.address)" "JSON proxy.address"
	expect_eq true "$(disk_field "$u" proxy.connected)" "JSON proxy.connected"
	expect_eq fuse "$(disk_field "$u" transport)" "JSON transport"
	mountpoint -q "$mnt" || fail "$mnt is not mounted"
	expect_eq "$dev" "$(findmnt -n -o SOURCE --target "$mnt")" "device mounted on $mnt"

	random_file "$TEST_DIR/big" $((5 << 20))
	random_file "$TEST_DIR/small" 1000
	mkdir "$mnt/dir"
	cp "$TEST_DIR/big" "$mnt/big"
	cp "$TEST_DIR/small" "$mnt/dir/small"
	umount "$mnt"
	mount "$dev" "$mnt" || fail "mounting $dev by hand failed"
	cmp "$TEST_DIR/big" "$mnt/big" || fail "big file differs after a remount"
	cmp "$TEST_DIR/small" "$mnt/dir/small" || fail "small file differs after a remount"

	"$IMDISK" -d -m "$mnt" >/dev/null || fail "imdisk -d -m $mnt failed"
	! mountpoint -q "$mnt" || fail "$mnt still mounted after -d"
	expect_eq "No virtual disks." "$("$IMDISK" -l)" "list after -d"
	wait_detached "$dev" "unit$u" || fail "$dev still attached after -d"
	# Everything reached the server's image.
	e2fsck -fn "$img" >"$TEST_DIR/fsck.out" 2>&1 || fail "the image is not a clean ext4: $(tail -n 3 "$TEST_DIR/fsck.out")"
	debugfs -R "dump /big $TEST_DIR/big.out" "$img" 2>/dev/null
	cmp "$TEST_DIR/big" "$TEST_DIR/big.out" || fail "the image does not hold the file written"
}

# start_fake_proxy SOCKET SIZE ALIGNMENT FLAGS: a minimal IMDPROXY server in
# python3 on a unix socket, for INFO replies devio never sends.  It answers INFO
# with SIZE, ALIGNMENT and FLAGS, serves READ and WRITE from SIZE bytes of memory,
# zeroes the ranges of UNMAP and ZERO, and appends to FAKE_LOG one line per event:
# "connect", "request CODE", "range CODE OFFSET LENGTH", "closed".
start_fake_proxy() {
	FAKE_LOG=$TEST_DIR/fake-proxy.log
	: >"$FAKE_LOG"
	{ printf '%s\n' "$DEVIO_PY_HELPERS"; cat <<'PY'; } >"$TEST_DIR/fake-proxy.py"
import threading
path, size, align, flags, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4], 0), sys.argv[5]
buf = bytearray(size)
lock = threading.Lock()
def note(s):
    with lock, open(log, "a") as f:
        f.write(s + "\n")
def recv(c, n):
    b = recv_some(c, n)
    if b is None:
        raise EOFError
    return b
def serve(c):
    note("connect")
    try:
        while True:
            (code,) = struct.unpack("<Q", recv(c, 8))
            note("request %d" % code)
            if code == 1:
                c.sendall(struct.pack("<QQQ", size, align, flags))
            elif code == 2:
                off, n = struct.unpack("<QQ", recv(c, 16))
                if off >= size:
                    c.sendall(struct.pack("<QQ", 22, 0))
                    continue
                n = min(n, size - off)
                with lock:
                    data = bytes(buf[off:off + n])
                c.sendall(struct.pack("<QQ", 0, n) + data)
            elif code == 3:
                off, n = struct.unpack("<QQ", recv(c, 16))
                data = recv(c, n)
                if off + n > size:
                    c.sendall(struct.pack("<QQ", 22, 2**64 - 1))
                    continue
                with lock:
                    buf[off:off + n] = data
                c.sendall(struct.pack("<QQ", 0, n))
            elif code in (6, 7):
                (n,) = struct.unpack("<Q", recv(c, 8))
                ranges = recv(c, n)
                for i in range(0, n - n % 16, 16):
                    off, ln = struct.unpack_from("<qQ", ranges, i)
                    note("range %d %d %d" % (code, off, ln))
                    with lock:
                        buf[off:off + ln] = bytes(ln)
                c.sendall(struct.pack("<Q", 0))
            elif code == 5:
                break
            else:
                c.sendall(struct.pack("<Q", 19))
    except (EOFError, OSError):
        pass
    c.close()
    note("closed")
s = socket.socket(socket.AF_UNIX)
s.bind(path + ".new")
s.listen(16)
os.rename(path + ".new", path)  # the socket appears once it listens
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
	python3 "$TEST_DIR/fake-proxy.py" "$1" "$2" "$3" "$4" "$FAKE_LOG" 2>>"$TEST_DIR/fake-proxy.err" &
	DEVIO_PID=$! # for wait_for_path and stop_devio
	on_cleanup "kill -KILL $DEVIO_PID 2>/dev/null; wait $DEVIO_PID 2>/dev/null"
	wait_for_path "$1"
}

# fake_proxy_idle: wait (3 s) until every connection the fake server accepted is closed.
fake_proxy_idle() {
	for _ in $(seq 60); do
		[ "$(grep -c '^connect$' "$FAKE_LOG")" = "$(grep -c '^closed$' "$FAKE_LOG")" ] && return 0
		sleep 0.05
	done
	return 1
}

# start_pty_pair: a socat pty pair plays a serial cable between $TEST_DIR/a and
# $TEST_DIR/b (socat ended at cleanup, by PID).
start_pty_pair() {
	socat -d -d "pty,raw,echo=0,link=$TEST_DIR/a" "pty,raw,echo=0,link=$TEST_DIR/b" 2>"$TEST_DIR/socat.log" &
	local pid=$!
	on_cleanup "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	for _ in $(seq 100); do [ -e "$TEST_DIR/a" ] && [ -e "$TEST_DIR/b" ] && break; sleep 0.05; done
	[ -e "$TEST_DIR/a" ] && [ -e "$TEST_DIR/b" ] || fail "socat made no pty pair: $(cat "$TEST_DIR/socat.log")"
}
