#!/usr/bin/env python3
"""Writes the seeds of fuzz-fuse-request: streams of FUSE requests as /dev/fuse
delivers them (fuse_in_header, fixed argument, payload), against the harness's
namespace of "ram" (inode 2) and "async" (inode 3).  Run from the repository:
  fuzz/make-fuse-request-seeds.py fuzz/corpus/fuzz-fuse-request"""
import os
import struct
import sys

LOOKUP, FORGET, GETATTR, SETATTR, OPEN, READ, WRITE, STATFS, RELEASE, FSYNC = 1, 2, 3, 4, 14, 15, 16, 17, 18, 20
FLUSH, OPENDIR, READDIR, ACCESS, BATCH_FORGET, FALLOCATE, INTERRUPT = 25, 27, 28, 34, 42, 43, 36
unique = 1


def request(opcode, nodeid=0, op=b"", payload=b""):
    global unique
    unique += 1
    length = 40 + len(op) + len(payload)
    # len, opcode, unique, nodeid, uid, gid, pid, total_extlen + padding
    return struct.pack("<IIQQIIIHH", length, opcode, unique, nodeid, 0, 0, 1, 0, 0) + op + payload


def read_in(fh, offset, size):  # fuse_read_in: 40 bytes
    return struct.pack("<QQIIQII", fh, offset, size, 0, 0, 0, 0)


def write_in(fh, offset, size):  # fuse_write_in: 40 bytes
    return struct.pack("<QQIIQII", fh, offset, size, 0, 0, 0, 0)


def open_in(flags):
    return struct.pack("<II", flags, 0)


def lookup_and_open(name, ino):
    return request(LOOKUP, 1, payload=name + b"\0") + request(OPEN, ino, open_in(2))


seeds = {
    "write-read": lookup_and_open(b"ram", 2)
    + request(WRITE, 2, write_in(0, 4096, 512), bytes(range(256)) * 2)
    + request(READ, 2, read_in(0, 4096, 512))
    + request(READ, 2, read_in(0, (256 << 10) - 100, 4096))
    + request(FSYNC, 2, struct.pack("<QII", 0, 0, 0))
    + request(RELEASE, 2, struct.pack("<QIIQ", 0, 0, 0, 0)),
    "async-read": lookup_and_open(b"async", 3)
    + request(READ, 3, read_in(0, 0, 4096))
    + request(READ, 3, read_in(0, 1, 4096))
    + request(READ, 3, read_in(0, 4, 4096)),
    "fallocate": lookup_and_open(b"ram", 2)
    + request(FALLOCATE, 2, struct.pack("<QQQII", 0, 0, 8192, 0x01 | 0x02, 0))
    + request(FALLOCATE, 2, struct.pack("<QQQII", 0, 4096, 4096, 0x10 | 0x01, 0))
    + request(FALLOCATE, 2, struct.pack("<QQQII", 0, 1 << 40, 4096, 0, 0)),
    "namespace": request(GETATTR, 1, struct.pack("<IIQ", 0, 0, 0))
    + request(OPENDIR, 1, open_in(0))
    + request(READDIR, 1, read_in(0, 0, 4096))
    + request(READDIR, 1, read_in(0, 3, 4096))
    + request(STATFS, 1)
    + request(ACCESS, 2, struct.pack("<II", 2, 0))
    + request(LOOKUP, 1, payload=b"nothing\0")
    + request(FORGET, 2, struct.pack("<Q", 1))
    + request(BATCH_FORGET, 0, struct.pack("<II", 2, 0), struct.pack("<QQQQ", 2, 1, 3, 1))
    + request(INTERRUPT, 0, struct.pack("<Q", 5)),
    "bad": request(9999, 1)
    + request(SETATTR, 2, struct.pack("<IIQ", 1 << 3, 0, 12345) + bytes(80))
    + request(READ, 2, b"short")
    + request(FLUSH, 2)
    + b"\x10\x00\x00\x00",
}

folder = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/fuzz-fuse-request"
os.makedirs(folder, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)
