#!/usr/bin/env bash
# Failing creates of every kind, in a loop, while another disk does I/O: each
# fails with its own message and exit code 3, imdiskd closes every descriptor a
# create carried exactly once (its descriptor count comes back to where it was;
# a double close would also hit the other disk's image, whose data is compared),
# and a shared-memory create that carries a stray descriptor does not keep it.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires python3 cmp
start_daemon

fd_count() { ls "/proc/$DAEMON_PID/fd" | wc -l; }

# raw_create FLAGS IMAGE: a CREATE carrying a descriptor (of /dev/null) that this
# kind of disk does not use; prints the reply's status and unit.
raw_create() {
	python3 - "$IMDISK_SOCKET" "$1" "$2" <<'PY'
import os, socket, struct, sys
path, flags, image = sys.argv[1], int(sys.argv[2], 0), sys.argv[3].encode()
def attr(tag, value):
    return struct.pack("<HH", tag, len(value)) + value
body = attr(2, struct.pack("<I", flags)) + attr(12, image)
message = struct.pack("<IHHIi", 0x4B444D49, 1, 2, len(body), 0) + body
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(path)
stray = os.open("/dev/null", os.O_RDONLY)
s.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", stray))])
os.close(stray)
header = b""
while len(header) < 16:
    chunk = s.recv(16 - len(header))
    if not chunk:
        sys.exit("the daemon hung up")
    header += chunk
magic, version, type_, length, status = struct.unpack("<IHHIi", header)
body = b""
while len(body) < length:
    chunk = s.recv(length - len(body))
    if not chunk:
        sys.exit("the daemon hung up")
    body += chunk
unit, pos = -1, 0
while pos + 4 <= len(body):
    tag, size = struct.unpack_from("<HH", body, pos)
    if tag == 1 and size == 4:
        unit = struct.unpack_from("<I", body, pos + 4)[0]
    pos += 4 + size
print(status, unit)
PY
}
PROXY_SHM=$((0x300 | 0x3000))

# The disk whose data must stay intact: a file disk under steady verified I/O.
other_img=$TEST_DIR/other.img
truncate -s 16M "$other_img"
other_unit=$(attach -t file -f "$other_img")
other_dev=$(unit_device "$other_unit")
random_file "$TEST_DIR/pattern" 4M
io_failed=$TEST_DIR/io-failed
(
	while [ ! -e "$TEST_DIR/io-stop" ]; do
		dev_write "$TEST_DIR/pattern" "$other_dev" 4 || { echo "write failed" >"$io_failed"; exit; }
		dev_read "$other_dev" $((8 << 20)) | tail -c $((4 << 20)) | cmp -s - "$TEST_DIR/pattern" ||
			{ echo "read back differs" >"$io_failed"; exit; }
	done
) &
io_pid=$!
on_cleanup "touch $TEST_DIR/io-stop; wait $io_pid 2>/dev/null"

img64=$TEST_DIR/img64M
truncate -s 64M "$img64"
sock=$TEST_DIR/devio.sock
start_devio_unix "$sock" "$img64"
shm_name=imdisk-test-$$-$RANDOM
on_cleanup "rm -f /dev/shm/$shm_name /dev/shm/sem.${shm_name}_Request /dev/shm/sem.${shm_name}_Response"
printf 'not a partition table' >"$TEST_DIR/nopart.img"
truncate -s 8M "$TEST_DIR/nopart.img"

# The FUSE mount (and its workers) starts with the first user-space disk and
# stays: start it before counting.
unit=$(attach -s 1M --transport=fuse)
imdisk -D -u "$unit" >/dev/null
imdisk -l >/dev/null
fds_before=$(fd_count)
for round in 1 2 3 4 5; do
	# A proxy disk larger than its server's image: the proxy backend has the
	# connection by then, and closes it with itself.
	expect_error "do not fit" 3 imdisk -a -t proxy -f "unix:$sock" -s 1G
	expect_error "do not fit" 3 imdisk -a -t proxy -f "unix:$sock" -b 100M
	expect_error "past the end" 3 imdisk -a -t file -f "$img64" -b 128M
	expect_error "past the end" 3 imdisk -a -t vm -f "$img64" -b 64M
	expect_error "partition 2 not found" 12 imdisk -a -t file -f "$TEST_DIR/nopart.img" -v 2
	# Shared memory with nobody serving: the stray descriptor is closed.
	read -r status _ < <(raw_create "$PROXY_SHM" "$shm_name-none")
	[ "$status" -lt 0 ] || fail "a shared-memory disk without a server was created (status $status)"
	[ -e "$io_failed" ] && fail "round $round: the other disk's I/O: $(cat "$io_failed")"
	devio_alive
done

# Shared memory that succeeds with a stray descriptor: not kept once removed.
stop_devio || true
start_devio "shm:$shm_name" "$img64" 0 0 1 1M
for _ in $(seq 100); do grep -q "serving on shared memory" "$DEVIO_LOG" && break; sleep 0.05; done
grep -q "serving on shared memory" "$DEVIO_LOG" || fail "devio does not serve on shared memory"
for round in 1 2 3; do
	read -r status unit < <(raw_create "$PROXY_SHM" "$shm_name")
	[ "$status" = 0 ] || fail "a shared-memory disk with a stray descriptor was refused (status $status)"
	imdisk -D -u "$unit" >/dev/null || fail "cannot remove the shared-memory disk $unit"
done

touch "$TEST_DIR/io-stop"
wait "$io_pid" 2>/dev/null || true
[ -e "$io_failed" ] && fail "the other disk's I/O: $(cat "$io_failed")"
dev_read "$other_dev" $((8 << 20)) | tail -c $((4 << 20)) | cmp - "$TEST_DIR/pattern" ||
	fail "the other disk's data changed"

fds_after=$(fd_count)
[ "$fds_after" = "$fds_before" ] ||
	{ ls -l "/proc/$DAEMON_PID/fd" >&2; fail "imdiskd's descriptors: $fds_before before, $fds_after after"; }
imdisk -D -u "$other_unit" >/dev/null
echo "ok"
