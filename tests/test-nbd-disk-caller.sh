#!/usr/bin/env bash
# A caller other than root makes an NBD disk with its own rights: on a socket it
# may use the disk is made (every multi-conn connection too) and is its own; on
# one it may not use, imdisk stops with exit 7 and imdiskd (root) does not
# connect in its place.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/nbd-helpers.sh"
requires_root
requires_callers
start_daemon --group nogroup
pub=$TEST_DIR/pub
install -d -m 755 "$pub"
start_nbdkit_unix "$pub/nbd.sock" --filter=log memory 64M logfile="$TEST_DIR/connections.log"

chmod 666 "$pub/nbd.sock"
unit=$(as_nobody "$IMDISK" -a -n -f "nbd+unix:///?socket=$pub/nbd.sock")
expect_eq "$NOBODY_UID" "$(disk_field "$unit" owner.uid)" "owner of the NBD disk"
expect_eq 4 "$(grep -c ' Connect export=""' "$TEST_DIR/connections.log")" "connections opened"
dev=$(unit_device "$unit")
random_file "$TEST_DIR/data" 1M
dev_write "$TEST_DIR/data" "$dev"
cmp <(server_bytes "nbd+unix:///?socket=$pub/nbd.sock" 0 $((1 << 20))) "$TEST_DIR/data" || fail "data on the server differs"

chmod 600 "$pub/nbd.sock"
before=$(grep -c ' Connect ' "$TEST_DIR/connections.log")
expect_error "cannot connect to NBD server $pub/nbd.sock: Permission denied" 7 \
	as_nobody "$IMDISK" -a -f "nbd+unix:///?socket=$pub/nbd.sock"
expect_eq "$before" "$(grep -c ' Connect ' "$TEST_DIR/connections.log")" "connections after a refused caller"

as_nobody "$IMDISK" -d -u "$unit" || fail "the owner could not remove its NBD disk"
wait_detached "$dev" || fail "$dev still attached after removal"
echo "ok"
