#!/usr/bin/env bash
# A shared-memory server that shrinks its section under a disk cannot kill the
# daemon: with devio serving shm:NAME and a disk on it, the section truncated to
# 0 bytes (as its owner may do at any moment) makes a read of that disk fail with
# EIO; imdiskd lives on, still answers `imdisk -l`, and a second disk (on a
# server of its own) still reads back what was written to it.  A third server
# shrinks its request semaphore instead (mapped, as a futex must be): a read of
# its disk fails with EIO as well, and the daemon lives on.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires python3
start_daemon --proxy-timeout 2

name=imdisk-test-$$-$RANDOM
other=imdisk-test-$$-$RANDOM-b
third=imdisk-test-$$-$RANDOM-c
for n in "$name" "$other" "$third"; do
	on_cleanup "rm -f /dev/shm/$n /dev/shm/sem.${n}_Request /dev/shm/sem.${n}_Response"
done
wait_served() { # NAME: devio serves it
	for _ in $(seq 100); do [ -e "/dev/shm/$1" ] && [ -e "/dev/shm/sem.$1_Response" ] && return 0; sleep 0.05; done
	fail "devio does not serve shm:$1: $(tail -n 3 "$DEVIO_LOG")"
}
truncate -s 16M "$TEST_DIR/a.img" "$TEST_DIR/b.img" "$TEST_DIR/c.img"
start_devio "shm:$third" "$TEST_DIR/c.img"
wait_served "$third"
third_pid=$DEVIO_PID
start_devio "shm:$other" "$TEST_DIR/b.img"
wait_served "$other"
start_devio "shm:$name" "$TEST_DIR/a.img"
wait_served "$name"

ua=$(attach -t proxy -o shm -f "$name") || fail "no disk on shm:$name"
ub=$(attach -t proxy -o shm -f "$other") || fail "no disk on shm:$other"
uc=$(attach -t proxy -o shm -f "$third") || fail "no disk on shm:$third"
devc=$(unit_device "$uc")
deva=$(unit_device "$ua")
devb=$(unit_device "$ub")
random_file "$TEST_DIR/data" $((1 << 20))
dev_write "$TEST_DIR/data" "$deva"
dev_write "$TEST_DIR/data" "$devb"
dev_write "$TEST_DIR/data" "$devc"
cmp "$TEST_DIR/data" <(dev_read "$deva" $((1 << 20))) || fail "disk A does not read back"
cmp "$TEST_DIR/data" <(dev_read "$devc" $((1 << 20))) || fail "disk C does not read back"

truncate_object() { python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDWR); os.ftruncate(fd, 0)' "$1"; }
read_fails_eio() { # DEV WHAT
	if dd if="$1" of=/dev/null bs=4k count=1 skip=$((RANDOM % 4096)) iflag=direct status=none 2>"$TEST_DIR/dd.err"; then
		fail "$2: the read succeeded"
	fi
	grep -q "Input/output error" "$TEST_DIR/dd.err" || fail "$2: unexpected error: $(cat "$TEST_DIR/dd.err")"
}
daemon_lives() { # WHAT
	kill -0 "$DAEMON_PID" 2>/dev/null || fail "$1: imdiskd died: $(tail -n 5 "$TEST_DIR/imdiskd.log")"
	timeout 5 "$IMDISK" -l >/dev/null || fail "$1: imdisk -l does not answer"
	cmp "$TEST_DIR/data" <(dev_read "$devb" $((1 << 20))) || fail "$1: disk B does not read back"
}

truncate_object "/dev/shm/$name"
read_fails_eio "$deva" "section truncated"
daemon_lives "section truncated"
read_fails_eio "$deva" "section truncated, second read"
daemon_lives "second read"

truncate_object "/dev/shm/sem.${third}_Request"
read_fails_eio "$devc" "semaphore truncated"
daemon_lives "semaphore truncated"
kill -0 "$third_pid" 2>/dev/null || fail "the third devio died"

devio_alive
imdisk -D -u "$ua" >/dev/null || fail "imdisk -D -u $ua failed"
imdisk -D -u "$uc" >/dev/null || fail "imdisk -D -u $uc failed"
imdisk -d -u "$ub" >/dev/null || fail "imdisk -d -u $ub failed"
wait_detached "$devc" "unit$uc" || fail "$devc still attached"
wait_detached "$deva" "unit$ua" || fail "$deva still attached"
wait_detached "$devb" "unit$ub" || fail "$devb still attached"
