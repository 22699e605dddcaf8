"""Find the watchlist's lines in a day file without parsing the others.

Massive's day files are sorted by ticker, so each ticker's rows form one run of lines.
The file is decompressed in large chunks (ISA-L's igzip);
in each chunk a wanted ticker can only lie between the chunk's first and last ticker,
and its run is found with two byte searches. Only those lines reach the CSV parser,
so the cost of a 10,000-ticker file is little more than its decompression.

Within a chunk every line from a ticker's first to its last occurrence is taken (and
filtered exactly later), so disorder there loses nothing; skipping whole chunks relies
on the order, which is checked where it is cheap (chunk to chunk, first to last line).
A file found out of order raises ``OutOfOrder`` and the caller parses it the slow way.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

from isal import igzip

from market_data.errors import DayDataError

# ISA-L (a dependency) decompresses gzip about three times faster than zlib.
_GZIP_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, igzip.BadGzipFile)

CHUNK_BYTES = 8 * 1024 * 1024


class OutOfOrder(DayDataError):
    """The file is not sorted by ticker: the scan cannot be trusted."""


class Unreadable(DayDataError):
    """The file could not be decompressed."""


@dataclass
class ScannedLines:
    header: bytes
    lines: list[bytes | bytearray] = field(default_factory=list)  # runs of complete lines
    rows_read: int = 0


def _ticker(line_start: bytes) -> bytes:
    return line_start.split(b",", 1)[0]


def _runs(
    data: bytearray, begin: int, end: int, prefixes: list[bytes], first: bytes, last: bytes
) -> list[bytearray]:
    """The runs of lines in ``data[begin:end]`` (complete lines) that start with one of
    ``prefixes``; ``first`` and ``last`` are the starts of its first and last lines.
    Offsets instead of slices: a chunk is searched in place, never copied."""
    runs = []
    for prefix in prefixes:
        n = len(prefix)
        if prefix < first[:n] or prefix > last[:n]:
            continue  # sorted: no line of this chunk can start with it
        if data.startswith(prefix, begin):
            start = begin
        else:
            at = data.find(b"\n" + prefix, begin, end)
            if at < 0:
                continue
            start = at + 1
        last_start = max(start, data.rfind(b"\n" + prefix, begin, end) + 1)
        line_end = data.find(b"\n", last_start, end)
        runs.append(data[start : end if line_end < 0 else line_end + 1])  # one copy, joined later
    return runs


def scan_lines(path: Path, prefixes: list[bytes], label: str) -> ScannedLines:
    """Header, the lines starting with any of ``prefixes``, and the number of data rows."""
    prefixes = sorted(set(prefixes))
    result: ScannedLines | None = None
    previous_last = b""
    # Decompressed into one reused buffer: no new chunk object, no copy but the carried
    # partial line, which is moved to the front before the next read.
    buffer = bytearray(CHUNK_BYTES)
    carried = 0
    try:
        with igzip.open(path, "rb") as stream:
            while True:
                if len(buffer) - carried < CHUNK_BYTES // 2:  # a line longer than a chunk
                    buffer.extend(bytes(CHUNK_BYTES))
                with memoryview(buffer) as view:
                    read = stream.readinto(view[carried:])
                size = carried + read
                if not read and size and buffer[size - 1] != ord("\n"):
                    buffer[size:size] = b"\n"  # a last line without its newline
                    size += 1
                end = buffer.rfind(b"\n", 0, size) + 1  # complete lines end here
                begin = 0
                if result is None and end:
                    begin = buffer.find(b"\n", 0, end) + 1
                    result = ScannedLines(header=bytes(buffer[:begin]))
                if result is not None and end > begin:
                    result.rows_read += buffer.count(b"\n", begin, end)
                    first_line = bytes(buffer[begin : min(begin + 256, end)])
                    last_start = buffer.rfind(b"\n", begin, end - 1) + 1
                    last_line = bytes(buffer[last_start : min(last_start + 256, end)])
                    first, last = _ticker(first_line), _ticker(last_line)
                    if first < previous_last or last < first:
                        raise OutOfOrder(f"{label}: rows are not sorted by ticker")
                    previous_last = last
                    result.lines.extend(_runs(buffer, begin, end, prefixes, first_line, last_line))
                carried = size - end
                buffer[:carried] = buffer[end:size]
                if not read:
                    break
    except _GZIP_ERRORS as error:
        raise Unreadable(f"{label}: not a readable gzip file ({error})") from error
    return result or ScannedLines(header=b"")
