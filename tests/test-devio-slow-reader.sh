#!/usr/bin/env bash
# A client that sends many 1 MiB READs before reading any reply (more than the
# socket buffers hold) gets every byte right: devio answers RAM-disk reads
# straight from the disk's memory as far as the socket takes them and copies out
# the rest, so a slow reader never holds the disk.  Writes and a stop meanwhile
# still work.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"

sock=$TEST_DIR/devio.sock
start_devio_unix "$sock" memory:32M
devio_python "$sock" <<'PY' || fail "pipelined 1 MiB READs came back wrong"
MiB = 1 << 20
s = connect()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
# Fill the disk: 32 distinct 1 MiB blocks (WRITE = code 3, offset, length, data).
blocks = [os.urandom(MiB) for _ in range(32)]
for i, data in enumerate(blocks):
    s.sendall(struct.pack('<QQQ', 3, i * MiB, MiB) + data)
    errorno, length = struct.unpack('<QQ', recv_exact(s, 16))
    assert errorno == 0 and length == MiB, (i, errorno, length)
# 64 READs (2 each) sent before any reply is read: far more than the buffers hold.
order = [i % 32 for i in range(64)]
for i in order:
    s.sendall(struct.pack('<QQQ', 2, i * MiB, MiB))
time.sleep(1)
for n, i in enumerate(order):
    errorno, length = struct.unpack('<QQ', recv_exact(s, 16))
    assert errorno == 0 and length == MiB, (n, errorno, length)
    assert recv_exact(s, MiB) == blocks[i], "block %d (reply %d) differs" % (i, n)
s.close()
PY
devio_alive
# Another client is served while the first is gone.
expect_output "info size=33554432 alignment=1 flags=0x6" probe $DEVIO_AT info
stop_devio || fail "devio exited with $?"
