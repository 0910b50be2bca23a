#!/usr/bin/env bash
# libimdisk is usable on its own: a program built against imdisk.h and
# libimdisk.so alone creates, queries, watches and removes a RAM disk.
source "$(dirname "$0")/functions.sh"
requires_root
requires cc
start_daemon

cat >"$TEST_DIR/client.c" <<'C'
#include <imdisk.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	struct imdisk_client *client, *watcher;
	struct imdisk_device disk = {.unit = IMDISK_AUTO_UNIT, .flags = IMDISK_TYPE_VM, .size = 8 << 20};
	struct imdisk_event event;
	uint32_t units[8];
	int r;

	if (imdisk_connect(NULL, &client) < 0 || imdisk_connect(NULL, &watcher) < 0)
		return 10;
	if (imdisk_watch(watcher) < 0)
		return 11;
	r = imdisk_create(client, &disk, -1);
	if (r < 0)
		return 12;
	if (imdisk_watch_next(watcher, &event, 5000) < 0 || event.kind != IMDISK_EVENT_CREATE ||
	    event.unit != disk.unit)
		return 13;
	printf("%u %s %llu\n", disk.unit, disk.device, (unsigned long long)disk.size);
	if (imdisk_list(client, units, 8) != 1 || units[0] != disk.unit)
		return 14;
	if (imdisk_remove(client, disk.unit, IMDISK_REMOVE_NORMAL) < 0)
		return 15;
	if (imdisk_watch_next(watcher, &event, 5000) < 0 || event.kind != IMDISK_EVENT_REMOVE)
		return 16;
	r = imdisk_query(client, disk.unit, &disk);
	if (r != -2 || strstr(imdisk_error_message(client), "no disk") == NULL)
		return 17;
	imdisk_disconnect(watcher);
	imdisk_disconnect(client);
	return 0;
}
C
# A sanitizer build's library needs its runtime in the program too.
sanitize=
# (Not `ldd | grep -q`: grep leaves at the first match, ldd's next line then
# gets SIGPIPE, and with pipefail the test would sometimes miss the runtime.)
grep -q libasan <<<"$(ldd "$BUILD/libimdisk.so")" && sanitize=-fsanitize=address,undefined
cc -Wall -Werror $sanitize -I"$TOP/lib" -o "$TEST_DIR/client" "$TEST_DIR/client.c" -L"$BUILD" -limdisk \
	-Wl,-rpath,"$BUILD" || fail "a program does not build against imdisk.h and libimdisk"
out=$("$TEST_DIR/client") || fail "libimdisk client failed with exit $?"
read -r unit device size <<<"$out"
[ "$unit" = 0 ] || fail "unit $unit, expected 0"
[ "$size" = $((8 << 20)) ] || fail "size $size"
case "$device" in /dev/loop*) ;; *) fail "device '$device'" ;; esac
[ "$("$IMDISK" -l)" = "No virtual disks." ] || fail "the disk is still listed"
