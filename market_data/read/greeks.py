"""Implied volatility and greeks of stored option bars: ``option_greeks`` over a range,
``option_chain`` at one instant (docs/contracts.md §11, docs/options.md).

The reading is ``option_bars``'s; the forward needs both rights of every strike, so a
``right`` or ``strike`` filter is applied after the analytics, never to the read. Prices
are as traded: strikes come from the OCC ticker, so split-adjusted premiums would not
match them (there is no ``adjust`` here).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import cast

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from market_data import settings
from market_data.calendar import MS_PER_MINUTE, NEW_YORK, session
from market_data.options.analytics import UnderlyingMinutes, option_analytics
from market_data.read.api import (
    BUCKET_MS,
    BadReadRequest,
    DayLike,
    OptionFilter,
    Timeframe,
    clean_symbol,
    database_url_for_reads,
    option_filter,
    read_bars,
    read_option_bars,
    read_request,
    to_frame,
    with_contract_columns,
)
from market_data.read.sessions import SessionName
from market_data.warehouse.db import connect


def _rate(rate: float | None) -> float:
    if rate is None:
        return settings.risk_free_rate()
    if not -0.5 < float(rate) < 1:
        raise BadReadRequest(f"rate must be a decimal rate such as 0.04, not {rate!r}")
    return float(rate)


def _bar_ends(start_ms: np.ndarray, timeframe: str) -> np.ndarray:
    """Where each bar ends: start + length; a ``1d`` bar at its session's close."""
    if timeframe != "1d":
        return start_ms + BUCKET_MS[timeframe]
    days, at = np.unique(start_ms, return_inverse=True)
    closes = []
    for start in days.tolist():
        regular = session(datetime.fromtimestamp(start / 1000, NEW_YORK).date())
        closes.append(regular.close_ms if regular else start)
    return np.asarray(closes, np.int64)[at.ravel()]


def _underlying_minutes(
    conn: psycopg.Connection, symbol: str, start: DayLike, end: DayLike
) -> UnderlyingMinutes:
    """Every stored minute of the underlying over the days (none stored: empty)."""
    minutes = read_bars(conn, read_request(symbol, start, end, "1min", "all"))
    return UnderlyingMinutes(
        minutes["timestamp"].cast(pa.int64()).to_numpy(), minutes["close"].to_numpy()
    )


def _greeks_table(
    conn: psycopg.Connection,
    underlying: str,
    start: DayLike,
    end: DayLike,
    wanted: OptionFilter,
    timeframe: str,
    session_name: str,
    rate: float,
    keep_rows: Callable[[pa.Table], np.ndarray] | None = None,
) -> pa.Table:
    """The analytics of every bar of the wanted expirations, then the wanted rows.

    ``keep_rows(table) -> mask`` narrows the rows before the analytics (whole buckets
    only, so that each bucket's forward still sees all its strikes).
    """
    symbol = clean_symbol(underlying)
    every_strike = OptionFilter(expiration=wanted.expiration)
    bars, contracts, contract_at = read_option_bars(
        conn, symbol, start, end, every_strike, timeframe, session_name
    )
    if keep_rows is not None:
        mask = keep_rows(bars)
        bars, contract_at = bars.filter(mask), contract_at[mask]
    start_ms = bars["timestamp"].cast(pa.int64()).to_numpy()
    table = option_analytics(
        with_contract_columns(bars, contracts, contract_at),
        contracts,
        contract_at,
        _bar_ends(start_ms, timeframe),
        _underlying_minutes(conn, symbol, start, end),
        rate,
    )
    kept = np.array([wanted(c) for c in contracts], bool)[contract_at]
    return table if kept.all() else table.filter(kept)


def option_greeks_arrow(
    underlying: str,
    start: DayLike,
    end: DayLike,
    *,
    expiration: DayLike | None = None,
    right: str | None = None,
    strike: float | None = None,
    timeframe: Timeframe = "1min",
    session: SessionName = "all",
    rate: float | None = None,
    database_url: str | None = None,
) -> pa.Table:
    """``option_bars`` of ``underlying`` with the underlying's price, time to settlement,
    rate, parity forward, implied volatility and greeks of each bar (docs/contracts.md §11).

    Same arguments as ``option_bars`` (no ``adjust``: strikes are as listed); ``rate``
    overrides ``MARKET_DATA_RISK_FREE_RATE``. Raises ValueError for an underlying without
    stored options, an empty range or a bad argument.
    """
    wanted = option_filter(expiration, right, strike)
    risk_free = _rate(rate)
    if timeframe == "1d" and session != "regular":
        # A daily bar is priced at the regular close, where its close and the underlying's
        # were set; an after-hours close would be priced with the wrong time and price.
        raise BadReadRequest(
            f"daily greeks are computed at the regular session's close: use "
            f"session='regular' with timeframe='1d', not session={session!r}"
        )
    with connect(database_url_for_reads(database_url), "market-data read") as conn:
        return _greeks_table(conn, underlying, start, end, wanted, timeframe, session, risk_free)


def option_greeks(
    underlying: str,
    start: DayLike,
    end: DayLike,
    *,
    expiration: DayLike | None = None,
    right: str | None = None,
    strike: float | None = None,
    timeframe: Timeframe = "1min",
    session: SessionName = "all",
    rate: float | None = None,
    database_url: str | None = None,
) -> pd.DataFrame:
    """``option_greeks_arrow`` as a pandas DataFrame."""
    return to_frame(
        option_greeks_arrow(
            underlying,
            start,
            end,
            expiration=expiration,
            right=right,
            strike=strike,
            timeframe=timeframe,
            session=session,
            rate=rate,
            database_url=database_url,
        )
    )


def instant(at: datetime | str | pd.Timestamp) -> pd.Timestamp:
    """``at`` as an instant in New York (a time without an offset is New York's)."""
    try:
        stamp = pd.Timestamp(at)
    except (TypeError, ValueError):
        raise BadReadRequest(
            f"at must be a timestamp like 2025-01-02T15:30:00-05:00, not {at!r}"
        ) from None
    if pd.isna(stamp):
        raise BadReadRequest(f"at must be a timestamp, not {at!r}")
    return stamp.tz_localize(NEW_YORK) if stamp.tzinfo is None else stamp.tz_convert(NEW_YORK)


def _last_ended_by(at_ms: int) -> Callable[[pa.Table], np.ndarray]:
    """The rows in the buckets of each contract's last minute that ended by ``at_ms``."""

    def keep(bars: pa.Table) -> np.ndarray:
        start_ms = bars["timestamp"].cast(pa.int64()).to_numpy()
        ended = start_ms + MS_PER_MINUTE <= at_ms
        symbols = bars["symbol"].to_numpy(zero_copy_only=False)
        # Rows come sorted by symbol, then time: a symbol's last ended row precedes its
        # first unended one or the next symbol.
        last = np.zeros(start_ms.size, bool)
        candidates = np.flatnonzero(ended)
        if candidates.size:
            following = candidates + 1
            at_end = following == start_ms.size
            following = np.minimum(following, start_ms.size - 1)
            last[candidates] = (
                at_end | ~ended[following] | (symbols[following] != symbols[candidates])
            )
        return cast(np.ndarray, np.isin(start_ms, start_ms[last]) & ended)

    return keep


def read_chain(
    conn: psycopg.Connection,
    underlying: str,
    moment: pd.Timestamp,
    wanted: OptionFilter,
    session: str,
    rate: float,
) -> pa.Table:
    """``option_chain`` on an open connection (``moment`` from ``instant``)."""
    at_ms = moment.value // 1_000_000
    table = _greeks_table(
        conn,
        underlying,
        moment.date(),
        moment.date(),
        wanted,
        "1min",
        session,
        rate,
        _last_ended_by(at_ms),
    )
    if table.num_rows == 0:
        raise BadReadRequest(
            f"no {clean_symbol(underlying)} option bar had ended by {moment.isoformat()}"
        )
    # Each contract's last row: the rows are in symbol, time order.
    symbols = table["symbol"]
    last = pc.not_equal(symbols[:-1], symbols[1:]) if table.num_rows > 1 else pa.array([])
    is_last = np.append(np.asarray(last, bool), True)
    return table.filter(is_last).sort_by(
        [("expiration", "ascending"), ("strike", "ascending"), ("right", "ascending")]
    )


def option_chain_arrow(
    underlying: str,
    at: datetime | str | pd.Timestamp,
    *,
    expiration: DayLike | None = None,
    right: str | None = None,
    strike: float | None = None,
    session: SessionName = "all",
    rate: float | None = None,
    database_url: str | None = None,
) -> pa.Table:
    """Every contract of ``underlying`` as of ``at``: its last 1-minute bar that had ended
    by then on ``at``'s New York day (no look-ahead), with the columns of
    ``option_greeks`` computed at that bar; sorted by expiration, strike, right."""
    wanted = option_filter(expiration, right, strike)
    risk_free = _rate(rate)
    moment = instant(at)
    with connect(database_url_for_reads(database_url), "market-data read") as conn:
        return read_chain(conn, underlying, moment, wanted, session, risk_free)


def option_chain(
    underlying: str,
    at: datetime | str | pd.Timestamp,
    *,
    expiration: DayLike | None = None,
    right: str | None = None,
    strike: float | None = None,
    session: SessionName = "all",
    rate: float | None = None,
    database_url: str | None = None,
) -> pd.DataFrame:
    """``option_chain_arrow`` as a pandas DataFrame."""
    return to_frame(
        option_chain_arrow(
            underlying,
            at,
            expiration=expiration,
            right=right,
            strike=strike,
            session=session,
            rate=rate,
            database_url=database_url,
        )
    )


__all__ = [
    "instant",
    "option_chain",
    "option_chain_arrow",
    "option_greeks",
    "option_greeks_arrow",
    "read_chain",
]
