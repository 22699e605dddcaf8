"""How complete a day is: regular-session bars per symbol against the exchange calendar.

A regular session has 390 one-minute bars (210 on an early close, none on a holiday).
Indices publish a value every minute, so any gap is missing data; stocks may lack a
bar in a minute without trades, so they are judged with a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from market_data.calendar import (
    MS_PER_MINUTE,
    NEW_YORK,
    DayWindow,
    crypto_minutes,
    day_window,
    forex_minutes,
    session,
    utc_day_window,
)


@dataclass(frozen=True)
class DayCoverage:
    symbol: str
    day: date
    bars: int
    expected: int
    missing: list[tuple[int, int]] = field(default_factory=list)  # [start, end) ms ranges

    @property
    def share(self) -> float:
        return self.bars / self.expected if self.expected else 1.0

    def missing_text(self, tz: ZoneInfo = NEW_YORK) -> str:
        """Missing minutes as time ranges of ``tz`` (New York unless said), e.g. ``11:00-11:59``."""

        def hm(ms: int) -> str:
            return datetime.fromtimestamp(ms / 1000, tz).strftime("%H:%M")

        return ", ".join(
            hm(a) if b - a == MS_PER_MINUTE else f"{hm(a)}-{hm(b - MS_PER_MINUTE)}"
            for a, b in self.missing
        )


def minute_ranges(starts: np.ndarray) -> list[tuple[int, int]]:
    """Sorted minute starts (ms) folded into [start, end) ranges."""
    if starts.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(starts) != MS_PER_MINUTE) + 1
    return [(int(chunk[0]), int(chunk[-1]) + MS_PER_MINUTE) for chunk in np.split(starts, breaks)]


def session_coverage(
    conn: psycopg.Connection, day: date, symbols: list[str], timeframe: str = "1m"
) -> list[DayCoverage]:
    """Each symbol's regular-session bars on ``day`` and the minutes it lacks."""
    regular = session(day)
    if regular is None:
        return [DayCoverage(s, day, 0, 0) for s in symbols]
    return minute_coverage(conn, day, symbols, [(regular.open_ms, regular.close_ms)], timeframe)


def minute_coverage(
    conn: psycopg.Connection,
    day: date,
    symbols: list[str],
    ranges: list[tuple[int, int]],
    timeframe: str = "1m",
) -> list[DayCoverage]:
    """Each symbol's bars inside the expected ``ranges`` ([start, end) epoch ms) and the
    minutes of them it lacks."""
    expected = np.concatenate(
        [np.arange(a, b, MS_PER_MINUTE, dtype=np.int64) for a, b in ranges]
        or [np.zeros(0, np.int64)]
    )
    found: dict[str, list[int]] = {s: [] for s in symbols}
    for start, end in ranges:
        rows = conn.execute(
            'SELECT symbol, "timestamp" FROM historical_bars WHERE symbol = ANY(%s)'
            ' AND timeframe = %s AND "timestamp" >= %s AND "timestamp" < %s',
            (symbols, timeframe, start, end),
        ).fetchall()
        for symbol, ts in rows:
            found[symbol].append(ts)
    result = []
    for symbol in symbols:
        present = np.array(sorted(found[symbol]), dtype=np.int64)
        missing = np.setdiff1d(expected, present, assume_unique=True)
        result.append(
            DayCoverage(symbol, day, int(present.size), int(expected.size), minute_ranges(missing))
        )
    return result


def pair_minutes(
    conn: psycopg.Connection, day: date, market: str, symbols: list[str]
) -> list[tuple[int, int]]:
    """The minutes a UTC day's crypto or forex pairs are expected to trade: crypto all day;
    forex its Sunday-to-Friday hours, narrowed to the first and last minute any of the
    pairs has that day, so a holiday (2025-01-01: 21:01-23:59 UTC) is judged by what the
    market published, not flagged."""
    if market == "crypto":
        return [crypto_minutes(day)]
    hours = forex_minutes(day)
    if not hours or not symbols:
        return hours
    window = utc_day_window(day)
    first, last = conn.execute(
        'SELECT min("timestamp"), max("timestamp") FROM historical_bars'
        ' WHERE symbol = ANY(%s) AND "timestamp" >= %s AND "timestamp" < %s',
        (symbols, window.start_ms, window.end_ms),
    ).fetchone() or (None, None)
    if first is None:
        return hours
    narrowed = [(max(a, first), min(b, last + MS_PER_MINUTE)) for a, b in hours]
    return [(a, b) for a, b in narrowed if a < b]


def bar_sanity(
    conn: psycopg.Connection, day: date, window: DayWindow | None = None
) -> dict[str, int]:
    """Counts of the day's bars (a New York day unless ``window`` says otherwise) that break
    OHLC, volume or minute alignment."""
    window = window or day_window(day)
    row = conn.execute(
        "SELECT count(*),"
        " count(*) FILTER (WHERE low > least(open, close) OR high < greatest(open, close)"
        "                   OR low > high),"
        " count(*) FILTER (WHERE volume < 0),"
        " count(*) FILTER (WHERE timeframe = '1m' AND \"timestamp\" %% 60000 <> 0)"
        ' FROM historical_bars WHERE "timestamp" >= %s AND "timestamp" < %s',
        (window.start_ms, window.end_ms),
    ).fetchone()
    bars, ohlc, volume, misaligned = row if row else (0, 0, 0, 0)
    return {
        "bars": bars,
        "ohlc_inconsistent": ohlc,
        "negative_volume": volume,
        "not_on_a_minute": misaligned,
    }


def coverage_shares(
    conn: psycopg.Connection, days: list[date], symbols: list[str]
) -> list[list[float | None]]:
    """Share of expected session bars per symbol (rows) and day (columns); None: no session."""
    by_day = {day: {c.symbol: c for c in session_coverage(conn, day, symbols)} for day in days}
    return [[by_day[d][s].share if by_day[d][s].expected else None for d in days] for s in symbols]


def day_closes(
    conn: psycopg.Connection, day: date, symbols: list[str], timeframe: str = "1m"
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each symbol's bar starts (epoch ms) and closes over the New York day, for its chart."""
    window = day_window(day)
    rows = conn.execute(
        'SELECT symbol, "timestamp", close FROM historical_bars WHERE symbol = ANY(%s)'
        ' AND timeframe = %s AND "timestamp" >= %s AND "timestamp" < %s'
        ' ORDER BY symbol, "timestamp"',
        (symbols, timeframe, window.start_ms, window.end_ms),
    ).fetchall()
    found: dict[str, list[tuple[int, float]]] = {s: [] for s in symbols}
    for symbol, ts, close in rows:
        found[symbol].append((ts, close))
    return {
        symbol: (
            np.array([ts for ts, _ in bars], dtype=np.int64),
            np.array([close for _, close in bars], dtype=float),
        )
        for symbol, bars in found.items()
    }
