#!/usr/bin/python3
"""Zeroes, in a CUDA shared library, the device code that one GPU architecture never loads.

  /usr/bin/python3 bench/prune_fatbin.py LIB.so [--keep-sm 90]

Why: the lent GPU machines (docs/cuda.md) take at most 64 MiB per call and cannot reach PyPI, and
onnxruntime-gpu's libonnxruntime_providers_cuda.so is 284 MB (sm_75 ... sm_120 in one file). In
every fatbin that holds an ELF (SASS) entry for --keep-sm, the payloads of the other entries are
set to zero; entry headers, host code and the kept SASS are untouched, so the CUDA driver loads
exactly the code it would have loaded on that GPU, and the file compresses to ~52 MB (xz).
Fatbins without such an entry are left whole. The file is rewritten in place.
"""
import argparse
import collections
import struct
import subprocess

FATBIN_MAGIC = 0xBA55ED50


def section(path, name):
    out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        f = line.replace("[ ", "[").split()
        if len(f) > 6 and f[1] == name:
            return int(f[4], 16), int(f[5], 16)  # file offset, size
    raise SystemExit(f"{path}: no {name} section")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lib")
    ap.add_argument("--keep-sm", type=int, default=90)
    a = ap.parse_args()
    off, size = section(a.lib, ".nv_fatbin")
    data = bytearray(open(a.lib, "rb").read())
    p, end = off, off + size
    seen, zeroed, kept, nfat = collections.Counter(), 0, 0, 0
    while p + 16 <= end:
        magic, _ver, hsz, fsz = struct.unpack_from("<IHHQ", data, p)
        if magic != FATBIN_MAGIC:
            p += 8  # fatbins are 8-byte aligned in the section
            continue
        nfat += 1
        q, fend, entries = p + hsz, p + hsz + fsz, []
        while q < fend:
            kind, _u, ehs, esz = struct.unpack_from("<HHIQ", data, q)  # kind 1 = PTX, 2 = ELF
            arch = struct.unpack_from("<I", data, q + 28)[0]
            entries.append((kind, arch, q + ehs, esz))
            seen[(kind, arch)] += 1
            q += ehs + esz
        has_sass = any(k == 2 and arch == a.keep_sm for k, arch, _, _ in entries)
        for _k, arch, po, sz in entries:
            if has_sass and arch != a.keep_sm:
                data[po:po + sz] = bytes(sz)
                zeroed += sz
            else:
                kept += sz
        p = fend
    open(a.lib, "wb").write(data)
    print(f"{a.lib}: {nfat} fatbins; entries (kind, sm): {dict(sorted(seen.items()))}; "
          f"zeroed {zeroed / 1e6:.1f} MB, kept {kept / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
