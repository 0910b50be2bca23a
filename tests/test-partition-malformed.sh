#!/usr/bin/env bash
# Corrupt partition tables: an MBR entry reaching past the end of the image, and
# an EBR chain that loops.  -v N is refused with exit 12 and a one-line reason;
# no disk and no loop device is left behind, and the daemon keeps answering.
. "$(dirname "$0")/functions.sh"
requires_root
requires python3
start_daemon

# mbr IMAGE SECTOR ENTRY TYPE START COUNT: write one partition entry (LBA
# relative, as the table at SECTOR holds it) and the 0x55AA signature there.
mbr() {
	python3 - "$@" <<'PY'
import struct, sys
path = sys.argv[1]
sector, entry, ptype, start, count = (int(a, 0) for a in sys.argv[2:])
with open(path, "r+b") as f:
    f.seek(sector * 512 + 446 + 16 * entry)
    f.write(struct.pack("<B3sB3sII", 0, b"\0\0\0", ptype, b"\0\0\0", start, count))
    f.seek(sector * 512 + 510)
    f.write(b"\x55\xaa")
PY
}

# 1. Partition 2 ends 8 MiB past the end of a 16 MiB image.
past=$TEST_DIR/past-end.img
truncate -s 16M "$past"
mbr "$past" 0 0 0x83 2048 8192
mbr "$past" 0 1 0x83 10240 32768
for n in 1 2 3; do
	expect_error "partition|table|corrupt|end" 12 imdisk -a -f "$past" -v "$n"
done

# 2. A logical partition whose EBR links back to itself.
loop=$TEST_DIR/ebr-loop.img
truncate -s 16M "$loop"
mbr "$loop" 0 0 0x83 2048 4096
mbr "$loop" 0 1 0x05 8192 16384      # extended: sectors 8192..24575
mbr "$loop" 8192 0 0x83 2048 2048    # EBR 1: a logical at 8192 + 2048
mbr "$loop" 8192 1 0x05 0 16384      # ... and the next EBR is itself
for n in 1 2 3; do
	expect_error "partition|table|corrupt|loop" 12 imdisk -a -f "$loop" -v "$n"
done
# Two EBRs that point at each other.
mbr "$loop" 8192 1 0x05 4096 4096    # EBR 1 -> EBR 2 at 8192 + 4096
mbr "$loop" 12288 0 0x83 1024 1024   # EBR 2: a logical at 12288 + 1024
mbr "$loop" 12288 1 0x05 0 16384     # ... and back to EBR 1
expect_error "partition|table|corrupt|loop" 12 imdisk -a -f "$loop" -v 2

# 3. No partition table at all.
blank=$TEST_DIR/blank.img
truncate -s 4M "$blank"
expect_error "partition|table" 12 imdisk -a -f "$blank" -v 1

# Nothing left behind, and the daemon still works.
expect_eq "No virtual disks." "$(imdisk -l)" "list after the refused disks"
for img in "$past" "$loop" "$blank"; do
	[ -z "$(losetup -j "$img")" ] || fail "a loop device is left on $img: $(losetup -j "$img")"
done
kill -0 "$DAEMON_PID" || fail "imdiskd died"
u=$(attach -s 1M)
imdisk -d -u "$u"
