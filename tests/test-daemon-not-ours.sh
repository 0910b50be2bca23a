#!/usr/bin/env bash
# imdiskd adopts only its own loop devices: one attached by someone else is never
# listed, even when a state file (forged from a real one) names it, and it stays
# attached.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

random_file "$TEST_DIR/foreign.img" 4M
foreign=$(losetup -f --show "$TEST_DIR/foreign.img")
on_cleanup "losetup -d $foreign 2>/dev/null"
foreign_loop=${foreign#/dev/loop}

random_file "$TEST_DIR/ours.img" 4M
u=$(attach -f "$TEST_DIR/ours.img")
ours=$(unit_device "$u")
kill_daemon
start_daemon
expect_eq "$u" "$(imdisk -l -n)" "units after a restart"
imdisk -l --json | grep -q "\"$foreign\"" && fail "the foreign $foreign is listed"

# Forge unit 7 from our state file: the foreign device, and even its inode.
state=$TEST_DIR/state
[ -f "$state/unit-$u" ] || fail "no state file $state/unit-$u"
sed -e "s|^unit=.*|unit=7|" -e "s|^loop=.*|loop=$foreign_loop|" -e "s|^device=.*|device=$foreign|" \
	-e "s|^backing_inode=.*|backing_inode=$(stat -c %i "$TEST_DIR/foreign.img")|" \
	"$state/unit-$u" >"$state/unit-7"
kill_daemon
start_daemon
expect_eq "$u" "$(imdisk -l -n)" "units after a restart with a forged state file"
imdisk -l --json | grep -q "\"$foreign\"" && fail "the foreign $foreign is listed"
expect_error "unit|not|no" 1 imdisk -l -u 7
expect_error "unit|not|no" 1 imdisk -d -u 7
[ -f "$state/unit-7" ] && fail "the forged state file was kept"
expect_eq "$TEST_DIR/foreign.img" "$(loop_backing "$foreign")" "the foreign device's backing file"
cmp "$TEST_DIR/foreign.img" "$foreign" || fail "the foreign device no longer reads its image"

# Ours still is ours.
expect_eq "$ours" "$(unit_device "$u")" "our device after the restarts"
imdisk -d -u "$u"
wait_detached "$ours" ours.img || fail "$ours still attached"
expect_eq "$TEST_DIR/foreign.img" "$(loop_backing "$foreign")" "the foreign device after removing ours"
