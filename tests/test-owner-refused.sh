#!/usr/bin/env bash
# A disk is its creator's: another caller other than root is refused -d, -D, -R,
# -e -o ..., and -e -s (grow) with exit 15 and one line naming the owner, by imdisk
# and by imdiskd itself (asked directly through libimdisk, past imdisk's own check);
# the disk, its size and its data stay.  Root may do all of it; the owner may too;
# root's disks are refused to the others the same way.
. "$(dirname "$0")/functions.sh"
requires_callers
start_daemon --group nogroup

random_file "$TEST_DIR/data" 8M
u=$(as_nobody "$IMDISK" -a -n -s 8M)
dev=$(unit_device "$u")
dev_write "$TEST_DIR/data" "$dev"
refusal="^imdisk: error: unit $u belongs to uid $NOBODY_UID \(user nobody\); only its owner or root may change it$"

for action in "-d" "-D" "-R" "-e -o saved" "-e -o ro" "-e -o rem" "-e -s 1M"; do
	# shellcheck disable=SC2086 # the action is several words on purpose
	expect_error "$refusal" 15 as_other "$IMDISK" $action -u "$u"
done
expect_eq "$u" "$(imdisk -l -n)" "units after the refused requests"
expect_eq $((8 << 20)) "$(blockdev --getsize64 "$dev")" "size after the refused grow"
expect_eq false "$(disk_field "$u" read_only)" "read-only after the refused -e -o ro"
expect_eq false "$(disk_field "$u" removable)" "removable after the refused -e -o rem"

# imdiskd refuses by itself, whatever the client: the same line, -EPERM.
want="EPERM unit $u belongs to uid $NOBODY_UID (user nobody); only its owner or root may change it"
for call in "remove $u 0" "remove $u 1" "remove $u 2" "set-flags $u 1 1" "set-flags $u 0x10000 0" "grow $u 1048576"; do
	# shellcheck disable=SC2086
	expect_eq "$want" "$(as_other "$IMDISK_CALL" $call)" "imdiskd's answer to '$call' from uid $OTHER_UID"
done
expect_eq "$u" "$(imdisk -l -n)" "units after the refused library calls"
expect_eq $((8 << 20)) "$(blockdev --getsize64 "$dev")" "size after the refused library grow"
cmp "$TEST_DIR/data" <(dev_read "$dev") || fail "data changed by refused requests"

# The owner may change its own disk; so may root.
as_nobody "$IMDISK" -e -o rem -u "$u" >/dev/null
expect_eq true "$(disk_field "$u" removable)" "removable after the owner's -e -o rem"
imdisk -e -o fix -u "$u" >/dev/null
imdisk -e -s 1M -u "$u" >/dev/null
expect_eq $((9 << 20)) "$(blockdev --getsize64 "$dev")" "size after root's grow"
as_nobody "$IMDISK" -e -s 1M -u "$u" >/dev/null
expect_eq $((10 << 20)) "$(blockdev --getsize64 "$dev")" "size after the owner's grow"
cmp "$TEST_DIR/data" <(dev_read "$dev" $((8 << 20))) || fail "data lost by the grows"
imdisk -d -u "$u" >/dev/null
expect_eq "" "$(imdisk -l -n)" "units after root removed nobody's disk"

# Root's disk: refused to nobody, by imdisk and by imdiskd.
r=$(attach -s 8M)
rootrefusal="^imdisk: error: unit $r belongs to uid 0 \(user root\); only its owner or root may change it$"
for action in "-d" "-D" "-R" "-e -o saved" "-e -s 1M"; do
	# shellcheck disable=SC2086
	expect_error "$rootrefusal" 15 as_nobody "$IMDISK" $action -u "$r"
done
expect_eq "EPERM unit $r belongs to uid 0 (user root); only its owner or root may change it" \
	"$(as_nobody "$IMDISK_CALL" remove "$r" 2)" "imdiskd's answer to nobody removing root's disk"
expect_eq "$r" "$(imdisk -l -n)" "root's disk after nobody's attempts"
# Listing and querying stay open to everyone.
as_nobody "$IMDISK" -l -u "$r" >/dev/null || fail "nobody cannot query root's disk"
imdisk -R -u "$r" >/dev/null
