#!/usr/bin/env bash
# -o awe: a RAM disk in locked memory.  JSON backing "awe", and imdiskd's VmLck
# grows by the disk's size (and falls back when it is removed).
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

vmlck() { awk '/^VmLck:/ { printf "%.0f\n", $2 * 1024 }' "/proc/$DAEMON_PID/status"; }
# AddressSanitizer turns mlock() into a no-op (it would lock the shadow memory
# too): in such a build VmLck cannot grow, so only the rest is checked.
locks=1
if grep -q __asan_init "$IMDISKD" || { command -v ldd >/dev/null && ldd "$IMDISKD" | grep -q libasan; }; then
	locks=
	note "imdiskd is built with AddressSanitizer (mlock is a no-op): VmLck not checked"
fi

before=$(vmlck)
u=$(attach -o awe -s 32M)
dev=$(unit_device "$u")
after=$(vmlck)
note "VmLck of imdiskd: $((before >> 10)) KiB, then $((after >> 10)) KiB"
[ -z "$locks" ] || [ $((after - before)) -ge $((32 << 20)) ] || fail "VmLck grew by $(((after - before) >> 10)) KiB, not 32 MiB"
expect_eq awe "$(disk_field "$u" backing)" "JSON backing"
expect_eq $((32 << 20)) "$(blockdev --getsize64 "$dev")" "size of the awe disk"
random_file "$TEST_DIR/data" 32M
dev_write "$TEST_DIR/data" "$dev"
cmp "$TEST_DIR/data" <(dev_read "$dev") || fail "data on the awe disk differs"

imdisk -d -u "$u"
for _ in $(seq 40); do [ "$(vmlck)" -lt $((before + (1 << 20))) ] && break; sleep 0.05; done
[ -z "$locks" ] || [ "$(vmlck)" -lt $((before + (1 << 20))) ] || fail "VmLck stays at $(($(vmlck) >> 10)) KiB after removal"

# Preloaded from an image: the image's bytes, locked.
random_file "$TEST_DIR/img" 16M
u=$(attach -o awe -f "$TEST_DIR/img")
[ -z "$locks" ] || [ $(($(vmlck) - before)) -ge $((16 << 20)) ] || fail "VmLck did not grow for -o awe -f"
cmp "$TEST_DIR/img" <(dev_read "$(unit_device "$u")") || fail "-o awe -f does not hold the image"
imdisk -d -u "$u"
