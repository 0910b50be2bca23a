#!/usr/bin/env bash
# 32 RAM disks created at once, then removed at once: every call succeeds, the
# units are 0..31, and afterwards nothing is left: no disk, no loop device on an
# imdisk memfd, no descriptor in imdiskd, no mount.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

fd_count() { ls "/proc/$DAEMON_PID/fd" | wc -l; }
expect_eq "No virtual disks." "$(imdisk -l)" "list at the start"
fds_before=$(fd_count)

pids=()
for i in $(seq 0 31); do
	"$IMDISK" -a -n -s 8M >"$TEST_DIR/unit.$i" 2>"$TEST_DIR/err.$i" &
	pids+=($!)
done
for i in $(seq 0 31); do
	wait "${pids[$i]}" || fail "create $i failed: $(cat "$TEST_DIR/err.$i")"
done
units=$(cat "$TEST_DIR"/unit.* | sort -n | tr '\n' ' ')
expect_eq "$(seq 0 31 | tr '\n' ' ')" "$units" "units of the 32 disks"
expect_eq "$(seq 0 31)" "$(imdisk -l -n)" "imdisk -l -n"
devs=()
for u in $(seq 0 31); do
	d=$(unit_device "$u")
	expect_eq $((8 << 20)) "$(blockdev --getsize64 "$d")" "size of unit $u ($d)"
	devs+=("$d")
done
[ "$(printf '%s\n' "${devs[@]}" | sort -u | wc -l)" = 32 ] || fail "two units share a device: ${devs[*]}"
# Each disk is its own: a different marker on each.
for u in $(seq 0 31); do printf 'unit %02d' "$u" | dd of="${devs[$u]}" conv=fsync,notrunc status=none; done
for u in $(seq 0 31); do
	expect_eq "unit $(printf %02d "$u")" "$(head -c 7 "${devs[$u]}")" "marker of unit $u"
done

pids=()
for u in $(seq 0 31); do
	"$IMDISK" -d -u "$u" 2>"$TEST_DIR/err.$u" &
	pids+=($!)
done
for u in $(seq 0 31); do
	wait "${pids[$u]}" || fail "remove $u failed: $(cat "$TEST_DIR/err.$u")"
done

expect_eq "No virtual disks." "$(imdisk -l)" "list after removal"
for d in "${devs[@]}"; do
	wait_detached "$d" imdisk-memory || fail "$d is still attached to an imdisk memfd"
done
for _ in $(seq 40); do [ "$(fd_count)" -le "$fds_before" ] && break; sleep 0.05; done
expect_eq "$fds_before" "$(fd_count)" "imdiskd's descriptors after removing all disks"
awk -v d="$TEST_DIR" 'index($2, d) == 1' /proc/mounts | grep -q . && fail "a mount is left below $TEST_DIR"
[ -z "$(ls -A "$TEST_DIR/state")" ] || fail "state left behind: $(ls -A "$TEST_DIR/state")"
kill -0 "$DAEMON_PID" || fail "imdiskd died"
