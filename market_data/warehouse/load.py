"""Bars of one New York day into ``historical_bars``: COPY, then one upsert, one transaction.

What a load replaces is explicit: for each dataset, the bars of its loaded underlyings
that start inside the day. Replacing (not only upserting) matters when a republished
file drops a bar, and when the flat file supersedes REST bars the file does not have.
A REST load never touches a flat-file row: flat file beats REST, never the reverse.
Two loads of the same day serialize on an advisory lock, so each bar ends up once.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Literal

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from market_data.bar_schema import COLUMNS, KEY, TABLE_SCHEMA, sql_type
from market_data.calendar import DayWindow
from market_data.datasets import Dataset

Source = Literal["flat_file", "rest"]

_QUOTED = ", ".join(f'"{c}"' for c in COLUMNS)
_KEY = ", ".join(f'"{c}"' for c in KEY)
_UPDATES = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in COLUMNS if c not in KEY)
# Types only: the upsert into ``historical_bars`` enforces its constraints.
_STAGING_COLUMNS = ", ".join(f'"{f.name}" {sql_type(f)}' for f in TABLE_SCHEMA)


@dataclass(frozen=True)
class DatasetBars:
    """One dataset's bars for a day, where they came from, and the underlyings whose day
    they replace (a REST load replaces only REST rows)."""

    dataset: Dataset
    underlyings: frozenset[str]
    bars: pa.Table
    source: Source = "flat_file"


@dataclass(frozen=True)
class LoadResult:
    rows_copied: int
    rows_deleted: int
    rows_written: int
    seconds: float
    sources: tuple[str, ...] = ()


def _month_starts_ms(window: DayWindow) -> list[tuple[str, int, int]]:
    """(suffix, start, end) of each UTC month the window touches."""
    months = []
    cursor = datetime.fromtimestamp(window.start_ms / 1000, tz=timezone.utc).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    while int(cursor.timestamp() * 1000) < window.end_ms:
        nxt = cursor.replace(year=cursor.year + (cursor.month == 12), month=cursor.month % 12 + 1)
        months.append(
            (f"{cursor:%Y_%m}", int(cursor.timestamp() * 1000), int(nxt.timestamp() * 1000))
        )
        cursor = nxt
    return months


def ensure_month_partitions(conn: psycopg.Connection, window: DayWindow) -> None:
    """Create the monthly partitions the day needs (a short transaction of its own)."""
    for suffix, start, end in _month_starts_ms(window):
        name = f"historical_bars_{suffix}"
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('historical_bars partitions'))")
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
            if exists and exists[0]:
                continue
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} PARTITION OF historical_bars FOR VALUES FROM ({}) TO ({})"
                ).format(sql.Identifier(name), sql.Literal(start), sql.Literal(end))
            )


def _csv_payload(parts: list[DatasetBars]) -> tuple[bytes, int]:
    tables = []
    for part in parts:
        n = part.bars.num_rows
        if not n:
            continue
        added = {  # the bar_schema.LOAD_FIELDS
            "timeframe": part.dataset.timeframe,
            "source": part.source,
            "dataset": part.dataset.name,
        }
        columns = [
            pa.array([added[f.name]] * n, f.type) if f.name in added else part.bars.column(f.name)
            for f in TABLE_SCHEMA
        ]
        tables.append(pa.table(columns, names=COLUMNS))
    if not tables:
        return b"", 0
    table = pa.concat_tables(tables)
    sink = io.BytesIO()
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue(), table.num_rows


def _delete_scope(conn: psycopg.Connection, window: DayWindow, parts: list[DatasetBars]) -> int:
    """Delete what the load replaces: the day's bars of each part's dataset and underlyings
    (only their REST bars, for a REST part).

    One statement per part, with the underlyings as an array: PostgreSQL then walks the
    (dataset, underlying, timestamp) index. A join against the same list as a set of rows
    was planned as a hash join over the whole month partition whenever the partition's
    statistics did not know the symbols yet (a grown watchlist's first days), 0.5 s per
    day for a delete that had nothing to do."""
    deleted = 0
    for part in parts:
        if not part.underlyings:
            continue
        only_rest = " AND source = 'rest'" if part.source == "rest" else ""
        deleted += conn.execute(
            "DELETE FROM historical_bars WHERE dataset = %s AND underlying = ANY(%s)"
            f' AND "timestamp" >= %s AND "timestamp" < %s{only_rest}',
            (part.dataset.name, sorted(part.underlyings), window.start_ms, window.end_ms),
        ).rowcount
    return deleted


def _copy(conn: psycopg.Connection, table: str, payload: bytes) -> None:
    with conn.cursor().copy(f"COPY {table} ({_QUOTED}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(payload)


def _upsert_through_staging(conn: psycopg.Connection, payload: bytes) -> int:
    """COPY into a temporary table, then one upsert that never lets REST replace a
    flat-file bar."""
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS bars_staging ({_STAGING_COLUMNS}) ON COMMIT DELETE ROWS"
    )
    _copy(conn, "bars_staging", payload)
    return conn.execute(
        f"INSERT INTO historical_bars ({_QUOTED}) SELECT {_QUOTED} FROM bars_staging"
        f" ON CONFLICT ({_KEY}) DO UPDATE SET {_UPDATES}"
        " WHERE historical_bars.source = 'rest' OR EXCLUDED.source = 'flat_file'"
    ).rowcount


def _note_stand_ins(conn: psycopg.Connection, day: date, parts: list[DatasetBars]) -> None:
    """Remember the datasets REST stood in for on this day (options included, which REST
    leaves empty) until a flat-file load of the day replaces them."""
    rest = sorted({p.dataset.name for p in parts if p.source == "rest"})
    files = sorted({p.dataset.name for p in parts if p.source == "flat_file"})
    if rest:
        conn.execute(
            "INSERT INTO rest_stand_ins (day, dataset) SELECT %s, unnest(%s::text[])"
            " ON CONFLICT (day, dataset) DO NOTHING",
            (day, rest),
        )
    if files:
        conn.execute(
            "DELETE FROM rest_stand_ins WHERE day = %s AND dataset = ANY(%s)", (day, files)
        )


def load_day(
    conn: psycopg.Connection,
    window: DayWindow,
    parts: list[DatasetBars],
) -> LoadResult:
    """Replace the day's bars of the given datasets and underlyings, all or nothing.

    Flat-file bars go straight into the table with COPY once their scope is deleted: no
    bar can be left to conflict with. Should one (a symbol shared by two datasets), and
    for REST bars always, the load goes through a staging table and one upsert instead.
    """
    started = time.perf_counter()
    payload, rows = _csv_payload(parts)
    ensure_month_partitions(conn, window)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"load {window.day}",))
        deleted = _delete_scope(conn, window, parts)
        written = 0
        if rows and all(p.source == "flat_file" for p in parts):
            try:
                with conn.transaction():  # a savepoint: a conflict falls back to the upsert
                    _copy(conn, "historical_bars", payload)
                written = rows
            except psycopg.errors.UniqueViolation:
                written = _upsert_through_staging(conn, payload)
        elif rows:
            written = _upsert_through_staging(conn, payload)
        _note_stand_ins(conn, window.day, parts)
    return LoadResult(
        rows_copied=rows,
        rows_deleted=max(deleted, 0),
        rows_written=max(written, 0),
        seconds=time.perf_counter() - started,
        sources=tuple(sorted({p.source for p in parts if p.bars.num_rows})),
    )
