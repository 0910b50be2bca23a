#!/usr/bin/env bash
# Garbage on the control socket: imdiskd answers or hangs up, never dies, leaks
# no descriptor, and still serves imdisk (also while a bad client hangs on).
. "$(dirname "$0")/functions.sh"
requires_root
requires python3
start_daemon

fd_count() { ls "/proc/$DAEMON_PID/fd" | wc -l; }
imdisk -l >/dev/null
fds_before=$(fd_count)

python3 - "$IMDISK_SOCKET" <<'PY' || fail "a malformed message was not answered or hung up on"
import os, socket, struct, sys, time
path = sys.argv[1]
MAGIC = 0x4B444D49

def header(magic=MAGIC, version=1, type_=1, length=0, status=0):
    return struct.pack("<IHHIi", magic, version, type_, length, status)

def exchange(data, close_write=False, expect_reply=None):
    """Send data; the daemon must answer or hang up within 3 s."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(path)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        s.close()
        return b""
    if close_write:
        s.shutdown(socket.SHUT_WR)
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    except socket.timeout:
        sys.exit("no answer and no hang-up after %r" % data[:32])
    s.close()
    if got and len(got) >= 16:
        magic, version, type_, length, status = struct.unpack("<IHHIi", got[:16])
        if magic != MAGIC:
            sys.exit("reply with a bad magic to %r" % data[:32])
        if status >= 0:
            sys.exit("malformed %r answered with status %d" % (data[:32], status))
    return got

exchange(os.urandom(64))
exchange(b"GET / HTTP/1.0\r\n\r\n" + b"x" * 100)
exchange(b"\0" * 16)
exchange(header(magic=0x12345678))
exchange(header(version=99))
exchange(header(type_=0))
exchange(header(type_=0x7fff))
exchange(header(length=0xFFFFFFFF))            # oversized
exchange(header(length=64 * 1024 + 1))          # one byte over the limit
exchange(header(type_=2, length=8) + b"\xff" * 8)   # an attribute that runs past the payload
exchange(header(type_=2, length=4) + struct.pack("<HH", 1, 2000))
exchange(header()[:7], close_write=True)        # truncated header, then EOF
exchange(header(length=100) + b"abc", close_write=True)  # truncated payload, then EOF
exchange(header(type_=2, length=0), close_write=True)    # create with no attributes at all

# Many quick connections that vanish mid-message.
for i in range(200):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(header(length=1000)[: i % 17])
    s.close()
PY

# A client that sends half a header and then waits must not block anyone else.
python3 -c '
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(struct.pack("<IHHIi", 0x4B444D49, 1, 4, 0, 0)[:9])
time.sleep(30)' "$IMDISK_SOCKET" &
hang_pid=$!
on_cleanup "kill $hang_pid 2>/dev/null; wait $hang_pid 2>/dev/null"
sleep 0.2
expect_eq "No virtual disks." "$(timeout 10 "$IMDISK" -l)" "imdisk -l while a client hangs"
u=$(timeout 10 "$IMDISK" -a -n -s 1M) || fail "create while a client hangs"
timeout 10 "$IMDISK" -d -u "$u" || fail "remove while a client hangs"
kill "$hang_pid"; wait "$hang_pid" 2>/dev/null || true

kill -0 "$DAEMON_PID" || fail "imdiskd died"
expect_eq "No virtual disks." "$(imdisk -l)" "imdisk -l after the garbage"
for _ in $(seq 40); do [ "$(fd_count)" -le "$fds_before" ] && break; sleep 0.05; done
expect_eq "$fds_before" "$(fd_count)" "imdiskd's descriptors after the garbage"
