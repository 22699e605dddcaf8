"""Minute bars written straight into ``historical_bars``, and an independent reference.

The reference reads the stored rows with plain SQL and resamples them with pandas and
exchange_calendars directly, sharing no code with ``market_data.read``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time

import exchange_calendars
import numpy as np
import pandas as pd
import psycopg

from market_data.calendar import day_window
from market_data.warehouse.load import ensure_month_partitions

NY = "America/New_York"
COLUMNS = ["symbol", "timestamp", "open", "high", "low", "close", "volume", "transactions"]
XNYS = exchange_calendars.get_calendar("XNYS")
RULES = {"1min": "1min", "5min": "5min", "15min": "15min", "30min": "30min", "1h": "1h"}


def _minutes(day: date, first: time, last: time) -> pd.DatetimeIndex:
    start = pd.Timestamp(datetime.combine(day, first), tz=NY)
    end = pd.Timestamp(datetime.combine(day, last), tz=NY)
    return pd.date_range(start, end, freq="1min", inclusive="left")


def write_minutes(
    conn: psycopg.Connection,
    symbol: str,
    days: Iterable[date],
    *,
    dataset: str,
    underlying: str | None = None,
    hours: tuple[time, time] = (time(4), time(20)),
    seed: int = 0,
    keep_share: float = 0.9,
) -> int:
    """Random-walk minutes over ``hours`` of each day, about ``keep_share`` of them kept
    (gaps, as real data has); indices get no volume or transactions."""
    rng = np.random.default_rng(seed)
    rows = 0
    with conn.cursor() as cur:
        for day in days:
            ensure_month_partitions(conn, day_window(day))
            stamps = _minutes(day, *hours)
            stamps = stamps[rng.random(len(stamps)) < keep_share]
            close = 100 + np.cumsum(rng.normal(0, 0.2, len(stamps)))
            opens = close + rng.normal(0, 0.05, len(stamps))
            with cur.copy(
                'COPY historical_bars (symbol, timeframe, "timestamp", open, high, low, close,'
                " volume, transactions, source, dataset, underlying) FROM STDIN"
            ) as copy:
                for stamp, o, c in zip(stamps, opens, close, strict=True):
                    indexed = dataset == "indices"
                    copy.write_row(
                        (
                            symbol,
                            "1m",
                            int(stamp.timestamp() * 1000),
                            o,
                            max(o, c) + 0.1,
                            min(o, c) - 0.1,
                            c,
                            None if indexed else float(rng.integers(1, 500)),
                            None if indexed else int(rng.integers(1, 50)),
                            "flat_file",
                            dataset,
                            underlying or symbol,
                        )
                    )
            rows += len(stamps)
    return rows


def stored_minutes(
    conn: psycopg.Connection, symbols: list[str], start: date, end: date
) -> pd.DataFrame:
    rows = conn.execute(
        'SELECT symbol, "timestamp", open, high, low, close, volume, transactions'
        ' FROM historical_bars WHERE symbol = ANY(%s) AND "timestamp" >= %s AND "timestamp" < %s',
        (symbols, day_window(start).start_ms, day_window(end).end_ms),
    ).fetchall()
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ms", utc=True).dt.tz_convert(NY)
    return frame


def _in_session(stamps: pd.Series, session: str) -> pd.Series:
    local_day = stamps.dt.tz_localize(None).dt.normalize()
    schedule = XNYS.schedule
    is_session = local_day.isin(schedule.index)
    opens = local_day.map(schedule["open"]).dt.tz_convert(NY)
    closes = local_day.map(schedule["close"]).dt.tz_convert(NY)
    if session == "all":
        return is_session
    regular = is_session & (stamps >= opens) & (stamps < closes)
    if session == "regular":
        return regular
    clock = stamps.dt.tz_localize(None) - local_day
    extended_hours = (clock >= pd.Timedelta(hours=4)) & (clock < pd.Timedelta(hours=20))
    return is_session & extended_hours & ~regular


def reference_bars(minutes: pd.DataFrame, timeframe: str, session: str) -> pd.DataFrame:
    """What ``bars`` must return, by pandas alone."""
    kept = minutes[_in_session(minutes["timestamp"], session)]
    if timeframe != "1d" and session == "all":
        kept = minutes  # intraday `all` keeps every stored minute
    out = []
    for symbol, group in kept.groupby("symbol"):
        indexed = group.set_index("timestamp").sort_index()
        if timeframe == "1d":
            keys = indexed.index.tz_localize(None).normalize().tz_localize(NY)
            grouped = indexed.groupby(keys)
        else:
            grouped = indexed.resample(RULES[timeframe])
        agg = grouped.agg(
            {
                "open": "first",
                "high": "max",
                "low": "min",
                "close": "last",
                "volume": lambda v: v.sum(min_count=1),
                "transactions": lambda v: v.sum(min_count=1),
            }
        ).dropna(subset=["open"])
        agg.insert(0, "symbol", symbol)
        out.append(agg.reset_index(names="timestamp"))
    frame = pd.concat(out, ignore_index=True)[COLUMNS]
    frame["volume"] = frame["volume"].astype("float64")
    frame["transactions"] = frame["transactions"].astype("Int64")
    frame["timestamp"] = frame["timestamp"].astype(f"datetime64[ms, {NY}]")
    return frame.sort_values(["symbol", "timestamp"], ignore_index=True)


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["symbol"] = frame["symbol"].astype(object)
    frame["timestamp"] = frame["timestamp"].astype(f"datetime64[ms, {NY}]")
    return frame.reset_index(drop=True)
