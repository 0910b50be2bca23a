#!/usr/bin/env bash
# A shared-memory section that is unlinked and recreated by another user is not
# trusted, even by a disk root created (root may open every section): a disk on
# nobody's devio (shm:NAME) reads and writes; then the section and its
# semaphores are unlinked while that server still runs, and root's devio serves
# another image under the same NAME.  The disk does not attach to it: reads fail
# with EIO (within the proxy timeout), the disk says disconnected, and nothing of
# root's image is read through it.  imdiskd lives on and still answers.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires setpriv
start_daemon --proxy-timeout 2
setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$DEVIO" || skip "nobody cannot run $DEVIO"
chmod 755 "$TEST_DIR"

name=imdisk-test-$$-$RANDOM
shm_objects() { echo "/dev/shm/$name /dev/shm/sem.${name}_Request /dev/shm/sem.${name}_Response"; }
on_cleanup "rm -f $(shm_objects)"
serve() { # nobody|root IMAGE: devio shm:NAME on IMAGE, as that user (its own PID)
	if [ "$1" = nobody ]; then
		setpriv --reuid=65534 --regid=65534 --clear-groups "$DEVIO" "shm:$name" "$2" 2>>"$DEVIO_LOG" &
	else
		"$DEVIO" "shm:$name" "$2" 2>>"$DEVIO_LOG" &
	fi
	DEVIO_PID=$!
	on_cleanup "kill -KILL $DEVIO_PID 2>/dev/null; wait $DEVIO_PID 2>/dev/null"
	for _ in $(seq 100); do [ -e "/dev/shm/sem.${name}_Response" ] && return 0; sleep 0.05; done
	fail "devio did not serve shm:$name: $(tail -n 3 "$DEVIO_LOG")"
}
truncate -s 16M "$TEST_DIR/user.img"
chown 65534:65534 "$TEST_DIR/user.img"
head -c $((16 << 20)) /dev/urandom >"$TEST_DIR/root.img"
serve nobody "$TEST_DIR/user.img"
user_pid=$DEVIO_PID
expect_eq nobody "$(stat -c %U "/dev/shm/$name")" "owner of the user's section"

u=$(attach -t proxy -o shm -f "$name") || fail "no disk on shm:$name"
dev=$(unit_device "$u")
random_file "$TEST_DIR/data" $((1 << 20))
dev_write "$TEST_DIR/data" "$dev"
cmp "$TEST_DIR/data" <(dev_read "$dev" $((1 << 20))) || fail "the data does not read back"

# Unlinked under the running server, and recreated by root.
rm -f $(shm_objects)
serve root "$TEST_DIR/root.img"
expect_eq root "$(stat -c %U "/dev/shm/$name")" "owner of the new section"
start=$SECONDS
for i in 1 2 3; do
	if dd if="$dev" of="$TEST_DIR/got" bs=1M count=1 iflag=direct status=none 2>"$TEST_DIR/dd.err"; then
		cmp -s "$TEST_DIR/got" <(head -c $((1 << 20)) "$TEST_DIR/root.img") && fail "root's image was read through the disk"
		fail "read $i succeeded through a replaced section"
	fi
	grep -q "Input/output error" "$TEST_DIR/dd.err" || fail "unexpected error: $(cat "$TEST_DIR/dd.err")"
done
[ $((SECONDS - start)) -le 15 ] || fail "the failing reads took $((SECONDS - start)) s"
expect_eq false "$(disk_field "$u" proxy.connected)" "connected through a replaced section"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "imdiskd died"
timeout 5 "$IMDISK" -l >/dev/null || fail "imdisk -l does not answer"
kill -0 "$user_pid" 2>/dev/null || fail "the user's devio died"

imdisk -D -u "$u" >/dev/null || fail "imdisk -D failed"
wait_detached "$dev" "unit$u" || fail "$dev still attached after -D"
