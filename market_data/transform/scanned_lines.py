"""The lines a download's streaming scan kept, saved beside the landed file for the parse.

A range run downloads its days in one step and parses them in the next. The download
step already decompresses each file as it arrives and keeps the watchlist's lines
(``scan.DownloadScan``); they are saved next to the file as ``<file>.lines`` so the
parse step reads those few lines instead of decompressing the file a second time.

They stand for the file only while they match it: the same ETag as its manifest (a
republished file is downloaded again and scanned again) and every prefix the parse wants
(a symbol added later means a scan of the file itself). The parse removes them once its
bars are stored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from market_data.sources.flat_files import read_manifest
from market_data.transform.scan import ScannedLines

SUFFIX = ".lines"


def scanned_lines_path(path: Path) -> Path:
    return path.with_name(path.name + SUFFIX)


def save_scanned_lines(path: Path, etag: str, prefixes: list[bytes], scanned: ScannedLines) -> None:
    """Keep ``scanned`` beside the landed file ``path``; a disk that refuses it costs only
    the parse's own scan of the file."""
    target = scanned_lines_path(path)
    part = target.with_name(target.name + ".part")
    about = {
        "etag": etag,
        "prefixes": sorted(p.decode("latin-1") for p in prefixes),
        "rows_read": scanned.rows_read,
        "header_bytes": len(scanned.header),
    }
    try:
        with part.open("wb") as out:
            out.write(json.dumps(about).encode() + b"\n")
            out.write(scanned.header)
            out.writelines(scanned.lines)
        os.replace(part, target)
    except OSError:
        part.unlink(missing_ok=True)
        target.unlink(missing_ok=True)


def load_scanned_lines(path: Path, prefixes: list[bytes]) -> ScannedLines | None:
    """The saved lines of the landed file ``path`` if they hold every line of ``prefixes``
    of its current version, else None."""
    try:
        data = scanned_lines_path(path).read_bytes()
    except FileNotFoundError:
        return None  # the common case for a file landed earlier: its manifest is not read
    landed = read_manifest(path)
    if landed is None:
        return None
    first_line, _, body = data.partition(b"\n")
    try:
        about = json.loads(first_line)
        saved = {p.encode("latin-1") for p in about["prefixes"]}
        etag, rows_read, header_bytes = (
            about["etag"],
            int(about["rows_read"]),
            about["header_bytes"],
        )
    except (ValueError, KeyError, TypeError):
        return None
    if etag != landed.etag or not set(prefixes) <= saved:
        return None
    return ScannedLines(body[:header_bytes], [body[header_bytes:]], rows_read)


def discard_scanned_lines(path: Path) -> None:
    scanned_lines_path(path).unlink(missing_ok=True)
