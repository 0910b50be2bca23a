#!/bin/bash
# imdisk-panel under Xvfb with a real imdiskd: the window comes up listing no disks;
# a disk made from the CLI appears in its list within two seconds (from the watch
# stream, no polling) and goes again when removed.  The rows are read from the
# panel's IMDISK_PANEL_ECHO copy.  (Driving the dialog and screenshots: not yet.)
. "$(dirname "$0")/functions.sh"
requires_root
requires Xvfb
PANEL=$BUILD/gui/imdisk-panel
[ -x "$PANEL" ] || skip "imdisk-panel not built (no GTK 4)"
start_daemon
export GDK_BACKEND=x11
# Our own Xvfb on a free display, so both processes are ours to stop by PID.
Xvfb -displayfd 3 -nolisten tcp 3>"$TEST_DIR/display" >/dev/null 2>&1 &
XVFB_PID=$!
on_cleanup "kill $XVFB_PID 2>/dev/null || true"
for _ in $(seq 50); do [ -s "$TEST_DIR/display" ] && break; sleep 0.1; done
[ -s "$TEST_DIR/display" ] || skip "Xvfb did not start"
IMDISK_PANEL_ECHO=1 DISPLAY=:$(cat "$TEST_DIR/display") "$PANEL" >"$TEST_DIR/panel.log" 2>&1 &
PANEL_PID=$!
on_cleanup "kill $PANEL_PID 2>/dev/null || true"
# wait_row PATTERN: the last row the panel showed matches, within two seconds.
wait_row() {
	for _ in $(seq 40); do
		kill -0 "$PANEL_PID" 2>/dev/null || fail "the panel exited: $(cat "$TEST_DIR/panel.log")"
		grep '^row: ' "$TEST_DIR/panel.log" | tail -n 1 | grep -qE -- "$1" && return 0
		sleep 0.05
	done
	fail "the panel's list never showed /$1/: $(tr "\t\n" " |" <"$TEST_DIR/panel.log")"
}
wait_row "^row: No virtual disks\.$"
unit=$(attach -s 8M)
dev=$(unit_device "$unit")
wait_row "^row: $unit	$dev	8\.0.MiB	RAM	"
imdisk -d -u "$unit"
wait_row "^row: No virtual disks\.$"
