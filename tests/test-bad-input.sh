#!/usr/bin/env bash
# Wrong input gets ImDisk's exit codes and a one-line reason, and leaves nothing
# behind: bad sizes 10, too much memory 11, unusable images 3, no such disk 1,
# a busy disk 2, bad syntax 13 (with the usage).
. "$(dirname "$0")/functions.sh"
requires_root
requires mkfs.ext4
start_daemon

# Sizes that do not parse.
for s in 12x 1.5G "" 0 -0 4MM 10%% 101% " 4M" 4M5; do
	expect_error "size" 10 imdisk -a -s "$s"
done
expect_error "offset" 10 imdisk -a -f /dev/null -b 1.5M
# A size past memory.
expect_error "memory" 11 imdisk -a -s 100T
expect_eq "No virtual disks." "$(imdisk -l)" "list after -s 100T"

# Unusable images: the path is in the message.
random_file "$TEST_DIR/small.img" 1M
expect_error "offset|past|end" 3 imdisk -a -f "$TEST_DIR/small.img" -b 2M
expect_error "$TEST_DIR/nope.img" 3 imdisk -a -f "$TEST_DIR/nope.img"
[ -e "$TEST_DIR/nope.img" ] && fail "a missing image was created without -s"
mkdir "$TEST_DIR/dir"
expect_error "$TEST_DIR/dir" 3 imdisk -a -f "$TEST_DIR/dir"
expect_error "$TEST_DIR/dir" 3 imdisk -a -t vm -f "$TEST_DIR/dir"
expect_eq "No virtual disks." "$(imdisk -l)" "list after the refused images"
[ -z "$(losetup -j "$TEST_DIR/small.img")" ] || fail "a loop device is left on small.img"

# No such disk.
expect_error "77" 1 imdisk -d -u 77
expect_error "77" 1 imdisk -D -u 77
expect_error "77" 1 imdisk -R -u 77
expect_error "77" 1 imdisk -l -u 77
expect_error "77" 1 imdisk -e -u 77 -o ro
expect_error "77" 1 imdisk -e -u 77 -s 1M
# -d -m on a folder that is no mount point, and on a mount that is not a disk of ours.
mkdir "$TEST_DIR/plain" "$TEST_DIR/tmpfs"
expect_error "$TEST_DIR/plain" 1 imdisk -d -m "$TEST_DIR/plain"
mount -t tmpfs none "$TEST_DIR/tmpfs"
expect_error "$TEST_DIR/tmpfs" 1 imdisk -d -m "$TEST_DIR/tmpfs"
mountpoint -q "$TEST_DIR/tmpfs" || fail "imdisk -d -m unmounted a tmpfs that is not its own"
umount "$TEST_DIR/tmpfs"
expect_error "$TEST_DIR/nothing" 1 imdisk -d -m "$TEST_DIR/nothing"

# A busy disk: mounted by hand, a file open on it.  -d refuses (2) and keeps it;
# -D removes it.
u=$(attach -s 16M -p ext4)
dev=$(unit_device "$u")
mkdir "$TEST_DIR/m"
mount "$dev" "$TEST_DIR/m"
on_cleanup "umount -l $TEST_DIR/m 2>/dev/null"
exec 4>"$TEST_DIR/m/open-file"
expect_error "busy|use" 2 imdisk -d -u "$u"
expect_eq "$u" "$(imdisk -l -n)" "units after a refused -d"
mountpoint -q "$TEST_DIR/m" || fail "a refused -d unmounted the disk"
echo still-works >&4
imdisk -D -u "$u"
expect_eq "No virtual disks." "$(imdisk -l)" "list after -D"
mountpoint -q "$TEST_DIR/m" && fail "-D left the mount"
exec 4>&-
wait_detached "$dev" imdisk-memory || fail "$dev still attached after -D and the last close"

# Bad syntax: exit 13 and the usage.
for args in "-Z" "-a -s 1M -o bogus" "-a -d" "-l -s 1M" "" "-d" "-a -t disk -s 1M" "-a -S 1000 -s 1M" "--frobnicate"; do
	rc=0
	# shellcheck disable=SC2086
	"$IMDISK" $args >"$TEST_DIR/out" 2>"$TEST_DIR/err" || rc=$?
	[ "$rc" = 13 ] || fail "imdisk $args: exit $rc, not 13 ($(cat "$TEST_DIR/err"))"
	[ "$(wc -l <"$TEST_DIR/err")" = 1 ] || fail "imdisk $args: not one line of error: $(cat "$TEST_DIR/err")"
	grep -q "Usage:" "$TEST_DIR/out" "$TEST_DIR/err" || fail "imdisk $args does not show the usage"
done
"$IMDISK" -Z >"$TEST_DIR/out" 2>"$TEST_DIR/err" || true
grep -q -- "-Z" "$TEST_DIR/err" || fail "imdisk -Z does not name the switch: $(cat "$TEST_DIR/err")"
help=$("$IMDISK" --help) || fail "--help failed"
grep -q "imdisk -a" <<<"$help" || fail "--help does not show the usage"
expect_eq "No virtual disks." "$(imdisk -l)" "list at the end"
kill -0 "$DAEMON_PID" || fail "imdiskd died"
