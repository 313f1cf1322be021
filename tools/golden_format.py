"""Reader and writer for Lectern golden files (`*.golden`, format version 1).

Layout (all integers little-endian; documented for the C++ tests in tests/data/golden/README.md):

    bytes 0..7    ASCII magic "LCTNGOLD"
    bytes 8..11   uint32 format version (1)
    bytes 12..15  uint32 header length H
    bytes 16..    H bytes of UTF-8 JSON (the header)
    zero padding up to the next multiple of 16 bytes from the file start = start of the data section
    data section  float32 arrays; each starts at header["arrays"][i]["offset"] bytes from the data
                  section start (a multiple of 16), row-major, shape header["arrays"][i]["shape"];
                  gaps between arrays are zero bytes.

The writer is deterministic: same header and arrays give byte-identical files.
"""

import json
import struct
from pathlib import Path

import numpy as np

MAGIC = b"LCTNGOLD"
VERSION = 1
ALIGN = 16


def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def write_golden(path, header, arrays):
    """Write `arrays` (a list of (name, array-like)) after `header` (a dict without "arrays").

    The "arrays" entry of the header (name, shape, offset) is filled in here; the arrays are stored
    as float32. Returns the header actually written.
    """
    header = dict(header)
    entries, blobs, offset = [], [], 0
    for name, value in arrays:
        a = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{path}: array {name} has non-finite values")
        entries.append({"name": name, "shape": list(a.shape), "offset": offset})
        data = a.astype("<f4").tobytes()
        blobs.append(data + b"\0" * (_align(len(data)) - len(data)))
        offset += len(blobs[-1])
    if len({e["name"] for e in entries}) != len(entries):
        raise ValueError(f"{path}: duplicate array names")
    header["arrays"] = entries
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    head = MAGIC + struct.pack("<II", VERSION, len(text)) + text
    head += b"\0" * (_align(len(head)) - len(head))
    Path(path).write_bytes(head + b"".join(blobs))
    return header


def read_golden(path):
    """Return (header, {name: float32 array}) and validate the layout strictly."""
    raw = Path(path).read_bytes()
    if raw[:8] != MAGIC:
        raise ValueError(f"{path}: bad magic")
    version, hlen = struct.unpack_from("<II", raw, 8)
    if version != VERSION:
        raise ValueError(f"{path}: unsupported version {version}")
    header = json.loads(raw[16:16 + hlen].decode("utf-8"))
    data_start = _align(16 + hlen)
    arrays = {}
    for e in header["arrays"]:
        if e["offset"] % ALIGN:
            raise ValueError(f"{path}: {e['name']} misaligned")
        count = int(np.prod(e["shape"], dtype=np.int64))
        begin = data_start + e["offset"]
        if begin + 4 * count > len(raw):
            raise ValueError(f"{path}: {e['name']} runs past the end of the file")
        arrays[e["name"]] = np.frombuffer(raw, dtype="<f4", count=count,
                                          offset=begin).reshape(e["shape"])
    return header, arrays
