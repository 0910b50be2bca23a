#!/usr/bin/env bash
# devio --nbd against clients that break the rules: a handshake that is not
# fixed newstyle, a bad option magic, a bad request magic (each: the connection
# is closed), a read and a write past the end (NBD_EINVAL, and the stream stays
# in step), a read over the 32 MiB limit (NBD_EOVERFLOW), a write header
# claiming more (disconnected), block status without the context (NBD_EINVAL),
# a client that vanishes in the middle of a write (devio keeps serving the
# others throughout), and FAST_ZERO where zeroing is not fast (NBD_ENOTSUP).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires python3 nbdinfo

# NBD goes over a TCP port or a unix socket only.
expect_error "goes with a TCP port or --unix" 2 "$DEVIO" --nbd - memory:1M
expect_error "goes with a TCP port or --unix" 2 "$DEVIO" --nbd shm:x memory:1M

sock=$TEST_DIR/nbd.sock
start_devio_unix "$sock" --nbd memory:64M

# A raw NBD client in python3 (no libnbd: it must send what libnbd never would).
NBD_PY=$(cat <<'PY'
SIZE = 64 << 20
def closed(s):
    try:
        while True:
            c = s.recv(65536)
            if not c:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
def option(s, opt, data=b''):
    s.sendall(b'IHAVEOPT' + struct.pack('>II', opt, len(data)) + data)
def option_reply(s):
    magic, opt, typ, ln = struct.unpack('>QIII', recv_exact(s, 20))
    check(magic == 0x3e889045565a9, "option reply magic")
    return opt, typ, recv_exact(s, ln)
def greeting(s):
    g = recv_exact(s, 18)
    check(g[:16] == b'NBDMAGICIHAVEOPT', "greeting")
def go(s, structured=False):
    greeting(s)
    s.sendall(struct.pack('>I', 3))
    if structured:
        option(s, 8); check(option_reply(s)[1] == 1, "structured reply ack")
    option(s, 7, struct.pack('>IH', 0, 0))
    while True:
        opt, typ, data = option_reply(s)
        check(opt == 7 and typ in (1, 3), "GO reply %x" % typ)
        if typ == 1:
            return
def request(s, typ, offset, length, cookie, flags=0, data=b''):
    s.sendall(struct.pack('>IHHQQI', 0x25609513, flags, typ, cookie, offset, length) + data)
def simple_reply(s):
    magic, error, cookie = struct.unpack('>IIQ', recv_exact(s, 16))
    check(magic == 0x67446698, "simple reply magic %x" % magic)
    return error, cookie
PY
)

nbd_python "$sock" <<PY || fail "a bad-input check failed"
$NBD_PY
# Not fixed newstyle: closed.
s = connect(); greeting(s); s.sendall(struct.pack('>I', 0))
check(closed(s), "old-style client flags were not refused")
# A bad option magic: closed.
s = connect(); greeting(s); s.sendall(struct.pack('>I', 3)); s.sendall(b'IHAVEOPX' + bytes(8))
check(closed(s), "a bad option magic was not refused")
# An unknown option gets NBD_REP_ERR_UNSUP, and haggling goes on.
s = connect(); greeting(s); s.sendall(struct.pack('>I', 3)); option(s, 77, b'abc')
check(option_reply(s)[1] == 0x80000001, "unknown option: not ERR_UNSUP")
option(s, 2); check(option_reply(s)[1] == 1, "ABORT not acknowledged"); check(closed(s), "ABORT")

s = connect(); go(s)
# Past the end: NBD_EINVAL (22); a refused write's data is still read off.
request(s, 0, SIZE - 512, 1024, 1)
check(simple_reply(s) == (22, 1), "read past the end: not EINVAL")
request(s, 1, SIZE - 4, 8, 2, data=b'x' * 8)
check(simple_reply(s) == (22, 2), "write past the end: not EINVAL")
request(s, 1, 0, 8, 3, data=b'in step!')
check(simple_reply(s) == (0, 3), "write after a refused one")
request(s, 0, 0, 8, 4)
check(simple_reply(s) == (0, 4) and recv_exact(s, 8) == b'in step!', "read back")
# Over the 32 MiB limit: NBD_EOVERFLOW (75).
request(s, 0, 0, (32 << 20) + 512, 5)
check(simple_reply(s) == (75, 5), "oversized read: not EOVERFLOW")
# Block status without base:allocation agreed: NBD_EINVAL.
request(s, 7, 0, 4096, 6)
check(simple_reply(s) == (22, 6), "block status without a context: not EINVAL")
# An unknown command: NBD_EINVAL.
request(s, 42, 0, 0, 7)
check(simple_reply(s) == (22, 7), "unknown command: not EINVAL")
# A bad request magic: closed.
s.sendall(struct.pack('>IHHQQI', 0x25609514, 0, 0, 8, 0, 512))
check(closed(s), "a bad request magic was not refused")

# Structured replies: the error of a read past the end is an ERROR chunk.
s = connect(); go(s, structured=True)
request(s, 0, SIZE, 512, 9)
magic, flags, typ, cookie, ln = struct.unpack('>IHHQI', recv_exact(s, 20))
body = recv_exact(s, ln)
check(magic == 0x668e33ef and flags & 1 and typ == 0x8001 and cookie == 9,
      "structured error chunk header")
check(struct.unpack('>I', body[:4])[0] == 22, "structured error: not EINVAL")
s.close()

# A write header claiming more than 32 MiB: disconnected.
s = connect(); go(s)
request(s, 1, 0, 64 << 20, 10)
check(closed(s), "an oversized write was not disconnected")

# Vanishing in the middle of a write; another client is served meanwhile.
s = connect(); go(s)
request(s, 1, 0, 1 << 20, 11, data=b'y' * 1000)
t = connect(); go(t)
request(t, 0, 0, 8, 12)
check(simple_reply(t) == (0, 12) and recv_exact(t, 8) == b'in step!',
      "a second client while one is mid-request")
s.close()
time.sleep(0.2)
request(t, 0, 0, 8, 13)
check(simple_reply(t) == (0, 13) and recv_exact(t, 8) == b'in step!',
      "the half-written request changed the disk")
request(t, 2, 0, 0, 14)  # DISC
check(closed(t), "DISC did not close")
PY
wait_for_log "disconnected in the middle of a request"
[ "$(devio_log_count "not a fixed newstyle NBD client")" = 1 ] || fail "no log line for the bad handshake"
[ "$(devio_log_count "bad NBD request magic")" = 1 ] || fail "no log line for the bad request magic"
devio_alive
nbdinfo --size "nbd+unix:///?socket=$sock" >"$TEST_DIR/size"
expect_eq 67108864 "$(cat "$TEST_DIR/size")" "nbdinfo --size after the bad clients"
stop_devio || fail "devio exited with $?"

# FAST_ZERO on a disk that cannot zero natively (a dynamic VHD zeroes by
# writing): NBD_ENOTSUP at once, the data untouched; without it, zeroed.
requires qemu-img
qemu-img create -q -f vpc "$TEST_DIR/disk.vhd" 16M
start_devio_unix "$sock" --nbd "$TEST_DIR/disk.vhd"
nbd_python "$sock" <<PY || fail "a fast-zero check failed"
$NBD_PY
s = connect(); go(s)
request(s, 1, 4096, 8, 1, data=b'12345678')
check(simple_reply(s) == (0, 1), "write")
request(s, 6, 4096, 4096, 2, flags=16)
check(simple_reply(s) == (95, 2), "fast zero on a VHD: not ENOTSUP")
request(s, 0, 4096, 8, 3)
check(simple_reply(s) == (0, 3) and recv_exact(s, 8) == b'12345678', "fast zero changed data")
request(s, 6, 4096, 4096, 4, flags=2)
check(simple_reply(s) == (0, 4), "write zeroes with NO_HOLE")
request(s, 0, 4096, 8, 5)
check(simple_reply(s) == (0, 5) and recv_exact(s, 8) == bytes(8), "not zeroed")
PY
stop_devio || fail "devio exited with $?"
