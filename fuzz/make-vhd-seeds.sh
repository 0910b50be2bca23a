#!/usr/bin/env bash
# Writes the seed inputs of fuzz-vhd (fuzz/corpus/fuzz-vhd/): small VHD images made
# by qemu-img (dynamic, empty and with data; fixed), and edits of them that a
# 2 MiB block would make too big for a corpus or that qemu-img does not make
# (small blocks, a differencing type, a table past the end).
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)/corpus/fuzz-vhd
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

qemu-img create -q -f vpc -o subformat=dynamic "$out/dynamic-empty" 1M
qemu-img create -q -f vpc -o subformat=dynamic "$tmp/big" 100M
cp "$tmp/big" "$out/dynamic-100m-empty"
qemu-img create -q -f vpc -o subformat=fixed "$out/fixed-16k" 16K

# Dynamic with data, then shrunk: qemu always uses 2 MiB blocks, so the header is
# edited to 4 KiB blocks and the data cut to fit (python below).
qemu-img create -q -f vpc -o subformat=dynamic "$tmp/data" 64K
qemu-io -f vpc -c 'write -P 0x41 0 4096' -c 'write -P 0x42 40960 512' "$tmp/data" >/dev/null

python3 - "$tmp/data" "$out" <<'PY'
import struct, sys
src, out = sys.argv[1], sys.argv[2]

def checksum(b, at):
    return ~(sum(b[:at]) + sum(b[at + 4:])) & 0xffffffff

def seal(img):
    for at in (0, len(img) - 512):
        struct.pack_into('>I', img, at + 64, checksum(img[at:at + 512], 64))
    h = struct.unpack_from('>Q', img, 16)[0]
    struct.pack_into('>I', img, h + 36, checksum(img[h:h + 1024], 36))
    return img

def small_blocks(block, blocks, allocated):
    """A dynamic VHD of `blocks` blocks of `block` bytes; `allocated` maps block
    numbers to a fill byte.  The footer and header come from the qemu image."""
    d = open(src, 'rb').read()
    footer = bytearray(d[:512])
    size = block * blocks
    struct.pack_into('>QQ', footer, 40, size, size)
    header = bytearray(d[512:1536])
    struct.pack_into('>Q', header, 16, 1536)
    struct.pack_into('>II', header, 28, blocks, block)
    bat_bytes = (blocks * 4 + 511) // 512 * 512
    bat = bytearray(b'\xff' * bat_bytes)
    bitmap = ((block // 512 + 7) // 8 + 511) // 512 * 512
    body = bytearray()
    at = 1536 + bat_bytes
    for n, fill in allocated.items():
        struct.pack_into('>I', bat, 4 * n, (at + len(body)) // 512)
        body += b'\xff' * bitmap + bytes([fill]) * block
    return seal(footer + header + bat + body + footer)

open(out + '/dynamic-4k-data', 'wb').write(small_blocks(4096, 16, {0: 0x41, 10: 0x42}))
open(out + '/dynamic-512-data', 'wb').write(small_blocks(512, 64, {3: 0x43}))
img = small_blocks(4096, 16, {1: 0x44})
struct.pack_into('>I', img, 60, 4)
struct.pack_into('>I', img, len(img) - 512 + 60, 4)
open(out + '/differencing', 'wb').write(seal(img))
img = small_blocks(4096, 16, {2: 0x45})
struct.pack_into('>I', img, 1536 + 8, 0x00ffffff)
open(out + '/bat-entry-past-end', 'wb').write(seal(img))
img = small_blocks(4096, 16, {0: 0x46, 5: 0x47})
struct.pack_into('>I', img, 1536 + 20, struct.unpack_from('>I', img, 1536)[0])
open(out + '/blocks-shared', 'wb').write(seal(img))
img = small_blocks(4096, 16, {})
open(out + '/no-tail-footer', 'wb').write(img[:-512])
PY
ls -l "$out"
