#!/usr/bin/env bash
# A TCP proxy disk reconnects only to the peer its creator's connection reached,
# whatever address the creator claims: a client (tests/tools/proxy-create-as)
# passes a connection to devio A but names devio B's address as the disk's.  The
# disk reads A's data; when A dies, the disk does not reconnect to B: reads fail
# with EIO, the disk says disconnected, and none of B's bytes come through.  An
# honest disk on B meanwhile keeps working, also after
# B restarts (its reconnect reaches the peer it was made with).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
CREATE_AS=${CREATE_AS:-$BUILD/tests/tools/proxy-create-as}
[ -x "$CREATE_AS" ] || fail "$CREATE_AS is not built"
start_daemon --proxy-timeout 2

size=$((16 << 20))
truncate -s "$size" "$TEST_DIR/a.img"
head -c "$size" /dev/urandom >"$TEST_DIR/b.img"
random_file "$TEST_DIR/data" $((1 << 20))
dd if="$TEST_DIR/data" of="$TEST_DIR/a.img" conv=notrunc status=none
start_devio_tcp "$TEST_DIR/a.img"
a_pid=$DEVIO_PID a_port=$DEVIO_PORT
start_devio_tcp "$TEST_DIR/b.img"
b_pid=$DEVIO_PID b_port=$DEVIO_PORT

u=$("$CREATE_AS" "127.0.0.1:$b_port" "127.0.0.1:$a_port") || fail "no disk made"
dev=$(unit_device "$u")
cmp "$TEST_DIR/data" <(dev_read "$dev" $((1 << 20))) || fail "the disk does not read A's data"
honest=$(attach -t proxy -o ip -f "127.0.0.1:$b_port") || fail "no honest disk on B"
honest_dev=$(unit_device "$honest")

kill -KILL "$a_pid"; wait "$a_pid" 2>/dev/null || true
start=$SECONDS
for i in 1 2; do
	if dd if="$dev" of="$TEST_DIR/got" bs=1M count=1 iflag=direct status=none 2>"$TEST_DIR/dd.err"; then
		cmp -s "$TEST_DIR/got" <(head -c $((1 << 20)) "$TEST_DIR/b.img") && fail "B's image was read through the disk"
		fail "read $i succeeded after A died"
	fi
	grep -q "Input/output error" "$TEST_DIR/dd.err" || fail "unexpected error: $(cat "$TEST_DIR/dd.err")"
done
[ $((SECONDS - start)) -le 15 ] || fail "the failing reads took $((SECONDS - start)) s"
expect_eq false "$(disk_field "$u" proxy.connected)" "connected to the claimed address"
kill -0 "$b_pid" 2>/dev/null || fail "devio B died"

# The honest disk on B: reads B's data, also after B restarts on its port.
cmp <(head -c $((1 << 20)) "$TEST_DIR/b.img") <(dev_read "$honest_dev" $((1 << 20))) ||
	fail "the honest disk does not read B's data"
kill -KILL "$b_pid"; wait "$b_pid" 2>/dev/null || true
start_devio "$b_port" "$TEST_DIR/b.img"
ok=0
for _ in $(seq 50); do
	if cmp -s <(head -c $((1 << 20)) "$TEST_DIR/b.img") <(dev_read "$honest_dev" $((1 << 20)) 2>/dev/null); then
		ok=1
		break
	fi
	sleep 0.2
done
[ "$ok" = 1 ] || fail "the honest disk did not reconnect to B"
imdisk -D -u "$u" >/dev/null || fail "imdisk -D failed"
imdisk -d -u "$honest" >/dev/null || fail "imdisk -d failed"
wait_detached "$dev" "unit$u" || fail "$dev still attached"
wait_detached "$honest_dev" "unit$honest" || fail "$honest_dev still attached"
