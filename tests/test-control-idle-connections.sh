#!/usr/bin/env bash
# A request begun and left unfinished is dropped after 10 s; an idle connection is
# not.  One user's idle control connections cannot take imdiskd from the others: of 500
# opened by nobody, the daemon keeps its per-user cap (64 by default, and what
# --max-connections-per-user says) and closes the rest at once, root's `imdisk -l`
# answers within a second meanwhile, and the daemon does not spin.  Out of
# descriptors (a low RLIMIT_NOFILE), the accept loop backs off and says so once
# instead of spinning, and serves again once the connections are gone.
. "$(dirname "$0")/functions.sh"
requires_root
requires python3 setpriv prlimit
# nobody may not reach root's python3 shims (pyenv): the system's, where there is one.
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
[ -x "$IMDISK" ] && as_nobody test -x "$IMDISK" || skip "nobody cannot run $IMDISK"

# Let nobody reach the socket: with --group where the daemon has it, else by mode.
daemon_options=()
"$IMDISKD" --help | grep -q -- '--group' && daemon_options=(--group nogroup)
open_socket() {
	chmod 755 "$TEST_DIR"
	[ ${#daemon_options[@]} -gt 0 ] || chmod 666 "$IMDISK_SOCKET"
}

# hold_connections N STATUS: as nobody, open N connections (a backlog still full
# after a second counts as refused, and from then on every one that would wait), then after 1.5 s write to STATUS how many
# the daemon still keeps open and how many it closed; then hold them until killed.
HOLDER_PID=
hold_connections() {
	# setpriv execs python: HOLDER_PID is python's own PID, to kill.
	setpriv --reuid=65534 --regid=65534 --clear-groups "$PYTHON" -c '
import select, socket, struct, sys, time
path, count = sys.argv[1], int(sys.argv[2])
held, refused = [], 0
for _ in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Wait (a second: a unix connect waits SO_SNDTIMEO) for a full backlog to
    # drain; once one wait failed, do not wait.
    if refused:
        s.setblocking(False)
    else:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 1, 0))
    try:
        s.connect(path)
        held.append(s)
    except (BlockingIOError, ConnectionRefusedError, TimeoutError, socket.timeout):
        s.close(); refused += 1
time.sleep(1.5)
closed = 0
for s in held:
    r, _, _ = select.select([s], [], [], 0)
    if r and s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
        closed += 1
print("open=%d closed=%d refused=%d" % (len(held) - closed, closed, refused), flush=True)
time.sleep(120)
' "$IMDISK_SOCKET" "$1" >"$2" &
	HOLDER_PID=$!
	on_cleanup "kill $HOLDER_PID 2>/dev/null"
	for _ in $(seq 100); do [ -s "$2" ] && return 0; sleep 0.1; done
	fail "the connections were not opened in 10 s"
}
release_connections() { kill "$HOLDER_PID" 2>/dev/null; wait "$HOLDER_PID" 2>/dev/null || true; HOLDER_PID=; }

# cpu_ticks: user + system clock ticks the daemon has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat"; }

# expect_low_cpu SECONDS WHAT: the daemon uses under a tenth of a core meanwhile.
expect_low_cpu() {
	local before after hz
	hz=$(getconf CLK_TCK)
	before=$(cpu_ticks)
	sleep "$1"
	after=$(cpu_ticks)
	[ $((after - before)) -le $(($1 * hz / 10)) ] ||
		fail "$2: imdiskd used $((after - before)) ticks of CPU in $1 s (spinning)"
}

# expect_quick_list WHAT: root's imdisk -l answers, within a second, what it should.
expect_quick_list() {
	local start end
	start=$(date +%s%N)
	expect_eq "$1" "$(imdisk -l -n)" "$2: units listed"
	end=$(date +%s%N)
	[ $(((end - start) / 1000000)) -lt 1000 ] || fail "$2: imdisk -l took $(((end - start) / 1000000)) ms"
}

# 0. The receive timeout: a request begun and not finished is dropped after 10 s;
# a connection idle between requests is kept.
start_daemon "${daemon_options[@]}"
result=$("$PYTHON" -c '
import select, socket, sys, time
idle, partial = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
idle.connect(sys.argv[1]); partial.connect(sys.argv[1])
partial.send(b"\x01\x02\x03")
start = time.monotonic()
closed_after = None
while time.monotonic() - start < 14:
    r, _, _ = select.select([partial], [], [], 0.2)
    if r and partial.recv(1) == b"":
        closed_after = time.monotonic() - start
        break
r, _, _ = select.select([idle], [], [], 0)
idle_open = not r
print("partial closed after %s s, idle %s" % (round(closed_after) if closed_after else "never",
      "open" if idle_open else "closed"))
' "$IMDISK_SOCKET")
expect_eq "partial closed after 10 s, idle open" "$result" "a half-sent request and an idle connection"
stop_daemon

# 1. The default cap: 64 of 500 kept, the rest closed at once.
start_daemon "${daemon_options[@]}"
open_socket
u=$(attach -s 8M)
hold_connections 500 "$TEST_DIR/status"
expect_eq "open=64 closed=436 refused=0" "$(cat "$TEST_DIR/status")" "nobody's 500 connections"
for _ in 1 2 3; do expect_quick_list "$u" "with nobody's connections held"; done
expect_low_cpu 2 "with nobody's connections held"
v=$(attach -s 8M)
expect_quick_list "$(printf '%s\n' "$u" "$v")" "a disk created meanwhile"
imdisk -d -u "$v" >/dev/null
release_connections
stop_daemon

# 2. --max-connections-per-user, and a daemon short of descriptors.
start_daemon "${daemon_options[@]}" --max-connections-per-user 1000
open_socket
expect_error "max-connections-per-user takes a number from 1 to 65536, not '0'" 1 \
	"$IMDISKD" --socket "$TEST_DIR/other" --max-connections-per-user 0
hold_connections 20 "$TEST_DIR/status-20"
expect_eq "open=20 closed=0 refused=0" "$(cat "$TEST_DIR/status-20")" "20 connections under a cap of 1000"
release_connections
prlimit --pid "$DAEMON_PID" --nofile=96:96
hold_connections 500 "$TEST_DIR/status-full"
note "out of descriptors: $(cat "$TEST_DIR/status-full")"
grep -q "refused=[1-9]" "$TEST_DIR/status-full" || fail "the daemon never ran out of descriptors"
expect_low_cpu 2 "out of descriptors"
expect_eq 1 "$(grep -c 'cannot accept a control connection: Too many open files' "$TEST_DIR/imdiskd.log")" \
	"lines saying the daemon is out of descriptors"
release_connections
for _ in $(seq 20); do [ "$(imdisk -l -n 2>/dev/null)" = "$u" ] && break; sleep 0.1; done
expect_quick_list "$u" "once the connections are gone"
imdisk -d -u "$u" >/dev/null
start=$(date +%s)
stop_daemon
[ $(($(date +%s) - start)) -le 6 ] || fail "the daemon took more than 6 s to stop"
exit 0
