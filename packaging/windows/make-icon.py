#!/usr/bin/env python3
"""Writes packaging/windows/lectern.ico, the installer's placeholder icon (standard library only).

A rounded dark-teal square with an open book in white, drawn at 16, 32, 48 and 64 pixels as
uncompressed 32-bit BMP images (the icon format every Windows version and makensis read).
The output is byte-for-byte reproducible: `python3 packaging/windows/make-icon.py`.
Replace it with a rendering of the Linux helper's SVG (packaging/linux/) when one exists.
"""
import struct
import sys
from pathlib import Path

SIZES = (16, 32, 48, 64)
BACKGROUND = (0x1F, 0x5C, 0x63)  # RGB
PAGE = (0xFF, 0xFF, 0xFF)
SPINE = (0xC9, 0xDD, 0xDF)


def inside_rounded_square(x, y, n, r):
    cx = min(max(x, r), n - 1 - r)
    cy = min(max(y, r), n - 1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def pixel(x, y, n):
    """RGBA of pixel (x, y), y growing downwards, for an n x n icon."""
    # Supersample 4x4 for smooth edges of the rounded square.
    cover = 0
    for sy in range(4):
        for sx in range(4):
            if inside_rounded_square(x + (sx + 0.5) / 4 - 0.5, y + (sy + 0.5) / 4 - 0.5, n, n * 0.2):
                cover += 1
    if cover == 0:
        return (0, 0, 0, 0)
    alpha = cover * 255 // 16
    # An open book: two pages from 22% to 78% across, 30% to 72% down, a spine in the middle,
    # the outer page corners lifted a little.
    u, v = (x + 0.5) / n, (y + 0.5) / n
    colour = BACKGROUND
    if 0.20 <= u <= 0.80:
        lift = abs(u - 0.5) * 0.12
        if 0.30 - lift <= v <= 0.72 - lift / 2:
            colour = SPINE if abs(u - 0.5) < max(0.5 / n, 0.02) else PAGE
    return colour + (alpha,)


def bmp_image(n):
    header = struct.pack("<IiiHHIIiiII", 40, n, 2 * n, 1, 32, 0, 0, 0, 0, 0, 0)
    rows = []
    for y in reversed(range(n)):  # BMP rows go bottom-up
        row = bytearray()
        for x in range(n):
            r, g, b, a = pixel(x, y, n)
            row += bytes((b, g, r, a))
        rows.append(bytes(row))
    mask_stride = ((n + 31) // 32) * 4  # the AND mask, all zero: the alpha channel decides
    return header + b"".join(rows) + bytes(mask_stride * n)


def ico(sizes):
    images = [bmp_image(n) for n in sizes]
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    for n, data in zip(sizes, images):
        out += struct.pack("<BBBBHHII", n % 256, n % 256, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    return out + b"".join(images)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("lectern.ico")
    target.write_bytes(ico(SIZES))
    print(f"wrote {target}")
