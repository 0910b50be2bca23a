#!/usr/bin/env bash
# -t proxy -o comm -f TTY:SETTINGS takes the serial settings devio takes
# ("115200,8,N,1", "9600,n,8,1", "baud=... parity=... data=... stop=..."): the line
# is set up as asked (stty sees it while the disk exists) and the disk works over
# it.  Bad settings are a usage error; a missing device or one that is no tty
# cannot be opened or set up (exit 7).  A socat pty pair plays the cable.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/devio-helpers.sh"
requires_root
requires socat stty
start_daemon

start_pty_pair

img=$TEST_DIR/disk.img
truncate -s 8M "$img"

# Refused before anything is opened or created.
expect_error "-o comm takes" 13 imdisk -a -t proxy -o comm -f "$TEST_DIR/b:115200,9,X"
expect_error "-o comm takes" 13 imdisk -a -t proxy -o comm -f "$TEST_DIR/b:12345"
expect_error "-o comm takes" 13 imdisk -a -t proxy -o comm -f ":115200"
expect_error "cannot open serial port $TEST_DIR/none" 7 imdisk -a -t proxy -o comm -f "$TEST_DIR/none:115200"
expect_error "cannot set up serial port $img" 7 imdisk -a -t proxy -o comm -f "$img:115200,8,N,1"
expect_eq "No virtual disks." "$(imdisk -l)" "list after refused attaches"

start_devio "$TEST_DIR/a:115200,8,N,1" "$img"
for _ in $(seq 200); do grep -q "serving on" "$DEVIO_LOG" && break; sleep 0.05; done
grep -q "serving on" "$DEVIO_LOG" || fail "devio did not start serving the line"

# check_line SETTINGS STTY-WORDS...: attach over b with SETTINGS, find each of
# STTY-WORDS in `stty -a` of b, write and read back 1 MiB, and remove the disk.
check_line() {
	local settings=$1 u dev line w; shift
	u=$(attach -t proxy -o comm -f "$TEST_DIR/b:$settings") || fail "attach with '$settings' failed"
	dev=$(unit_device "$u")
	expect_eq comm "$(disk_field "$u" proxy.kind)" "JSON proxy.kind with '$settings'"
	line=$(stty -F "$TEST_DIR/b" -a)
	for w in "$@"; do
		grep -qE -- "(^|[ ;])$w([ ;]|\$)" <<<"$line" || fail "with '$settings' stty shows no '$w': $line"
	done
	random_file "$TEST_DIR/data" 1M
	dev_write "$TEST_DIR/data" "$dev" 2
	cmp "$TEST_DIR/data" <(dd if="$dev" bs=1M skip=2 count=1 iflag=direct status=none) ||
		fail "data read back over the line set with '$settings' differs"
	imdisk -d -u "$u" >/dev/null
	cmp "$TEST_DIR/data" <(dd if="$img" bs=1M skip=2 count=1 status=none) ||
		fail "devio's image does not hold the data written with '$settings'"
}
# A pty keeps itself at cs8 and no parity whatever is asked: speed and stop bits
# are what stty can see of the settings.
check_line "115200,8,N,1" "speed 115200 baud" cs8 -cstopb clocal -crtscts
check_line "57600,E,7,2" "speed 57600 baud" cstopb
check_line "baud=9600 parity=o data=8 stop=1" "speed 9600 baud" -cstopb
check_line "115200" "speed 115200 baud"
devio_alive
expect_eq "No virtual disks." "$(imdisk -l)" "list at the end"
