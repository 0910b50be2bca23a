#!/usr/bin/env bash
# Growing a file disk extends its image with the caller's rights, never imdiskd's:
# on a file system whose reserved blocks only root may use (ext4 -m 50), a caller
# other than root who asks for more than its share gets ENOSPC (exit 2), and the
# image and the disk keep their size, though imdiskd, as root, could have taken the
# reserved blocks.  imdiskd asked directly to grow past the image's end refuses and
# does not extend the file.  Creating a disk larger than its image is held to the
# same rights.  A grow within the caller's room works, and the data
# written before and after it is all in the image.
. "$(dirname "$0")/functions.sh"
requires_callers
requires mkfs.ext4
start_daemon --group nogroup

fs=$TEST_DIR/fs
fsunit=$(attach -s 64M -p "ext4 -q -m 50" -m "$fs")
install -d -o "$NOBODY_UID" -g 65534 "$fs/nobody"
img=$fs/nobody/disk.img
random_file "$TEST_DIR/data" 4M
random_file "$TEST_DIR/more" 4M
as_nobody dd if="$TEST_DIR/data" of="$img" bs=1M status=none conv=fsync
u=$(as_nobody "$IMDISK" -a -n -f "$img")
dev=$(unit_device "$u")

# An amount between what nobody may use and what root may.
read -r avail free bsize < <(stat -f -c '%a %f %S' "$fs")
amount=$(( (avail * bsize + (free - avail) * bsize / 2) >> 20 ))
[ $((amount << 20)) -gt $((avail * bsize)) ] && [ $((amount << 20)) -lt $((free * bsize - (4 << 20))) ] ||
	skip "no room between the caller's and root's free space ($avail/$free blocks of $bsize)"
expect_error "cannot extend image $img to .*: No space left on device" 2 \
	as_nobody "$IMDISK" -e -s "${amount}M" -u "$u"
expect_eq $((4 << 20)) "$(stat -c %s "$img")" "image size after the grow nobody has no room for"
expect_eq $((4 << 20)) "$(blockdev --getsize64 "$dev")" "disk size after the grow nobody has no room for"

# The same at create time: a disk larger than its image extends it with nobody's rights.
as_nobody dd if="$TEST_DIR/data" of="$fs/nobody/small.img" bs=1M status=none conv=fsync
expect_error "cannot extend image $fs/nobody/small.img to .*: No space left on device" 3 \
	as_nobody "$IMDISK" -a -f "$fs/nobody/small.img" -s "${amount}M"
expect_eq $((4 << 20)) "$(stat -c %s "$fs/nobody/small.img")" "image size after the create nobody has no room for"
expect_eq "$fsunit $u" "$(imdisk -l -n | xargs)" "disks after the create nobody has no room for"
rm -f "$fs/nobody/small.img"

# imdiskd itself only checks the image's length: it never extends it.
expect_eq "EINVAL image $img is 4194304 bytes, 5242880 needed: extend it first (imdisk -e -s does, with your rights)" \
	"$(as_nobody "$IMDISK_CALL" grow "$u" 1048576)" "imdiskd's answer to a grow past the image's end"
expect_eq $((4 << 20)) "$(stat -c %s "$img")" "image size after asking imdiskd alone"
expect_eq $((4 << 20)) "$(blockdev --getsize64 "$dev")" "disk size after asking imdiskd alone"

# Within nobody's room: the image grows (allocated, by nobody), the disk with it.
as_nobody "$IMDISK" -e -s 4M -u "$u" >/dev/null
expect_eq $((8 << 20)) "$(stat -c %s "$img")" "image size after the grow"
expect_eq $((8 << 20)) "$(blockdev --getsize64 "$dev")" "disk size after the grow"
[ "$(stat -c %b "$img")" -ge $(((8 << 20) / 512)) ] || fail "the grown image is not allocated"
cmp "$TEST_DIR/data" <(dev_read "$dev" $((4 << 20))) || fail "data lost by the grow"
dev_write "$TEST_DIR/more" "$dev" 4
as_nobody "$IMDISK" -d -u "$u" >/dev/null
cmp <(cat "$TEST_DIR/data" "$TEST_DIR/more") "$img" || fail "grown image content differs"
imdisk -d -u "$fsunit" >/dev/null
