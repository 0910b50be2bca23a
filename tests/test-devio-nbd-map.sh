#!/usr/bin/env bash
# devio --nbd answers base:allocation block status truthfully: on a memory:SIZE
# disk with data written in one region, nbdinfo --map reports that region as data
# and the rest as reading as zeroes (devio reads the disk to say so; it never
# claims a hole, which the disk interface cannot tell it).  Zeroing the region
# again makes the whole disk read as zeroes.  Block status is served beside
# reads: replies come out of order.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires nbdinfo qemu-io python3

sock=$TEST_DIR/nbd.sock
uri="nbd+unix:///?socket=$sock"
start_devio_unix "$sock" --nbd memory:64M

map() { nbdinfo --map "$uri" | awk '{ print $1, $2, $3 }'; }

expect_eq "0 67108864 2" "$(map)" "map of a fresh memory disk"

qemu-io -f raw -c "write -P 0x5a 4M 1M" "$uri" >/dev/null || fail "qemu-io write failed"
expect_eq "0 4194304 2
4194304 1048576 0
5242880 61865984 2" "$(map)" "map after writing 1 MiB at 4 MiB"

# A region that is not chunk-aligned: data from 10 MiB + 100 bytes, 10 bytes.
qemu-io -f raw -c "write -P 0x11 $((10 * 1048576 + 100)) 10" "$uri" >/dev/null ||
	fail "qemu-io write failed"
expect_eq "0 4194304 2
4194304 1048576 0
5242880 5242880 2
10485760 65536 0
10551296 56557568 2" "$(map)" "map after a small write at 10 MiB"

# nbdinfo asks once per range it has not been told about: the answers add up.
total=$(nbdinfo --map --totals "$uri" | awk '$3 == 0 { print $1 }')
expect_eq "$((1048576 + 65536))" "$total" "bytes of data in the totals"

qemu-io -f raw -c "write -z 4M 1M" -c "write -z 10M 64k" "$uri" >/dev/null ||
	fail "qemu-io write -z failed"
expect_eq "0 67108864 2" "$(map)" "map after zeroing the data again"

# Requests are served concurrently, replies in the order they finish: a block
# status that scans 8 MiB, sent first, is overtaken by small reads sent after
# it.  (Tried a few times: one overtaking is enough to show it.)
python3 - "$sock" <<'PY' || fail "replies never came out of order"
import socket, struct, sys
def recv_exact(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        assert c, "closed"
        b += c
    return b
def option(s, opt, data=b''):
    s.sendall(b'IHAVEOPT' + struct.pack('>II', opt, len(data)) + data)
    while True:
        magic, o, typ, ln = struct.unpack('>QIII', recv_exact(s, 20)); recv_exact(s, ln)
        assert typ < 0x80000000, "option %d refused" % opt
        if typ == 1:
            return
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1]); s.settimeout(20)
recv_exact(s, 18); s.sendall(struct.pack('>I', 3))
option(s, 8)
q = b'base:allocation'
option(s, 10, struct.pack('>II', 0, 1) + struct.pack('>I', len(q)) + q)
option(s, 7, struct.pack('>IH', 0, 0))
def req(t, cookie, off, ln):
    return struct.pack('>IHHQQI', 0x25609513, 0, t, cookie, off, ln)
for attempt in range(10):
    batch = req(7, 1000, 16 << 20, 8 << 20) + b''.join(req(0, i, 0, 512) for i in range(1, 9))
    s.sendall(batch)
    order = []
    while len(order) < 9:
        magic, flags, typ, cookie, ln = struct.unpack('>IHHQI', recv_exact(s, 20))
        assert magic == 0x668e33ef and flags & 1, "not a final structured chunk"
        body = recv_exact(s, ln)
        if cookie == 1000:
            assert typ == 5 and struct.unpack('>I', body[:4])[0] == 1, "block status chunk"
        else:
            assert typ == 1 and body[8:] == bytes(512), "read chunk"
        order.append(cookie)
    if order[0] != 1000:
        sys.exit(0)
sys.exit(1)
PY
devio_alive
stop_devio || fail "devio exited with $?"
