#!/usr/bin/env python3
"""Seed corpora for fuzz_sections, fuzz_virtio_blk and fuzz_virtio_mmio.

    tests/fuzz/make-corpus.py [OUTDIR]   (default: tests/fuzz/corpus)

fuzz_sections gets every section payload of the stored v1 snapshots
(tests/data), framed for its loader; the virtio targets get a few
well-formed requests and a driver's set-up sequence, so that the fuzzer
starts past the first checks. Kept small: the fuzzer grows its own corpus.
"""
import gzip
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, 'corpus')
RAM_BASE = 0x80000000


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def tag(s):
    return struct.unpack('<I', s.encode())[0]


# --- fuzz_sections: the loader byte, its parameter, the payload length, the payload, RAM.
LOADERS = {'VCPU': 0, 'CONF': 4, 'UART': 5, 'RTC\0': 6}
GIC_LOADER = {0: 1, 1: 2, 3: 3}	# snapshot irqchip type -> loader (in-kernel v2, v3, userspace v2)
VIRTIO_LOADER = {2: 7, 3: 8, 4: 9}	# virtio device id -> loader (blk, console, rng)

for snap in sorted(os.listdir(os.path.join(here, '..', 'data'))):
    path = os.path.join(here, '..', 'data', snap, 'state')
    if not os.path.isfile(path):
        continue
    img = open(path, 'rb').read()
    nr_vcpus, irqchip, nr_sections = struct.unpack_from('<III', img, 20)
    off = 64
    for i in range(nr_sections):
        t, inst, length = struct.unpack_from('<IIQ', img, off)
        payload = img[off + 24: off + 24 + length]
        off += 24 + ((length + 7) & ~7)
        name = struct.pack('<I', t).decode('latin1')
        if name == 'GIC\0' or name == 'GIC ':
            loader, param = GIC_LOADER.get(irqchip), nr_vcpus - 1
        elif name == 'VIRT':
            loader, param = VIRTIO_LOADER.get(struct.unpack_from('<I', payload, 0)[0]), 0
        elif name == 'VCPU':
            loader, param = 0, inst
        elif name == 'CONF':
            # The parameter encodes the header values the loader checks against.
            loader, param = 4, (nr_vcpus - 1) | 0xf0
        else:
            loader, param = LOADERS.get(name), 0
        if loader is None or len(payload) > 0xffff:
            continue
        put('sections', '%s-%s-%u' % (snap, name.strip('\0 ').lower(), inst),
            bytes([loader, param]) + struct.pack('<H', len(payload)) + payload)

# --- fuzz_virtio_blk: flags, capacity, n_out, n_in, buffers (offset, length), RAM.
def blk(name, flags, cap, out_bufs, in_bufs, ram):
    hdr = bytes([flags]) + struct.pack('<I', cap) + bytes([len(out_bufs), len(in_bufs)])
    for o, l in out_bufs + in_bufs:
        hdr += struct.pack('<HH', o, l)
    put('virtio_blk', name, hdr + ram)

def req(t, sector):
    return struct.pack('<IIQ', t, 0, sector)

blk('read', 0, 2048, [(0, 16)], [(4096, 4096), (8192, 1)], req(0, 8))
blk('write-split', 0, 2048, [(0, 8), (8, 8), (512, 1024)], [(8192, 1)], req(1, 100))
blk('flush-ro', 1, 2048, [(0, 16)], [(8192, 1)], req(4, 0))
blk('get-id', 0, 2048, [(0, 16)], [(4096, 20), (8192, 1)], req(8, 0))
blk('discard', 0x0e, 2048, [(0, 32)], [(8192, 1)], req(11, 0) + struct.pack('<QII', 16, 64, 0))
blk('write-zeroes-unmap', 0x1c, 2048, [(0, 32)], [(8192, 1)], req(13, 0) + struct.pack('<QII', 16, 64, 1))

# --- fuzz_virtio_mmio: accesses (kind, queue|0x80 to notify, offset, value), then RAM.
def acc(write, off, value=0, width=4):
    kind = (1 if write else 0) | ({1: 0, 2: 1, 4: 2, 8: 3}[width] << 1)
    return struct.pack('<BBHI', kind, 0, off, value)

def notify(q):
    return struct.pack('<BBHI', 0, 0x80 | q, 0, 0)

desc, avail, used = RAM_BASE, RAM_BASE + 0x1000, RAM_BASE + 0x2000
setup = [acc(0, 0x000), acc(0, 0x004), acc(0, 0x008), acc(1, 0x070, 1), acc(1, 0x070, 3),
         acc(1, 0x014, 1), acc(0, 0x010), acc(1, 0x024, 1), acc(1, 0x020, 1), acc(1, 0x070, 11),
         acc(0, 0x070), acc(1, 0x030, 0), acc(0, 0x034), acc(1, 0x038, 8),
         acc(1, 0x080, desc & 0xffffffff), acc(1, 0x084, desc >> 32),
         acc(1, 0x090, avail & 0xffffffff), acc(1, 0x094, avail >> 32),
         acc(1, 0x0a0, used & 0xffffffff), acc(1, 0x0a4, used >> 32),
         acc(1, 0x044, 1), acc(1, 0x070, 15), notify(0), acc(0, 0x060), acc(1, 0x064, 1),
         acc(0, 0x100, 0, 8), acc(1, 0x104, 7, 2), acc(1, 0x070, 0)]
ram = bytearray(0x3000)
# Two chains: a readable buffer, then a readable and a writable one.
struct.pack_into('<QIHH', ram, 0x000, RAM_BASE + 0x2800, 64, 0, 0)
struct.pack_into('<QIHH', ram, 0x010, RAM_BASE + 0x2900, 32, 1, 2)
struct.pack_into('<QIHH', ram, 0x020, RAM_BASE + 0x2a00, 32, 2, 0)
struct.pack_into('<HHHH', ram, 0x1000, 0, 2, 0, 1)
put('virtio_mmio', 'driver-setup', bytes([len(setup)]) + b''.join(setup) + bytes(ram))
put('virtio_mmio', 'registers', bytes([4]) + acc(0, 0x0fc) + acc(1, 0x030, 7) + acc(0, 0x034) + acc(1, 0x050, 3))
