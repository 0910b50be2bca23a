#!/usr/bin/env bash
# SIGTERM while many control requests are in flight (create, query, list, remove
# of RAM disks and image file disks): imdiskd waits for its connection threads
# before it frees any disk, so it exits with status 0 and, on the ASan build, with
# no sanitizer report; every disk it created is either re-adopted by the next
# daemon (and then removed) or gone: no loop device is left behind.  Eight rounds.
. "$(dirname "$0")/functions.sh"
requires_root
requires losetup

WORKERS=12
ROUNDS=8
WORKER_PIDS=()
stop_workers() {
	touch "$TEST_DIR/stop"
	for p in "${WORKER_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	WORKER_PIDS=()
}
on_cleanup stop_workers

# One client: creates, queries, lists and removes disks until told to stop.
worker() {
	local img=$TEST_DIR/image-$1 u
	while [ ! -e "$TEST_DIR/stop" ]; do
		if u=$("$IMDISK" -a -n -s 1M 2>/dev/null); then
			"$IMDISK" -l -u "$u" >/dev/null 2>&1
			"$IMDISK" -d -u "$u" >/dev/null 2>&1
		fi
		"$IMDISK" -l >/dev/null 2>&1
		if u=$("$IMDISK" -a -n -f "$img" 2>/dev/null); then
			"$IMDISK" -l -u "$u" --json >/dev/null 2>&1
			"$IMDISK" -D -u "$u" >/dev/null 2>&1
		fi
	done
}

# The loop devices of this test's images still attached.
attached_images() { losetup -l -n -O NAME,BACK-FILE | grep -F "$TEST_DIR/image-" || true; }

for i in $(seq "$WORKERS"); do truncate -s 2M "$TEST_DIR/image-$i"; done
for round in $(seq "$ROUNDS"); do
	: >"$TEST_DIR/imdiskd.log"
	rm -f "$TEST_DIR/stop"
	chmod 0700 "$TEST_DIR"
	start_daemon
	# A daemon that a worker's imdisk would start by itself once ours is gone
	# refuses a socket folder its group may write to: only ours ever runs.
	chmod 0770 "$TEST_DIR"
	for i in $(seq "$WORKERS"); do
		worker "$i" &
		WORKER_PIDS+=($!)
	done
	sleep 1.$((RANDOM % 10))
	kill -TERM "$DAEMON_PID"
	rc=0
	timeout 20 tail --pid="$DAEMON_PID" -f /dev/null || fail "round $round: imdiskd did not stop in 20 s"
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	stop_workers
	grep -qE "AddressSanitizer|LeakSanitizer|runtime error|ThreadSanitizer" "$TEST_DIR/imdiskd.log" &&
		fail "round $round: sanitizer report: $(grep -m 3 -E 'Sanitizer|runtime error' "$TEST_DIR/imdiskd.log")"
	expect_eq 0 "$rc" "round $round: imdiskd's exit status at SIGTERM ($(tail -n 3 "$TEST_DIR/imdiskd.log"))"
	[ -e "$IMDISK_SOCKET.pid" ] && [ -n "$(cat "$IMDISK_SOCKET.pid")" ] &&
		kill -0 "$(cat "$IMDISK_SOCKET.pid")" 2>/dev/null &&
		[ "$(readlink /proc/"$(cat "$IMDISK_SOCKET.pid")"/exe)" = "$(readlink -f "$IMDISKD")" ] &&
		fail "round $round: a second imdiskd was started"

	# What the stopped daemon left is re-adopted, and goes when removed.
	chmod 0700 "$TEST_DIR"
	start_daemon
	for u in $(imdisk -l -n); do imdisk -D -u "$u" >/dev/null || fail "round $round: cannot remove unit $u"; done
	expect_eq "No virtual disks." "$(imdisk -l)" "round $round: disks after removing the re-adopted ones"
	for _ in $(seq 40); do [ -z "$(attached_images)" ] && break; sleep 0.05; done
	expect_eq "" "$(attached_images)" "round $round: loop devices left on this test's images"
	[ -z "$(ls -A "$TEST_DIR/state")" ] || fail "round $round: state left: $(ls -A "$TEST_DIR/state")"
	stop_daemon
	note "round $round: stopped cleanly"
done
exit 0
