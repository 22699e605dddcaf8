"""The columns of a bar, defined once: the Arrow schema of a stored bar and the
``historical_bars`` columns the loader writes.

Parsing, the REST path, the bar store and the loader all build or read bars; they take
the names, types and nullability from here instead of spelling them out, and
``market_data_tests/test_bar_schema.py`` checks that ``sql/002_historical_bars.sql``
creates the table to match, so neither side can change alone.

A bar's ``timestamp`` is its start in epoch milliseconds UTC, the unit of
``historical_bars``, from the moment the bar exists until it is loaded. The REST API
already speaks milliseconds; the flat files' nanoseconds are converted once, on reading
(``timestamps_from_ns``).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from market_data.calendar import NEW_YORK, NS_PER_MS

TABLE = "historical_bars"
TIMESTAMP_UNIT = "ms"  # epoch milliseconds UTC, in an int64 (SQL bigint)

PRICE_COLUMNS = ("open", "high", "low", "close")

# A stored bar (the Parquet files of the bar store). Not null where the table says so.
BARS_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("underlying", pa.string(), nullable=False),
        pa.field("timestamp", pa.int64(), nullable=False),
        *(pa.field(c, pa.float64(), nullable=False) for c in PRICE_COLUMNS),
        pa.field("volume", pa.float64()),  # none in indices files
        pa.field("vwap", pa.float64()),
        pa.field("transactions", pa.int32()),
        # The day file's ticker where it is not the symbol (a renamed stock's former
        # ticker, docs/corporate-actions.md); null otherwise.
        pa.field("file_ticker", pa.string()),
    ]
)

# A bar as ``market_data.read`` returns it (docs/contracts.md §7): the stored columns a
# backtest wants, the start as a New York timestamp, counts as 64-bit integers.
READ_TIMESTAMP = pa.timestamp(TIMESTAMP_UNIT, tz=NEW_YORK.key)
READ_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("timestamp", READ_TIMESTAMP),
        *((c, pa.float64()) for c in PRICE_COLUMNS),
        ("volume", pa.float64()),
        ("transactions", pa.int64()),
    ]
)

# Rows before the row checks: any column may be null (such a row is quarantined).
CANDIDATE_SCHEMA = pa.schema([field.with_nullable(True) for field in BARS_SCHEMA])

# What a load adds to each bar: one value for all bars of a dataset's part of the load.
LOAD_FIELDS = (
    pa.field("timeframe", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("dataset", pa.string(), nullable=False),
)

# ``historical_bars`` in its column order, which the COPY's column list follows.
_TABLE_ORDER = (
    "symbol",
    "timeframe",
    "timestamp",
    *PRICE_COLUMNS,
    "volume",
    "vwap",
    "transactions",
    "source",
    "dataset",
    "underlying",
    "file_ticker",
)
_FIELDS = {field.name: field for field in (*BARS_SCHEMA, *LOAD_FIELDS)}
TABLE_SCHEMA = pa.schema([_FIELDS[name] for name in _TABLE_ORDER])
COLUMNS = tuple(TABLE_SCHEMA.names)
KEY = ("symbol", "timeframe", "timestamp")  # the primary key

SQL_TYPES = {
    pa.string(): "text",
    pa.int64(): "bigint",
    pa.int32(): "integer",
    pa.float64(): "double precision",
}


def sql_type(field: pa.Field) -> str:
    """The PostgreSQL type of a column (as ``information_schema`` names it)."""
    return SQL_TYPES[field.type]


def timestamps_from_ns(ns: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Epoch nanoseconds (the flat files' ``window_start``) in the bars' unit; nulls stay null.

    Integer division truncates: a start that is not a whole millisecond is told apart by
    the row checks, which also see the nanoseconds.
    """
    return pc.divide(ns, NS_PER_MS)
