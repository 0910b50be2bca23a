#!/usr/bin/env bash
# -a -o fix makes a floppy fixed from the start: with -o fd, and with a floppy
# chosen by size (image or RAM); -l and --json say so, the disk stays a floppy,
# and -e -o rem/fix still turn it either way.  Without fix a floppy is removable.
. "$(dirname "$0")/functions.sh"
requires_root
start_daemon

img=$TEST_DIR/floppy.img
truncate -s 1440K "$img"

# -o fd,fix on a RAM disk that is no floppy size: fd is what was asked, fixed too.
u=$(attach -s 4M -o fd,fix)
expect_eq fd "$(disk_field "$u" type)" "JSON type with -o fd,fix"
expect_eq false "$(disk_field "$u" removable)" "JSON removable with -o fd,fix"
imdisk -l -u "$u" | grep -qw fixed || fail "-l does not say fixed: $(imdisk -l -u "$u")"
imdisk -l -u "$u" | grep -qw removable && fail "-l says removable with -o fd,fix: $(imdisk -l -u "$u")"
# The -e path turns it removable and back, as on any disk.
imdisk -e -o rem -u "$u"
expect_eq true "$(disk_field "$u" removable)" "JSON removable after -e -o rem"
imdisk -e -o fix -u "$u"
expect_eq false "$(disk_field "$u" removable)" "JSON removable after -e -o fix"
imdisk -d -u "$u"

# A floppy by its size (1440 KiB image), with fix: still a floppy, fixed.
u=$(attach -f "$img" -o fix)
expect_eq fd "$(disk_field "$u" type)" "JSON type of a 1440 KiB image with -o fix"
expect_eq false "$(disk_field "$u" removable)" "JSON removable of a 1440 KiB image with -o fix"
expect_eq 18 "$(disk_field "$u" geometry.sectors_per_track)" "floppy sectors per track with -o fix"
imdisk -d -u "$u"

# The same size as a RAM disk.
u=$(attach -s 1440K -o fix)
expect_eq fd "$(disk_field "$u" type)" "JSON type of a 1440 KiB RAM disk with -o fix"
expect_eq false "$(disk_field "$u" removable)" "JSON removable of a 1440 KiB RAM disk with -o fix"
imdisk -d -u "$u"

# Without fix a floppy is removable, as ImDisk makes it; rem and fix exclude each other.
u=$(attach -s 4M -o fd)
expect_eq true "$(disk_field "$u" removable)" "JSON removable with -o fd"
imdisk -d -u "$u"
expect_error "rem|fix" 13 imdisk -a -s 1440K -o rem,fix
expect_eq "No virtual disks." "$(imdisk -l)" "list at the end"
