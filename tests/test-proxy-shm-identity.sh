#!/usr/bin/env bash
# A shared-memory proxy disk is attached with its creator's identity, also after
# the server restarts: a user's disk on the user's devio (shm:NAME) reads and
# writes; when that devio dies and root starts a server of its own (mode 0600)
# under the same NAME, imdiskd does not attach the user's disk to it (I/O fails
# with EIO, the disk says disconnected); when the user's devio comes back, the
# disk works again and still holds the user's data.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires setpriv
start_daemon --proxy-timeout 2
[ -x "$IMDISK" ] && setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$IMDISK" ||
	skip "nobody cannot run $IMDISK"
# Let nobody reach the socket and the image (this test's folder only).
chmod 755 "$TEST_DIR"
chmod 666 "$IMDISK_SOCKET"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

name=imdisk-test-$$-$RANDOM
shm_objects() { echo "/dev/shm/$name /dev/shm/sem.${name}_Request /dev/shm/sem.${name}_Response"; }
on_cleanup "rm -f $(shm_objects)"
img=$TEST_DIR/disk.img
truncate -s 16M "$img"
chmod 666 "$img"
serve() { # nobody|root: devio shm:NAME on the image, as that user (its own PID)
	if [ "$1" = nobody ]; then
		setpriv --reuid=65534 --regid=65534 --clear-groups "$DEVIO" "shm:$name" "$img" 2>>"$DEVIO_LOG" &
	else
		"$DEVIO" "shm:$name" "$img" 2>>"$DEVIO_LOG" &
	fi
	DEVIO_PID=$!
	on_cleanup "kill -KILL $DEVIO_PID 2>/dev/null; wait $DEVIO_PID 2>/dev/null"
	for _ in $(seq 100); do [ -e "/dev/shm/$name" ] && return 0; sleep 0.05; done
	fail "devio did not serve shm:$name: $(tail -n 3 "$DEVIO_LOG")"
}
serve nobody
expect_eq "nobody" "$(stat -c %U "/dev/shm/$name")" "owner of the user's section"

u=$(as_nobody env IMDISK_SOCKET="$IMDISK_SOCKET" "$IMDISK" -a -n -t proxy -o shm -f "$name") ||
	fail "nobody could not make a shared-memory proxy disk"
dev=$(unit_device "$u")
random_file "$TEST_DIR/data" $((1 << 20))
dev_write "$TEST_DIR/data" "$dev"
cmp "$TEST_DIR/data" <(dd if="$dev" bs=1M count=1 iflag=direct status=none) || fail "the data does not read back"

# The user's server dies; root serves a section of its own under the same name.
kill -KILL "$DEVIO_PID"; wait "$DEVIO_PID" 2>/dev/null || true
rm -f $(shm_objects)
serve root
expect_eq "root 600" "$(stat -c '%U %a' "/dev/shm/$name")" "owner and mode of root's section"
start=$SECONDS
if dd if="$dev" of=/dev/null bs=4k count=1 skip=100 iflag=direct status=none 2>"$TEST_DIR/dd.err"; then
	fail "the user's disk read through root's section"
fi
grep -q "Input/output error" "$TEST_DIR/dd.err" || fail "unexpected error: $(cat "$TEST_DIR/dd.err")"
[ $((SECONDS - start)) -le 15 ] || fail "the failing read took $((SECONDS - start)) s"
expect_eq false "$(disk_field "$u" proxy.connected)" "connected while only root's server is there"

# The user's server again: the disk reattaches and reads the user's data.
kill -KILL "$DEVIO_PID"; wait "$DEVIO_PID" 2>/dev/null || true
rm -f $(shm_objects)
serve nobody
ok=0
for _ in $(seq 50); do
	if cmp -s "$TEST_DIR/data" <(dd if="$dev" bs=1M count=1 iflag=direct status=none 2>/dev/null); then ok=1; break; fi
	sleep 0.2
done
[ "$ok" = 1 ] || fail "the disk did not come back with the user's server"
imdisk -d -u "$u" >/dev/null || fail "imdisk -d failed"
wait_detached "$dev" "unit$u" || fail "$dev still attached after -d"
