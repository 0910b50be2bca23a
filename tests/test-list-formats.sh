#!/usr/bin/env bash
# imdisk -l: "No virtual disks." when there are none, one line per disk, -n unit
# numbers only, --json valid JSON with every key a program needs.
. "$(dirname "$0")/functions.sh"
requires_root
requires python3
start_daemon

expect_eq "No virtual disks." "$(imdisk -l)" "imdisk -l with no disks"
expect_eq "" "$(imdisk -l -n)" "imdisk -l -n with no disks"
imdisk -l --json | python3 -c 'import json, sys; json.load(sys.stdin)' || fail "--json with no disks is not JSON"

img=$TEST_DIR/disk.img
random_file "$img" 8M
u0=$(attach -s 16M)
u1=$(attach -f "$img" -b 1M -o ro)
dev0=$(unit_device "$u0")
dev1=$(unit_device "$u1")

out=$(imdisk -l)
# A heading and one line per disk.
[ "$(grep -c . <<<"$out")" -le 3 ] || fail "imdisk -l with two disks is more than three lines: $out"
expect_eq 1 "$(grep -cF "$dev0 " <<<"$out")" "lines of $dev0 in imdisk -l"
expect_eq 1 "$(grep -cF "$dev1 " <<<"$out")" "lines of $dev1 in imdisk -l"
grep -F "$dev1 " <<<"$out" | grep -qF "$img" || fail "imdisk -l does not show $dev1 with its image: $out"
grep -F "$dev0 " <<<"$out" | grep -q "16 MiB" || fail "imdisk -l does not show the size of $dev0: $out"
expect_eq "$(printf '%s\n%s' "$u0" "$u1")" "$(imdisk -l -n)" "imdisk -l -n"
imdisk -l -u "$u1" | grep -qF "$img" || fail "imdisk -l -u $u1 does not show the image"
imdisk -l -u "$u1" -n >/dev/null || fail "imdisk -l -u $u1 -n failed"

imdisk -l --json | python3 -c '
import json, sys
data = json.load(sys.stdin)
keys = ["unit", "device", "size", "mount_point", "image", "offset", "type", "backing",
        "sector_size", "geometry", "read_only", "removable", "modified", "sparse"]
disks = data if isinstance(data, list) else next(v for v in data.values() if isinstance(v, list))
assert len(disks) == 2, "%d disks in %s" % (len(disks), data)
for d in disks:
    missing = [k for k in keys if k not in d]
    assert not missing, "unit %s lacks %s" % (d.get("unit"), missing)
    for k in ("unit", "size", "offset", "sector_size"):
        assert type(d[k]) is int, "%s is not a number: %r" % (k, d[k])
    for k in ("read_only", "removable", "modified", "sparse"):
        assert type(d[k]) is bool, "%s is not true/false: %r" % (k, d[k])
    assert isinstance(d["geometry"], dict), "geometry is not an object: %r" % d["geometry"]
' || fail "imdisk -l --json lacks keys"

expect_eq "$u0" "$(disk_field "$u0" unit)" "JSON unit"
expect_eq "$dev0" "$(disk_field "$u0" device)" "JSON device"
expect_eq $((16 << 20)) "$(disk_field "$u0" size)" "JSON size"
expect_eq vm "$(disk_field "$u0" backing)" "JSON backing of a RAM disk"
expect_eq hd "$(disk_field "$u0" type)" "JSON type of a RAM disk"
expect_eq 512 "$(disk_field "$u0" sector_size)" "JSON sector_size"
expect_eq false "$(disk_field "$u0" read_only)" "JSON read_only of a RAM disk"
expect_eq null "$(disk_field "$u0" mount_point)" "JSON mount_point of an unmounted disk"
expect_eq "$img" "$(disk_field "$u1" image)" "JSON image"
expect_eq $((1 << 20)) "$(disk_field "$u1" offset)" "JSON offset"
expect_eq $((7 << 20)) "$(disk_field "$u1" size)" "JSON size of the window"
expect_eq file "$(disk_field "$u1" backing)" "JSON backing of a file disk"
expect_eq true "$(disk_field "$u1" read_only)" "JSON read_only with -o ro"

imdisk -d -u "$u0"
imdisk -d -u "$u1"
expect_eq "No virtual disks." "$(imdisk -l)" "imdisk -l at the end"
