"""A gzipped day file into the watchlist's bars, streamed so memory stays flat.

Only the watchlist's lines are parsed: ``scan.py`` finds them in the decompressed
stream (the files are sorted by ticker), and pyarrow reads them by header name with
explicit types (``ticker`` stays a string: ``NA`` is a ticker, not a null;
``window_start`` is read as int64 nanoseconds and becomes the bar's ``timestamp`` in
milliseconds at once, the unit of ``bar_schema.py``). A file out of order is read block by block
with pyarrow's streaming reader instead, each block cut down to the watchlist at once.
Either way a day file of millions of rows never exists as one table.
"""

from __future__ import annotations

import gzip
import io
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from market_data.bar_schema import BARS_SCHEMA, PRICE_COLUMNS, timestamps_from_ns
from market_data.calendar import DayWindow
from market_data.datasets import NO_RENAMES, RAW_COLUMN_TYPES, Dataset, Renames
from market_data.errors import DayDataError
from market_data.transform.scan import OutOfOrder, ScannedLines, Unreadable, scan_lines
from market_data.transform.scanned_lines import load_scanned_lines
from market_data.transform.validate import SOURCE_START, RowChecks, check_rows

BLOCK_BYTES = 4 * 1024 * 1024


class DayFileError(DayDataError):
    """A day file that cannot be trusted; the message names the file and the reason."""


@dataclass
class ParsedDay:
    """The watchlist's bars of one day file, plus what was read and set aside."""

    bars: pa.Table
    rows_read: int = 0
    quarantine: pa.Table | None = None
    duplicates_dropped: int = 0
    seconds: float = 0.0
    scanned_in_download: bool = False  # the download's scan kept the lines: file not read
    symbols: list[str] = field(default_factory=list)

    @property
    def rows_kept(self) -> int:
        return cast(int, self.bars.num_rows)

    @property
    def rows_quarantined(self) -> int:
        return 0 if self.quarantine is None else self.quarantine.num_rows


def empty_bars() -> pa.Table:
    return BARS_SCHEMA.empty_table()


def read_header(path: Path, label: str) -> list[str]:
    """The first line of the file, checked before any parsing."""
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            line = f.readline()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as error:
        raise DayFileError(f"{label}: not a readable gzip file ({error})") from error
    return header_columns(line, label)


def header_columns(line: str, label: str) -> list[str]:
    if not line.strip():
        raise DayFileError(f"{label}: empty file, no header line")
    return [name.strip() for name in line.strip().split(",")]


def check_header(columns: list[str], dataset: Dataset, label: str) -> None:
    if sorted(columns) != sorted(dataset.header) or len(set(columns)) != len(columns):
        raise DayFileError(
            f"{label}: unexpected header {','.join(columns)!r}; "
            f"{dataset.name} files have {','.join(dataset.header)!r}"
        )


def _to_bars(
    batch: pa.RecordBatch, dataset: Dataset, underlyings: frozenset[str], renames: Renames
) -> pa.Table:
    matched = dataset.tickers.match(batch.column("ticker"), underlyings, renames)
    if not pc.any(matched.mask).as_py():
        return empty_bars()
    n = pc.sum(matched.mask).as_py()
    nulls_f = pa.nulls(n, pa.float64())
    start_ns = pc.filter(batch.column("window_start"), matched.mask)
    columns = {
        "symbol": pc.filter(matched.symbols, matched.mask),
        "underlying": pc.filter(matched.underlyings, matched.mask),
        "timestamp": timestamps_from_ns(start_ns),
        **{c: pc.filter(batch.column(c), matched.mask) for c in PRICE_COLUMNS},
        "volume": pc.filter(batch.column("volume"), matched.mask)
        if dataset.has_volume
        else nulls_f,
        "vwap": nulls_f,
        "transactions": (
            pc.filter(batch.column("transactions"), matched.mask)
            if dataset.has_volume
            else pa.nulls(n, pa.int64())
        ),
        "file_ticker": pc.filter(matched.file_tickers, matched.mask)
        if matched.file_tickers is not None
        else pa.nulls(n, pa.string()),
        SOURCE_START: start_ns,  # for the row checks only (see validate.py)
    }
    return pa.table(columns)


@dataclass
class CandidateBars:
    """A day's rows of the watched underlyings from one source (a day file or REST), before
    the row checks: what the landing step hands to ``finalize_candidates``."""

    rows: pa.Table | None  # None when the source holds no row of the underlyings
    rows_read: int = 0  # every row the source held
    scanned_in_download: bool = False  # the download's scan kept the lines: file not read
    seconds: float = 0.0


def read_candidates(
    path: Path,
    dataset: Dataset,
    underlyings: frozenset[str],
    label: str | None = None,
    renames: Renames = NO_RENAMES,
) -> CandidateBars:
    """Stream ``path`` and keep the rows of ``underlyings``; a renamed symbol's rows are its
    former ticker's (``renames``), kept under it."""
    started = time.perf_counter()
    label = label or str(path)
    # What the download's scan kept, if it did (``scanned_lines.py``): the file is not opened.
    prefixes = dataset.tickers.line_prefixes(underlyings, renames)
    saved = load_scanned_lines(path, prefixes) if underlyings else None
    if saved is not None:
        columns = header_columns(saved.header.decode("utf-8", "replace"), label)
    else:
        columns = read_header(path, label)
    check_header(columns, dataset, label)
    if not underlyings:
        return CandidateBars(rows=None, seconds=time.perf_counter() - started)

    convert_options = pa_csv.ConvertOptions(
        column_types={c: RAW_COLUMN_TYPES[c] for c in dataset.header},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    if columns[0] != "ticker":
        saved = None  # lines do not start with their ticker: what a scan kept means nothing
    try:
        if columns[0] != "ticker":
            raise OutOfOrder(f"{label}: ticker is not the first column")
        scanned = saved or _scan_file(path, prefixes, label)
        pieces, rows_read = _parse_lines(
            scanned, dataset, underlyings, renames, convert_options, label
        )
    except OutOfOrder:
        pieces, rows_read = _stream(path, dataset, underlyings, renames, convert_options, label)
    return CandidateBars(
        rows=pa.concat_tables(pieces) if pieces else None,
        rows_read=rows_read,
        scanned_in_download=saved is not None,
        seconds=time.perf_counter() - started,
    )


def finalize_candidates(
    candidates: CandidateBars, window: DayWindow, label: str, checks: RowChecks | None = None
) -> ParsedDay:
    """The one way candidate rows become bars, whichever their source: row-checked within
    the day's ``window`` and given the bars schema."""
    started = time.perf_counter()
    if candidates.rows is None or not candidates.rows.num_rows:
        parsed = ParsedDay(bars=empty_bars())
    else:
        parsed = finalize_bars(candidates.rows, window, checks or RowChecks(), label)
    parsed.rows_read = candidates.rows_read
    parsed.scanned_in_download = candidates.scanned_in_download
    parsed.seconds = candidates.seconds + time.perf_counter() - started
    return parsed


def parse_day_file(
    path: Path,
    dataset: Dataset,
    window: DayWindow,
    underlyings: frozenset[str],
    label: str | None = None,
    checks: RowChecks | None = None,
    renames: Renames = NO_RENAMES,
) -> ParsedDay:
    """A day file's bars of ``underlyings`` that pass the row checks, in one call."""
    label = label or str(path)
    candidates = read_candidates(path, dataset, underlyings, label, renames)
    return finalize_candidates(candidates, window, label, checks)


def _scan_file(path: Path, prefixes: list[bytes], label: str) -> ScannedLines:
    try:
        return scan_lines(path, prefixes, label)
    except Unreadable as error:
        raise DayFileError(str(error)) from error


def _parse_lines(
    scanned: ScannedLines,
    dataset: Dataset,
    underlyings: frozenset[str],
    renames: Renames,
    convert_options: pa_csv.ConvertOptions,
    label: str,
) -> tuple[list[pa.Table], int]:
    """The fast way: only the watchlist's runs of lines are parsed (see ``scan.py``)."""
    if not scanned.lines:
        return [], scanned.rows_read
    try:
        table = pa_csv.read_csv(
            io.BytesIO(scanned.header + b"".join(scanned.lines)),
            read_options=pa_csv.ReadOptions(use_threads=False),
            convert_options=convert_options,
        )
    except pa.ArrowInvalid as error:
        raise DayFileError(f"{label}: unreadable watchlist rows: {error}") from error
    kept = [_to_bars(batch, dataset, underlyings, renames) for batch in table.to_batches()]
    return [t for t in kept if t.num_rows], scanned.rows_read


def _stream(
    path: Path,
    dataset: Dataset,
    underlyings: frozenset[str],
    renames: Renames,
    convert_options: pa_csv.ConvertOptions,
    label: str,
) -> tuple[list[pa.Table], int]:
    """The general way, for a file not sorted by ticker: every block parsed and filtered."""
    pieces: list[pa.Table] = []
    rows_read = 0
    try:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(block_size=BLOCK_BYTES),
            convert_options=convert_options,
        )
        for batch in reader:
            rows_read += batch.num_rows
            kept = _to_bars(batch, dataset, underlyings, renames)
            if kept.num_rows:
                pieces.append(kept)
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as error:
        raise DayFileError(f"{label}: unreadable at row ~{rows_read:,}: {error}") from error
    return pieces, rows_read


def finalize_bars(
    candidates: pa.Table, window: DayWindow, checks: RowChecks, label: str
) -> ParsedDay:
    """Row-check candidate bars (``timestamp`` in ms) and give them the bars schema."""
    checked = check_rows(candidates, window, checks, label)
    bars = checked.valid.select(BARS_SCHEMA.names).cast(BARS_SCHEMA)
    return ParsedDay(
        bars=bars,
        rows_read=candidates.num_rows,
        quarantine=checked.rejected,
        duplicates_dropped=checked.duplicates_dropped,
        symbols=sorted(pc.unique(bars.column("underlying")).to_pylist()),
    )
