"""``daily_bars``: one bar per symbol and NYSE session, rebuilt per day from the minutes.

A day is rebuilt whole, in one transaction, from every symbol's stored minutes of that
New York day: the regular session's bar ([09:30, close), early closes from the
exchange calendar) and the whole day's (``all``). A day without a session keeps no
bar. The day is then recorded in ``daily_bars_days``, which tells the read path that
``daily_bars`` can answer for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import psycopg

from market_data.calendar import NEW_YORK, day_window, session

# The sessions daily_bars stores; `extended` daily bars are computed from the minutes.
STORED_SESSIONS = ("regular", "all")

_BUILD = """
INSERT INTO daily_bars (symbol, session, day, "timestamp", open, high, low, close,
                        volume, transactions, dataset, underlying)
SELECT b.symbol, kind.session, %(day)s, %(day_start)s,
       (min(ARRAY[b."timestamp"::float8, b.open]))[2], max(b.high), min(b.low),
       (max(ARRAY[b."timestamp"::float8, b.close]))[2],
       sum(b.volume), sum(b.transactions), min(b.dataset), min(b.underlying)
FROM historical_bars b
CROSS JOIN (VALUES ('all'), ('regular')) AS kind(session)
WHERE b.timeframe = '1m' AND b."timestamp" >= %(day_start)s AND b."timestamp" < %(day_end)s
  AND (kind.session = 'all' OR (b."timestamp" >= %(open)s AND b."timestamp" < %(close)s))
GROUP BY b.symbol, kind.session
"""


@dataclass(frozen=True)
class DailyBuild:
    rows_written: int
    rows_replaced: int
    session: bool  # False: a weekend or holiday, which keeps no bar


def build_day(conn: psycopg.Connection, day: date) -> DailyBuild:
    """Replace the day's daily bars with the aggregate of its stored minutes."""
    window, regular = day_window(day), session(day)
    with conn.transaction():
        replaced = conn.execute("DELETE FROM daily_bars WHERE day = %s", (day,)).rowcount
        written = 0
        if regular is not None:
            written = conn.execute(
                _BUILD,
                {
                    "day": day,
                    "day_start": window.start_ms,
                    "day_end": window.end_ms,
                    "open": regular.open_ms,
                    "close": regular.close_ms,
                },
            ).rowcount
        conn.execute(
            "INSERT INTO daily_bars_days (day) VALUES (%s)"
            " ON CONFLICT (day) DO UPDATE SET built_at = now()",
            (day,),
        )
    return DailyBuild(max(written, 0), max(replaced, 0), regular is not None)


def covered_days(conn: psycopg.Connection, days: Sequence[date]) -> int:
    """How many of ``days`` daily_bars has been built for (0 before its table exists)."""
    exists = conn.execute("SELECT to_regclass('daily_bars_days') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute(
        "SELECT count(*) FROM daily_bars_days WHERE day = ANY(%s::date[])", (list(days),)
    ).fetchone()
    return int(row[0]) if row else 0


def prune_daily_bars(conn: psycopg.Connection, cutoff_ms: int) -> int:
    """Remove the daily bars (and built days) of days starting before ``cutoff_ms``, a New
    York midnight as retention computes it; the rows removed."""
    cutoff = datetime.fromtimestamp(cutoff_ms / 1000, tz=NEW_YORK).date()
    deleted = conn.execute('DELETE FROM daily_bars WHERE "timestamp" < %s', (cutoff_ms,)).rowcount
    conn.execute("DELETE FROM daily_bars_days WHERE day < %s", (cutoff,))
    return max(deleted, 0)
