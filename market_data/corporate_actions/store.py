"""The ``splits``, ``dividends`` and ``ticker_changes`` tables (``sql/008``).

A refresh replaces everything stored for the tickers it asked about, in one
transaction: an entry Massive corrected is replaced, one it withdrew is removed, and a
refresh that failed part-way has stored nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date, timedelta
from typing import Any

import psycopg

from market_data.corporate_actions.model import Dividend, Split, TickerPeriod
from market_data.corporate_actions.tickers import TickerHistory

SPLIT_COLUMNS = tuple(f.name for f in fields(Split))
DIVIDEND_COLUMNS = tuple(f.name for f in fields(Dividend))


@dataclass(frozen=True)
class Changes:
    """What a refresh did to the stored entries of the tickers it covered."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0

    def describe(self) -> str:
        return (
            f"{self.added} added, {self.changed} changed, {self.removed} removed, "
            f"{self.unchanged} unchanged"
        )


def _changes(
    old: dict[tuple[Any, ...], tuple[Any, ...]], new: dict[tuple[Any, ...], tuple[Any, ...]]
) -> Changes:
    return Changes(
        added=len(new.keys() - old.keys()),
        changed=sum(1 for k in new.keys() & old.keys() if new[k] != old[k]),
        removed=len(old.keys() - new.keys()),
        unchanged=sum(1 for k in new.keys() & old.keys() if new[k] == old[k]),
    )


def _replace(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    key_size: int,
    tickers: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> Changes:
    listed = ", ".join(columns)
    with conn.transaction():
        old = {
            row[:key_size]: row
            for row in conn.execute(
                f"SELECT {listed} FROM {table} WHERE ticker = ANY(%s)", (list(tickers),)
            )
        }
        conn.execute(f"DELETE FROM {table} WHERE ticker = ANY(%s)", (list(tickers),))
        with conn.cursor() as cursor:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({listed}) VALUES ({placeholders})", rows)
    return _changes(old, {row[:key_size]: row for row in rows})


def replace_splits(
    conn: psycopg.Connection, tickers: Sequence[str], splits: Sequence[Split]
) -> Changes:
    """Store ``splits`` as everything known of ``tickers``' splits."""
    return _replace(conn, "splits", SPLIT_COLUMNS, 2, tickers, [astuple(s) for s in splits])


def replace_dividends(
    conn: psycopg.Connection, tickers: Sequence[str], dividends: Sequence[Dividend]
) -> Changes:
    """Store ``dividends`` as everything known of ``tickers``' dividends. The key is
    (ticker, ex_dividend_date, distribution_type): the columns are reordered to put it first."""
    ordered = ("ticker", "ex_dividend_date", "distribution_type")
    columns = ordered + tuple(c for c in DIVIDEND_COLUMNS if c not in ordered)
    rows = [tuple(getattr(d, c) for c in columns) for d in dividends]
    return _replace(conn, "dividends", columns, 3, tickers, rows)


def stored_splits(conn: psycopg.Connection, tickers: Iterable[str]) -> list[Split]:
    rows = conn.execute(
        f"SELECT {', '.join(SPLIT_COLUMNS)} FROM splits WHERE ticker = ANY(%s)"
        " ORDER BY ticker, execution_date",
        (sorted(set(tickers)),),
    ).fetchall()
    return [Split(*row) for row in rows]


def stored_dividends(conn: psycopg.Connection, tickers: Iterable[str]) -> list[Dividend]:
    rows = conn.execute(
        f"SELECT {', '.join(DIVIDEND_COLUMNS)} FROM dividends WHERE ticker = ANY(%s)"
        " ORDER BY ticker, ex_dividend_date",
        (sorted(set(tickers)),),
    ).fetchall()
    return [Dividend(*row) for row in rows]


def replace_ticker_history(
    conn: psycopg.Connection,
    checked: dict[str, str | None],
    periods: Sequence[TickerPeriod],
) -> Changes:
    """Store ``periods`` as the whole ticker history of the ``checked`` symbols (symbol →
    composite FIGI) and record when they were checked."""
    symbols = sorted(checked)
    with conn.transaction():
        old = {
            (row[0], row[1]): row
            for row in conn.execute(
                "SELECT symbol, valid_from, ticker, composite_figi FROM ticker_changes"
                " WHERE symbol = ANY(%s)",
                (symbols,),
            )
        }
        conn.execute("DELETE FROM ticker_changes WHERE symbol = ANY(%s)", (symbols,))
        rows = [astuple(p) for p in periods]
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO ticker_changes (symbol, valid_from, ticker, composite_figi)"
                " VALUES (%s, %s, %s, %s)",
                rows,
            )
            cursor.executemany(
                "INSERT INTO ticker_checks (symbol, composite_figi, checked_at)"
                " VALUES (%s, %s, now()) ON CONFLICT (symbol) DO UPDATE"
                " SET composite_figi = EXCLUDED.composite_figi, checked_at = now()",
                list(checked.items()),
            )
    return _changes(old, {(r[0], r[1]): r for r in rows})


def ticker_history(conn: psycopg.Connection, symbols: Iterable[str]) -> TickerHistory:
    rows = conn.execute(
        "SELECT symbol, valid_from, ticker, composite_figi FROM ticker_changes"
        " WHERE symbol = ANY(%s) ORDER BY symbol, valid_from",
        (sorted(set(symbols)),),
    ).fetchall()
    periods: dict[str, list[TickerPeriod]] = {}
    for row in rows:
        periods.setdefault(row[0], []).append(TickerPeriod(*row))
    return TickerHistory({s: tuple(p) for s, p in periods.items()})


def symbols_to_check(
    conn: psycopg.Connection, symbols: Iterable[str], max_age: timedelta
) -> list[str]:
    """The symbols whose ticker history was never asked for, or not within ``max_age``."""
    rows = conn.execute(
        "SELECT s FROM unnest(%s::text[]) AS s WHERE NOT EXISTS (SELECT 1 FROM ticker_checks c"
        " WHERE c.symbol = s AND c.checked_at > now() - %s)",
        (sorted(set(symbols)), max_age),
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class TableSummary:
    rows: int
    tickers: int
    newest: str  # the latest entry, as a person reads it


def splits_summary(conn: psycopg.Connection) -> TableSummary:
    counted = conn.execute("SELECT count(*), count(DISTINCT ticker) FROM splits").fetchone()
    rows, tickers = counted if counted else (0, 0)
    newest = conn.execute(
        "SELECT ticker, execution_date, split_from, split_to FROM splits"
        " ORDER BY execution_date DESC, ticker LIMIT 1"
    ).fetchone()
    text = "(none)"
    if newest:
        split = Split(newest[0], newest[1], newest[2], newest[3])
        text = f"{split.ticker} {split.describe()} on {split.execution_date}"
    return TableSummary(rows, tickers, text)


def dividends_summary(conn: psycopg.Connection, today: date) -> TableSummary:
    counted = conn.execute("SELECT count(*), count(DISTINCT ticker) FROM dividends").fetchone()
    rows, tickers = counted if counted else (0, 0)
    newest = conn.execute(
        "SELECT ticker, ex_dividend_date, cash_amount, currency FROM dividends"
        " WHERE ex_dividend_date <= %s ORDER BY ex_dividend_date DESC, ticker LIMIT 1",
        (today,),
    ).fetchone()
    text = "(none)"
    if newest:
        text = f"{newest[0]} {newest[2]:g} {newest[3] or ''} ex {newest[1]}".replace("  ", " ")
    return TableSummary(rows, tickers, text)
