#!/usr/bin/env python3
"""Write the seed inputs of fuzz-partition and fuzz-geometry (small, hand-made
images: MBR, extended chain, a looping chain, GPT; geometry requests)."""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SECTOR = 512


def entry(sector, index, boot, ptype, start, count):
    """Put an MBR-style entry into a 512-byte bytearray slice and sign it."""
    base = 446 + 16 * index
    sector[base:base + 16] = struct.pack('<B3sB3sII', boot, b'\0' * 3, ptype, b'\0' * 3, start, count)
    sector[510:512] = b'\x55\xaa'


def sector_view(image, lba):
    return memoryview(image)[lba * SECTOR:(lba + 1) * SECTOR]


def mbr_primaries():
    image = bytearray(32 * SECTOR)
    entry(sector_view(image, 0), 0, 0x80, 0x0C, 1, 10)
    entry(sector_view(image, 0), 2, 0x00, 0x83, 11, 21)
    return image


def mbr_extended(loop=False):
    image = bytearray(32 * SECTOR)
    entry(sector_view(image, 0), 0, 0x00, 0x83, 1, 3)
    entry(sector_view(image, 0), 1, 0x00, 0x0F, 4, 24)
    entry(sector_view(image, 0), 2, 0x00, 0x07, 28, 4)
    # EBRs at 4, 10, 16; logicals relative to their EBR, links relative to 4.
    entry(sector_view(image, 4), 0, 0x00, 0x83, 1, 5)
    entry(sector_view(image, 4), 1, 0x00, 0x05, 6, 6)
    entry(sector_view(image, 10), 0, 0x00, 0x07, 1, 5)
    entry(sector_view(image, 10), 1, 0x00, 0x05, 12, 12)
    entry(sector_view(image, 16), 0, 0x00, 0x0B, 1, 11)
    if loop:
        entry(sector_view(image, 16), 1, 0x00, 0x05, 6, 6)
    return image


def gpt(corrupt=False):
    sectors = 48
    image = bytearray(sectors * SECTOR)
    entry(sector_view(image, 0), 0, 0x00, 0xEE, 1, sectors - 1)
    entries = bytearray(128 * 128)
    for slot, (first, last) in ((0, (34, 39)), (2, (40, 46))):
        entries[slot * 128:(slot + 1) * 128] = (
            bytes([0xA0 + slot]) * 16 + bytes([0xB0 + slot]) * 16 + struct.pack('<QQQ', first, last, 0) +
            'part{}'.format(slot).encode('utf-16-le').ljust(72, b'\0'))
    image[2 * SECTOR:2 * SECTOR + len(entries)] = entries
    header = bytearray(struct.pack('<8sIIIIQQQQ16sQIII', b'EFI PART', 0x00010000, 92, 0, 0, 1, sectors - 1,
                                   34, sectors - 2, b'\x42' * 16, 2, 128, 128, zlib.crc32(entries)))
    header[16:20] = struct.pack('<I', zlib.crc32(header))
    if corrupt:
        header[48] ^= 1
    image[SECTOR:SECTOR + len(header)] = header
    return image


def fat_boot_sector(bytes_per_sector, sectors_per_track, heads):
    sector = bytearray(512)
    sector[0:3] = b'\xeb\x3c\x90'
    sector[3:11] = b'MSWIN4.1'
    struct.pack_into('<H', sector, 11, bytes_per_sector)
    struct.pack_into('<HH', sector, 24, sectors_per_track, heads)
    sector[510:512] = b'\x55\xaa'
    return sector


def geometry_request(size, dtype=0, sector_size=0, spt=0, heads=0, boot=None, name=None):
    flags = (1 if boot is not None else 0) | (2 if name is not None else 0)
    data = struct.pack('<QBHHHB', size, dtype, sector_size, spt, heads, flags)
    if boot is not None:
        data += bytes(boot)
    if name is not None:
        data += name.encode()
    return data


def write(harness, name, data):
    assert len(data) < 64 * 1024
    folder = os.path.join(HERE, 'corpus', harness)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), 'wb') as f:
        f.write(data)


write('fuzz-partition', 'mbr-primaries', mbr_primaries())
write('fuzz-partition', 'mbr-extended', mbr_extended())
write('fuzz-partition', 'mbr-ebr-loop', mbr_extended(loop=True))
write('fuzz-partition', 'gpt', gpt())
write('fuzz-partition', 'gpt-bad-crc', gpt(corrupt=True))
write('fuzz-partition', 'fat-floppy', fat_boot_sector(512, 18, 2) + bytes(3 * 512))

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
write('fuzz-geometry', 'floppy-fat', geometry_request(1440 * KiB, boot=fat_boot_sector(512, 18, 2),
                                                      name='floppy.img'))
write('fuzz-geometry', 'hd-10m', geometry_request(10 * MiB))
write('fuzz-geometry', 'hd-100g', geometry_request(100 * GiB, dtype=0x10))
write('fuzz-geometry', 'cd-name', geometry_request(700 * MiB, name='LIVE.ISO'))
write('fuzz-geometry', 'raw-4k', geometry_request(GiB, dtype=0x40, sector_size=4096, spt=32, heads=16))
write('fuzz-geometry', 'bad-sector-size', geometry_request(GiB, sector_size=1000))
