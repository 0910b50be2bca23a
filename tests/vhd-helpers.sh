# Helpers for the VHD tests (sourced after functions.sh): make, inspect and damage
# VHD images with qemu-img and a little python.
requires qemu-img python3

# vhd_raw_size IMAGE: the virtual disk's size, as qemu sees it.
vhd_raw_size() { qemu-img info --output=json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["virtual-size"])'; }

# vhd_tool COMMAND IMAGE [ARGS]: a VHD inspector and editor.
#   check IMAGE      the structure is sound: both footer copies with their
#                    checksums, the header's, every BAT entry inside the file and
#                    clear of the metadata and of the other blocks, the bitmap of
#                    every allocated block all ones (as qemu and this code write
#                    them), the footer at the end; prints "ok N" (N blocks)
#   set IMAGE WHERE FIELD VALUE   WHERE is head, tail or header; FIELD one of
#                    type, checksum, table_offset, block_size, max_entries; the
#                    checksums are made right again, unless FIELD is checksum
vhd_tool() {
	python3 - "$@" <<'PY'
import struct, sys

def checksum(b, at):
    return ~(sum(b[:at]) + sum(b[at + 4:])) & 0xffffffff

cmd, path = sys.argv[1], sys.argv[2]
data = bytearray(open(path, 'rb').read())
head, tail = data[:512], data[-512:]

def fail(msg):
    sys.exit("vhd_tool: %s: %s" % (path, msg))

if cmd == 'check':
    for name, f in (('head', head), ('tail', tail)):
        if f[:8] != b'conectix':
            fail('no footer at the %s' % name)
        if struct.unpack_from('>I', f, 64)[0] != checksum(f, 64):
            fail('bad %s footer checksum' % name)
    if head != tail:
        fail('the two footer copies differ')
    header_at = struct.unpack_from('>Q', head, 16)[0]
    header = data[header_at:header_at + 1024]
    if header[:8] != b'cxsparse' or struct.unpack_from('>I', header, 36)[0] != checksum(header, 36):
        fail('bad dynamic header')
    bat_at, = struct.unpack_from('>Q', header, 16)
    entries, block = struct.unpack_from('>II', header, 28)
    bitmap = ((block // 512 + 7) // 8 + 511) // 512 * 512
    used = [(0, 512), (header_at, 1024), (bat_at, entries * 4), (len(data) - 512, 512)]
    count = 0
    for i in range(entries):
        e, = struct.unpack_from('>I', data, bat_at + 4 * i)
        if e == 0xffffffff:
            continue
        start, span = e * 512, bitmap + block
        if start + span > len(data) - 512:
            fail('block %d past the data' % i)
        for a, n in used:
            if start < a + n and a < start + span:
                fail('block %d overlaps something at %d' % (i, a))
        if data[start:start + bitmap] != b'\xff' * bitmap:
            fail('block %d: bitmap not all ones' % i)
        used.append((start, span))
        count += 1
    print('ok', count)
elif cmd == 'set':
    where, field, value = sys.argv[3], sys.argv[4], int(sys.argv[5], 0)
    places = {'head': [0], 'tail': [len(data) - 512], 'footers': [0, len(data) - 512],
              'header': [struct.unpack_from('>Q', head, 16)[0]]}[where]
    footer_fields = {'type': (60, '>I'), 'checksum': (64, '>I')}
    header_fields = {'table_offset': (16, '>Q'), 'max_entries': (28, '>I'),
                     'block_size': (32, '>I'), 'checksum': (36, '>I')}
    for at in places:
        off, fmt = (header_fields if where == 'header' else footer_fields)[field]
        struct.pack_into(fmt, data, at + off, value)
        if field != 'checksum':
            size, ck = (1024, 36) if where == 'header' else (512, 64)
            struct.pack_into('>I', data, at + ck, checksum(data[at:at + size], ck))
    open(path, 'wb').write(data)
else:
    fail('unknown command ' + cmd)
PY
}

# vhd_from_raw RAW VHD: a dynamic VHD holding RAW's bytes (all-zero blocks left
# unallocated); then RAW is rewritten as qemu sees the VHD (its size rounded up
# to the VHD geometry), the reference to compare with.
vhd_from_raw() {
	qemu-img convert -f raw -O vpc -o subformat=dynamic "$1" "$2" || fail "qemu-img convert to vpc failed"
	qemu-img convert -f vpc -O raw "$2" "$1" || fail "qemu-img convert from vpc failed"
}
