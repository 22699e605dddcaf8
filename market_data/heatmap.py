"""A coverage heatmap as PNG: symbols down, sessions across, colour = share of expected bars.

Written with zlib and struct alone (PNG is a few chunks), so the report needs no
plotting stack. Each cell is a square; red is empty, amber partial, green complete.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

CELL = 14
GAP = 2
EMPTY = (0xEE, 0xEE, 0xEE)  # no session expected


def _colour(share: float) -> tuple[int, int, int]:
    """Red (0) → amber (0.5) → green (1)."""
    share = min(max(share, 0.0), 1.0)
    if share >= 1.0:
        return (0x2E, 0x9E, 0x4F)
    if share < 0.5:
        t = share / 0.5
        return (0xD7, int(0x30 + t * (0xA0 - 0x30)), 0x2B)
    t = (share - 0.5) / 0.5
    return (int(0xF0 - t * (0xF0 - 0x9C)), int(0xA0 + t * (0xC8 - 0xA0)), 0x2B)


def _png(pixels: np.ndarray) -> bytes:
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def coverage_png(shares: list[list[float | None]]) -> bytes:
    """One row per symbol, one column per day; None where no bars were expected."""
    rows = max(len(shares), 1)
    cols = max((len(r) for r in shares), default=1) or 1
    pixels = np.full((rows * (CELL + GAP) + GAP, cols * (CELL + GAP) + GAP, 3), 255, np.uint8)
    for i, row in enumerate(shares):
        for j, share in enumerate(row):
            y, x = GAP + i * (CELL + GAP), GAP + j * (CELL + GAP)
            pixels[y : y + CELL, x : x + CELL] = EMPTY if share is None else _colour(share)
    return _png(pixels)


def write_coverage_png(path: Path, shares: list[list[float | None]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(coverage_png(shares))
    return path
