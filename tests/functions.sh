# Shared helpers for tests/test-*.sh (sourced).  Every test runs its own private
# imdiskd (socket and state in a temporary folder), and cleans up by PID and by
# device on exit, whatever happened.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${IMDISK_BUILD:-$TOP/build}
IMDISK=$BUILD/imdisk
IMDISKD=$BUILD/imdiskd
DEVIO=$BUILD/devio
TEST_DIR=$(mktemp -d /tmp/imdisk-test.XXXXXX)
export IMDISK_SOCKET=$TEST_DIR/control
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
DAEMON_PID=
CLEANUP_COMMANDS=()

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "skipped: $*"; exit 77; }
note() { echo "# $*"; }

# Run a command to run at exit (last registered runs first).
on_cleanup() { CLEANUP_COMMANDS+=("$*"); }

requires() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip "needs $c"; done; }
requires_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }

# expect_exit CODE command...: the command must exit with exactly CODE.
expect_exit() {
	local want=$1 rc=0; shift
	"$@" || rc=$?
	[ "$rc" = "$want" ] || fail "expected exit $want, got $rc from: $*"
}

# expect_stderr PATTERN CODE command...: exit code and a matching message.
expect_error() {
	local pattern=$1 want=$2 rc=0 err; shift 2
	err=$("$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" = "$want" ] || fail "expected exit $want, got $rc from: $* ($err)"
	grep -qiE -- "$pattern" <<<"$err" || fail "message '$err' does not match /$pattern/ from: $*"
	[ "$(wc -l <<<"$err")" -le 2 ] || fail "error is more than one line: $err"
}

imdisk() { "$IMDISK" "$@"; }

# Callers other than root.  The daemon is started with --group nogroup; requires_callers
# opens $TEST_DIR (0700 from mktemp) to them and makes $NOBODY_DIR.  nobody (65534), and a second uid with no
# user name (65533) as "someone else"; both in group nogroup, as members of --group.
NOBODY_UID=65534
OTHER_UID=65533
IMDISK_CALL=$BUILD/tests/tools/imdisk-call
as_uid() { local uid=$1; shift; setpriv --reuid="$uid" --regid=65534 --groups=65534 "$@"; }
as_nobody() { as_uid "$NOBODY_UID" "$@"; }
as_other() { as_uid "$OTHER_UID" "$@"; }
requires_callers() {
	requires_root
	requires setpriv
	getent group nogroup >/dev/null || skip "needs a group nogroup"
	chmod 755 "$TEST_DIR"
	as_nobody test -x "$IMDISK" || skip "nobody cannot run $IMDISK"
	NOBODY_DIR=$TEST_DIR/nobody # a folder of nobody's, for its images
	install -d -o "$NOBODY_UID" -g 65534 -m 700 "$NOBODY_DIR"
}

# True when something accepts connections on unix socket $1 (a socket file left
# by a killed daemon refuses them).
socket_answers() {
	if command -v socat >/dev/null 2>&1; then
		socat -u /dev/null "UNIX-CONNECT:$1" 2>/dev/null
	else
		python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$1" 2>/dev/null
	fi
}

start_daemon() {
	"$IMDISKD" --socket "$IMDISK_SOCKET" --foreground "$@" >>"$TEST_DIR/imdiskd.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 100); do
		[ -S "$IMDISK_SOCKET" ] && socket_answers "$IMDISK_SOCKET" && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$TEST_DIR/imdiskd.log" >&2; fail "imdiskd exited at start"; }
		sleep 0.05
	done
	fail "imdiskd did not create $IMDISK_SOCKET"
}

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
}

kill_daemon() { # SIGKILL, as a crash would
	[ -n "$DAEMON_PID" ] || return 0
	kill -KILL "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
}

# loop_identity DEV: "MAJ:MIN INODE" of DEV's backing file ("" when detached).
# Every RAM disk's backing is a memfd of the same name, whichever daemon made it:
# the inode tells one from another.
loop_identity() { losetup -n -O BACK-MAJ:MIN,BACK-INO --list "$1" 2>/dev/null | awk '{ print $1, $2 }'; }

# The /dev/loopN of a unit.  It also notes the identity of the device's backing
# in the test folder, for wait_detached.
unit_device() {
	local dev
	dev=$("$IMDISK" -l -u "$1" --json | sed -n 's/.*"device": *"\([^"]*\)".*/\1/p' | head -n 1)
	if [ -n "$dev" ]; then echo "$dev $(loop_identity "$dev")" >>"$TEST_DIR/loop-identities"; fi
	echo "$dev"
}

# Fill a file with random bytes.
random_file() { head -c "$2" /dev/urandom >"$1"; }

# attach ARGS...: imdisk -a -n ARGS...; prints the new disk's unit number.
attach() { "$IMDISK" -a -n "$@"; }

# expect_eq WANT GOT WHAT: exact string comparison.
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"; }

# disk_field UNIT KEY: one value of the disk's `imdisk -l -u UNIT --json` object
# (KEY may be a dotted path: geometry.cylinders).  Strings print bare; numbers,
# true, false and null as JSON.  Fails when the key is missing.
disk_field() {
	"$IMDISK" -l -u "$1" --json | python3 -c '
import json, sys
unit, path = int(sys.argv[1]), sys.argv[2]
def find(d):
    if isinstance(d, dict):
        if d.get("unit") == unit:
            return d
        d = list(d.values())
    if isinstance(d, list):
        for v in d:
            r = find(v) if isinstance(v, (dict, list)) else None
            if r is not None:
                return r
    return None
disk = find(json.load(sys.stdin))
if disk is None:
    sys.exit("no unit %d in the JSON" % unit)
v = disk
for k in path.split("."):
    if not isinstance(v, dict) or k not in v:
        sys.exit("no key %s in %s" % (path, json.dumps(disk)))
    v = v[k]
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# dev_write FILE DEV [SEEK_MIB]: write FILE to DEV (at SEEK_MIB MiB), past the cache.
dev_write() { dd if="$1" of="$2" bs=1M seek="${3:-0}" oflag=direct conv=fsync,notrunc status=none; }

# dev_read DEV [BYTES]: the device's content (first BYTES) on stdout, past the cache.
dev_read() {
	if [ -n "${2:-}" ]; then
		dd if="$1" bs=1M iflag=direct,count_bytes count="$2" status=none
	else
		dd if="$1" bs=1M iflag=direct status=none
	fi
}

# loop_backing DEV: the backing file the kernel names for DEV ("" when detached).
loop_backing() { cat "/sys/block/${1#/dev/}/loop/backing_file" 2>/dev/null || true; }

# wait_detached DEV [PATTERN]: poll (3 s) until DEV no longer has a backing file
# (matching PATTERN when given: the device may be reused by someone else at once).
# When unit_device named DEV, a backing of another identity is someone else's too:
# tests run in parallel, and another test's RAM disk may take the number at once.
wait_detached() {
	local b id ours
	ours=$(awk -v d="$1" '$1 == d { w = $2 " " $3 } END { print w }' "$TEST_DIR/loop-identities" 2>/dev/null)
	for _ in $(seq 60); do
		b=$(loop_backing "$1")
		[ -z "$b" ] && return 0
		[ -n "${2:-}" ] && ! grep -q -- "$2" <<<"$b" && return 0
		if [ -n "${ours// /}" ]; then
			id=$(loop_identity "$1")
			[ -n "$id" ] && [ "$id" != "$ours" ] && return 0
		fi
		sleep 0.05
	done
	return 1
}

_cleanup() {
	local rc=$?
	set +e
	for ((i = ${#CLEANUP_COMMANDS[@]} - 1; i >= 0; i--)); do eval "${CLEANUP_COMMANDS[$i]}"; done
	# Unmount whatever is still mounted below the test folder.
	awk -v d="$TEST_DIR" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m"; done
	# The daemon of this test: the one we started, or one imdisk started by
	# itself (it records its PID beside the socket).
	local pid=$DAEMON_PID
	if [ -z "$pid" ] && [ -s "$IMDISK_SOCKET.pid" ]; then
		pid=$(cat "$IMDISK_SOCKET.pid")
		[ "$(readlink /proc/"$pid"/exe 2>/dev/null)" = "$(readlink -f "$IMDISKD")" ] || pid=
	fi
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		for u in $("$IMDISK" -l -n 2>/dev/null); do "$IMDISK" -R -u "$u" >/dev/null 2>&1; done
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		[ "$pid" = "$DAEMON_PID" ] && wait "$pid" 2>/dev/null
		DAEMON_PID=
	fi
	# A disk whose daemon died is still described in the state folder: detach it.
	for f in "$TEST_DIR"/state/unit-*; do
		[ -f "$f" ] || continue
		dev=$(sed -n 's/^device=//p' "$f")
		[ -n "$dev" ] && losetup -d "$dev" 2>/dev/null
	done
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -s "$TEST_DIR/imdiskd.log" ]; then
		echo "--- imdiskd.log" >&2; tail -n 30 "$TEST_DIR/imdiskd.log" >&2
	fi
	rm -rf "$TEST_DIR"
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM
