#!/usr/bin/env bash
# imdiskd trusts no state file it has not checked: a forged or damaged one
# (sector_size=0, an absurd size, garbage), a state file that is a symbolic link, or
# a state folder others may write to is reported in one line naming what is wrong,
# skipped, and the daemon keeps serving.  The pid file is never opened through a
# link nor kept in a folder others may write to: the daemon refuses to start.
. "$(dirname "$0")/functions.sh"
requires_root
requires losetup

state=$TEST_DIR/state
log=$TEST_DIR/imdiskd.log
ORPHANS=()

# A RAM disk's device that a daemon refused to re-adopt is still attached: detach
# it, but only while it still is that disk (same backing inode).
remember_orphan() { ORPHANS+=("$1:$(losetup -n -O BACK-INO "$1" | tr -d ' ')"); }
release_orphans() {
	local o dev ino
	for o in "${ORPHANS[@]}"; do
		dev=${o%%:*} ino=${o#*:}
		[ "$(losetup -n -O BACK-INO "$dev" 2>/dev/null | tr -d ' ')" = "$ino" ] && losetup -d "$dev"
	done
	ORPHANS=()
}
on_cleanup release_orphans

# expect_log PATTERN WHAT: the daemon's log has a line matching PATTERN.
expect_log() { grep -qE -- "$1" "$log" || fail "$2: no line /$1/ in the log: $(tail -n 5 "$log")"; }

# write_and_check UNIT: data written to the disk reads back.
write_and_check() {
	local dev
	dev=$(unit_device "$1")
	random_file "$TEST_DIR/data" 1M
	dev_write "$TEST_DIR/data" "$dev"
	cmp "$TEST_DIR/data" <(dev_read "$dev" $((1 << 20))) || fail "unit $1 does not read back what was written"
}

# 1. Forged and damaged values.
start_daemon
zero=$(attach -s 16M)
absurd=$(attach -s 16M)
remember_orphan "$(unit_device "$zero")"
remember_orphan "$(unit_device "$absurd")"
stop_daemon
sed -i 's/^sector_size=.*/sector_size=0/' "$state/unit-$zero"
sed -i 's/^size=.*/size=18446744073709551615/' "$state/unit-$absurd"
head -c 3000 /dev/urandom >"$state/unit-77"
: >"$log"
start_daemon
expect_log "unit-$zero skipped: sector_size=0 is not a power of two" "sector_size=0"
expect_log "unit-$absurd skipped: size=18446744073709551615 is out of range" "an absurd size"
expect_log "unit-77 skipped: " "a garbage state file"
expect_eq 3 "$(grep -c 'skipped: ' "$log")" "lines reporting skipped state files"
expect_eq "No virtual disks." "$(imdisk -l)" "disks after forged state files"
# What divided by zero before: growing the disk of sector size 0.
expect_error "no virtual disk has unit $zero" 1 imdisk -e -s 1M -u "$zero"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "imdiskd died"
for f in "$zero" "$absurd" 77; do [ -e "$state/unit-$f" ] && fail "state file unit-$f kept"; done
fresh=$(attach -s 8M)
write_and_check "$fresh"
release_orphans

# 2. A state file that is a symbolic link (to a good state file elsewhere).
remember_orphan "$(unit_device "$fresh")"
stop_daemon
mkdir "$TEST_DIR/elsewhere"
mv "$state/unit-$fresh" "$TEST_DIR/elsewhere/unit-$fresh"
cp "$TEST_DIR/elsewhere/unit-$fresh" "$TEST_DIR/target-before"
ln -s "$TEST_DIR/elsewhere/unit-$fresh" "$state/unit-$fresh"
: >"$log"
start_daemon
expect_log "unit-$fresh skipped: file unit-$fresh is a symbolic link" "a linked state file"
expect_eq "No virtual disks." "$(imdisk -l)" "disks after a linked state file"
[ -L "$state/unit-$fresh" ] && fail "the link was kept"
cmp "$TEST_DIR/target-before" "$TEST_DIR/elsewhere/unit-$fresh" || fail "the link's target changed"
release_orphans

# 3. A state folder its group may write to: no state read or written, disks served.
kept=$(attach -s 8M)
kept_dev=$(unit_device "$kept")
remember_orphan "$kept_dev"
stop_daemon
cp "$state/unit-$kept" "$TEST_DIR/kept-before"
chmod 0770 "$state"
: >"$log"
start_daemon
expect_log "directory $state is writable by its group.*neither read nor saved" "a group-writable state folder"
expect_eq "No virtual disks." "$(imdisk -l)" "disks with a group-writable state folder"
other=$(attach -s 8M)
remember_orphan "$(unit_device "$other")"
write_and_check "$other"
expect_eq "unit-$kept" "$(ls "$state")" "files in the untrusted state folder"
cmp "$TEST_DIR/kept-before" "$state/unit-$kept" || fail "the state file in the untrusted folder changed"
imdisk -d -u "$other" >/dev/null
stop_daemon
# Once the folder is ours again, the file was only skipped: the disk comes back.
chmod 0700 "$state"
start_daemon
expect_eq "$kept" "$(imdisk -l -n)" "units once the state folder is ours again"
expect_eq "$kept_dev" "$(unit_device "$kept")" "device of the re-adopted disk"
imdisk -d -u "$kept" >/dev/null
ORPHANS=()
stop_daemon

# 4. The pid file: not through a link, not in a folder others may write to.
echo "precious" >"$TEST_DIR/victim"
rm -f "$IMDISK_SOCKET.pid"
ln -s "$TEST_DIR/victim" "$IMDISK_SOCKET.pid"
rc=0
err=$(timeout 5 "$IMDISKD" --socket "$IMDISK_SOCKET" --foreground 2>&1) || rc=$?
expect_eq 1 "$rc" "exit status with a linked pid file"
grep -q "control.pid is a symbolic link" <<<"$err" || fail "message for a linked pid file: $err"
expect_eq "precious" "$(cat "$TEST_DIR/victim")" "the linked pid file's target"
rm -f "$IMDISK_SOCKET.pid"
chmod 0777 "$TEST_DIR"
rc=0
err=$(timeout 5 "$IMDISKD" --socket "$IMDISK_SOCKET" --foreground 2>&1) || rc=$?
chmod 0700 "$TEST_DIR"
expect_eq 1 "$rc" "exit status with a world-writable socket folder"
grep -q "directory $TEST_DIR is writable by its group" <<<"$err" || fail "message for the socket folder: $err"
[ -e "$IMDISK_SOCKET.pid" ] && fail "a pid file was made in the untrusted folder"
exit 0
