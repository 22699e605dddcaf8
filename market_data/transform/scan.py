"""Find the watchlist's lines in a day file without parsing the others.

Massive's day files are sorted by ticker, so each ticker's rows form one run of lines.
The decompressed bytes arrive in large chunks; in each chunk a wanted ticker can only lie
between the chunk's first and last ticker, and its run is found with two byte searches.
Only those lines reach the CSV parser, so the cost of a 10,000-ticker file is little more
than its decompression (ISA-L's igzip).

The bytes come either from a landed file (``scan_lines``) or from a download as it
arrives (``DownloadScan``, a reader for ``sources/flat_files.py``), so a file downloaded
in a run is decompressed once, while its bytes come in, and never read back.

Within a chunk every line from a ticker's first to its last occurrence is taken (and
filtered exactly later), so disorder there loses nothing; skipping whole chunks relies
on the order, which is checked where it is cheap (chunk to chunk, first to last line).
A file found out of order raises ``OutOfOrder`` and the caller parses it the slow way.
"""

from __future__ import annotations

import queue
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
from isal import igzip, igzip_lib

from market_data.errors import DayDataError

# ISA-L (a dependency) decompresses gzip about three times faster than zlib.
_GZIP_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    zlib.error,
    cast("type[Exception]", igzip_lib.IsalError),  # a class, though its stub says otherwise
    igzip.BadGzipFile,
)

CHUNK_BYTES = 8 * 1024 * 1024
AHEAD_CHUNKS = 2  # decompressed chunks waiting for the scan, at most


class OutOfOrder(DayDataError):
    """The file is not sorted by ticker: the scan cannot be trusted."""


class Unreadable(DayDataError):
    """The file could not be decompressed."""


@dataclass
class ScannedLines:
    header: bytes
    lines: list[bytes | bytearray] = field(default_factory=list)  # runs of complete lines
    rows_read: int = 0
    # Seconds reading the decompressed stream (decompression, and whatever its source
    # costs: a download's transfer and write) and finding the lines in it.
    read_seconds: float = 0.0
    scan_seconds: float = 0.0


def _ticker(line_start: bytes) -> bytes:
    return line_start.split(b",", 1)[0]


def _runs(
    data: bytes | bytearray, begin: int, end: int, prefixes: list[bytes], first: bytes, last: bytes
) -> list[bytes | bytearray]:
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


class LineScanner:
    """Fed a day file's decompressed bytes in order, in chunks of any size; keeps the header,
    the lines starting with one of ``prefixes``, and the number of data rows."""

    def __init__(self, prefixes: list[bytes], label: str) -> None:
        self.prefixes = sorted(set(prefixes))
        self.label = label
        self._header: bytes | None = None
        self._carried = b""  # the chunk's last line, until its end arrives
        self._previous_last = b""
        self._lines: list[bytes | bytearray] = []
        self._rows_read = 0
        self._newlines = np.empty(0, dtype=bool)  # reused by _count_lines

    def feed(self, data: bytes | bytearray) -> None:
        start = 0
        if self._header is None or self._carried:
            newline = data.find(b"\n")
            if newline < 0:
                self._carried += data  # a line longer than a chunk
                return
            self._one_line(self._carried + data[: newline + 1])
            self._carried = b""
            start = newline + 1
        end = data.rfind(b"\n", start) + 1  # complete lines end here
        if end > start:
            self._complete_lines(data, start, end)
        else:
            end = start
        self._carried = bytes(data[end:])

    def finish(self) -> ScannedLines:
        if self._carried:
            self._one_line(self._carried + b"\n")  # a last line without its newline
            self._carried = b""
        return ScannedLines(self._header or b"", self._lines, self._rows_read)

    def _one_line(self, line: bytes) -> None:
        if self._header is None:
            self._header = line
        else:
            self._complete_lines(line, 0, len(line))

    def _count_lines(self, data: bytes | bytearray, begin: int, end: int) -> int:
        """``data.count(b"\n", begin, end)``, but outside Python's lock (numpy), so that the
        other days' threads go on meanwhile: every byte of a file passes through here."""
        if len(self._newlines) < end - begin:
            self._newlines = np.empty(end - begin, dtype=bool)
        found = self._newlines[: end - begin]
        np.equal(np.frombuffer(data, np.uint8, end - begin, begin), 10, out=found)
        return int(np.count_nonzero(found))

    def _complete_lines(self, data: bytes | bytearray, begin: int, end: int) -> None:
        self._rows_read += self._count_lines(data, begin, end)
        first_line = bytes(data[begin : min(begin + 256, end)])
        last_start = max(begin, data.rfind(b"\n", begin, end - 1) + 1)
        last_line = bytes(data[last_start : min(last_start + 256, end)])
        first, last = _ticker(first_line), _ticker(last_line)
        if first < self._previous_last or last < first:
            raise OutOfOrder(f"{self.label}: rows are not sorted by ticker")
        self._previous_last = last
        self._lines.extend(_runs(data, begin, end, self.prefixes, first_line, last_line))


def scan_stream(stream: BinaryIO, prefixes: list[bytes], label: str) -> ScannedLines:
    """Header, the lines starting with any of ``prefixes``, and the number of data rows of
    a gzip stream (every member's CRC-32 and length checked).

    ISA-L decompresses in a thread of its own (it lets go of Python's lock meanwhile), up
    to ``AHEAD_CHUNKS`` chunks ahead, while this thread finds the lines in the chunks before:
    on two cores the scan costs little more than the decompression alone."""
    scanner = LineScanner(prefixes, label)
    chunks: queue.Queue[bytes | BaseException] = queue.Queue(AHEAD_CHUNKS)
    stopping = threading.Event()
    read_seconds = 0.0

    def decompress() -> None:
        nonlocal read_seconds
        clock = time.perf_counter
        try:
            # isal's IGzipFile.__init__ has no annotations (the package's own gap).
            with igzip.IGzipFile(fileobj=stream, mode="rb") as gz:  # type: ignore[no-untyped-call]
                while not stopping.is_set():
                    started = clock()
                    chunk: bytes | BaseException = gz.read(CHUNK_BYTES)
                    read_seconds += clock() - started
                    if not _put(chunk) or not chunk:
                        return
        except BaseException as error:  # carried to the scanning thread, raised there
            _put(error)

    def _put(item: bytes | BaseException) -> bool:
        while not stopping.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    worker = threading.Thread(target=decompress, name=f"decompress {label}", daemon=True)
    worker.start()
    scan_seconds = 0.0
    try:
        while True:
            item = chunks.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                break
            started = time.perf_counter()
            scanner.feed(item)
            scan_seconds += time.perf_counter() - started
    except _GZIP_ERRORS as error:
        raise Unreadable(f"{label}: not a readable gzip file ({error})") from error
    finally:
        stopping.set()
        worker.join()  # the stream is the caller's again
    scanned = scanner.finish()
    scanned.read_seconds, scanned.scan_seconds = read_seconds, scan_seconds
    return scanned


def scan_lines(path: Path, prefixes: list[bytes], label: str) -> ScannedLines:
    """``scan_stream`` of a landed file."""
    with path.open("rb") as stream:
        return scan_stream(stream, prefixes, label)


class DownloadScan:
    """Scans a download as its bytes arrive (a reader for ``flat_files.fetch_day_file``).

    It never fails the download: a stream it cannot read (corrupt, truncated, out of
    order) only leaves it without ``scanned``, and the parse step then reads the landed
    file itself and reports what is wrong with it, as for a file landed earlier.
    """

    def __init__(self, prefixes: list[bytes], label: str) -> None:
        self.prefixes, self.label = prefixes, label
        self.scanned: ScannedLines | None = None

    def __call__(self, stream: BinaryIO) -> bool:
        """True when the whole stream was read as gzip, its checksums matching."""
        try:
            self.scanned = scan_stream(stream, self.prefixes, self.label)
        except DayDataError:
            return False
        return True
