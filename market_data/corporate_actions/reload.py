"""Days to load again once a rename is learned after them.

A stock's days before its rename hold its former ticker's rows (FB's for META), stored
under the symbol. A day loaded before the rename was known found no row of the symbol
in its file, so the symbol has no bar that session: such days are loaded again, for that
symbol alone, once ``ticker_changes`` knows the former ticker.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import psycopg

from market_data.calendar import day_window, is_session
from market_data.corporate_actions.tickers import TickerHistory


def former_ticker_days(history: TickerHistory, days: Iterable[date]) -> dict[str, list[date]]:
    """Per symbol, the session ``days`` on which it traded under another ticker."""
    found: dict[str, list[date]] = {}
    for day in sorted(set(days)):
        if not is_session(day):
            continue
        for symbol in history.periods:
            if history.ticker_on(symbol, day) != symbol:
                found.setdefault(symbol, []).append(day)
    return found


def days_without_bars(conn: psycopg.Connection, symbol: str, days: list[date]) -> list[date]:
    """Those of ``days`` on which ``historical_bars`` holds no bar of ``symbol``."""
    if not days:
        return []
    rows = conn.execute(
        'SELECT DISTINCT ("timestamp" - %s) / 86400000 FROM historical_bars'
        ' WHERE symbol = %s AND timeframe = \'1m\' AND "timestamp" >= %s AND "timestamp" < %s',
        (
            day_window(days[0]).start_ms,
            symbol,
            day_window(days[0]).start_ms,
            day_window(days[-1]).end_ms,
        ),
    ).fetchall()
    # Whole days from the first window's start: exact enough to name a New York day, since
    # bars start between 04:00 and 20:00 and a daylight-saving shift is one hour.
    held = {days[0] + timedelta(days=int(offset)) for (offset,) in rows}
    return [d for d in days if d not in held]


def stretches(days: list[date]) -> list[list[date]]:
    """``days`` (sorted) cut wherever a session day not among them lies between two of them,
    so that a range run over each stretch loads no day that did not need it."""
    runs: list[list[date]] = []
    for day in days:
        previous = runs[-1][-1] if runs else None
        between = (
            (previous + timedelta(days=n) for n in range(1, (day - previous).days))
            if previous
            else ()
        )
        if runs and not any(is_session(d) for d in between):
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def days_to_reload(
    conn: psycopg.Connection, history: TickerHistory, loaded: Iterable[date]
) -> dict[str, list[date]]:
    """Per renamed symbol, the ``loaded`` days under a former ticker that hold none of its
    bars: loaded before the rename was known."""
    return {
        symbol: missing
        for symbol, days in former_ticker_days(history, loaded).items()
        if (missing := days_without_bars(conn, symbol, days))
    }
