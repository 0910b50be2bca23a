#!/bin/bash
# imdisk-panel under Xvfb with a real imdiskd: the window comes up connected, stays up
# while a disk made from the CLI arrives on the watch stream and is removed again.
# (Only a smoke test: driving the dialog and screenshots are not done yet.)
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
DISPLAY=:$(cat "$TEST_DIR/display") "$PANEL" >"$TEST_DIR/panel.log" 2>&1 &
PANEL_PID=$!
on_cleanup "kill $PANEL_PID 2>/dev/null || true"
sleep 3
kill -0 "$PANEL_PID" || fail "the panel exited: $(cat "$TEST_DIR/panel.log")"
unit=$(attach -s 8M)
sleep 1
kill -0 "$PANEL_PID" || fail "the panel died on a create event: $(cat "$TEST_DIR/panel.log")"
imdisk -d -u "$unit"
sleep 1
kill -0 "$PANEL_PID" || fail "the panel died on a remove event: $(cat "$TEST_DIR/panel.log")"
