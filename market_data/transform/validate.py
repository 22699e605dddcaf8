"""Row checks between parsing and loading: wrong rows go to quarantine, not to the table.

Real files have carried a whole day of negative ``window_start`` values and rows
stamped with the next day (a known fault of some of Massive's files). A row must start inside the file's own
New York day, on a whole minute, with finite prices; a repeated
``(symbol, window_start)`` keeps its first row. A file whose candidate rows are
mostly wrong is refused whole, because it is the file that is broken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from market_data.bar_schema import PRICE_COLUMNS
from market_data.calendar import MS_PER_MINUTE, NS_PER_MS, DayWindow
from market_data.errors import DayDataError

# The flat files' own start of a row, in nanoseconds, kept beside ``timestamp`` (ms) until
# the checks have seen it: a start that is not a whole millisecond is not a whole minute.
SOURCE_START = "window_start"


class InvalidDayFileError(DayDataError):
    """Most rows of a file failed the checks: nothing of it is loaded."""


@dataclass(frozen=True)
class RowChecks:
    # Share of rejected rows above which the file is refused instead of quarantined.
    max_rejected_share: float = 0.5


@dataclass
class CheckedRows:
    valid: pa.Table
    rejected: pa.Table | None
    duplicates_dropped: int


def _reasons(table: pa.Table, window: DayWindow) -> np.ndarray:
    """One reason per row ('' when the row is fine)."""
    start = table.column("timestamp").to_numpy(zero_copy_only=False)
    reasons = np.full(len(start), "", dtype=object)
    prices = np.column_stack(
        [table.column(c).to_numpy(zero_copy_only=False) for c in PRICE_COLUMNS]
    )
    reasons[~np.isfinite(prices).all(axis=1)] = "non-finite price"
    off_minute = start % MS_PER_MINUTE != 0
    negative = start < 0
    if SOURCE_START in table.column_names:
        # int64, not float: a null (caught by ``start`` above) would make it inexact.
        start_ns = pc.fill_null(table.column(SOURCE_START), 0).to_numpy(zero_copy_only=False)
        off_minute |= start_ns % NS_PER_MS != 0
        negative |= start_ns < 0
    reasons[off_minute] = "window_start not on a whole minute"
    outside = (start < window.start_ms) | (start >= window.end_ms)
    reasons[outside] = f"window_start outside {window.day} (New York)"
    reasons[negative] = "negative window_start"
    return reasons


def check_rows(table: pa.Table, window: DayWindow, checks: RowChecks, label: str) -> CheckedRows:
    """Split candidate rows (``timestamp`` in ms, plus ``window_start`` in ns for a flat
    file's rows) into valid and quarantined ones."""
    reasons = _reasons(table, window)
    bad = reasons != ""
    rejected = None
    if bad.any():
        rejected = table.filter(pa.array(bad)).append_column(
            "reason", pa.array(reasons[bad].tolist(), pa.string())
        )
        share = bad.sum() / len(bad)
        if share > checks.max_rejected_share:
            examples = ", ".join(sorted(set(reasons[bad].tolist())))
            raise InvalidDayFileError(
                f"{label}: {int(bad.sum()):,} of {len(bad):,} watchlist rows fail the row "
                f"checks ({examples}); the file is refused and nothing is loaded"
            )
    valid = table.filter(pa.array(~bad)) if bad.any() else table

    # Sort by (symbol, start) and drop repeats, keeping the first occurrence.
    order = pc.sort_indices(valid, sort_keys=[("symbol", "ascending"), ("timestamp", "ascending")])
    valid = valid.take(order)
    symbols = valid.column("symbol").to_numpy(zero_copy_only=False)
    starts = valid.column("timestamp").to_numpy(zero_copy_only=False)
    repeat = np.zeros(len(starts), dtype=bool)
    if len(starts) > 1:
        repeat[1:] = (symbols[1:] == symbols[:-1]) & (starts[1:] == starts[:-1])
    if repeat.any():
        valid = valid.filter(pa.array(~repeat))
    return CheckedRows(valid=valid, rejected=rejected, duplicates_dropped=int(repeat.sum()))
