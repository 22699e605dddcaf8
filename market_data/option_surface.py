"""A day's option surface per watched underlying: the closing chain summed up per
expiration (``options/surface.py``) and stored in ``option_surface``; the asset of the
same name (``defs/option_surface.py``) runs it per partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import psycopg

from market_data.calendar import NEW_YORK, day_window, session
from market_data.datasets import WatchlistEntry
from market_data.options.surface import ExpirySurface, chain_surface
from market_data.read.api import BadReadRequest, OptionFilter
from market_data.read.greeks import read_chain
from market_data.warehouse.option_surface import replace_day

# An index option's premium moves in nickels, an equity option's in pennies.
INDEX_TICK, EQUITY_TICK = 0.05, 0.01


@dataclass
class DaySurface:
    day: date
    session: bool
    surfaces: dict[str, list[ExpirySurface]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # underlying -> why

    @property
    def expirations(self) -> int:
        return sum(len(s) for s in self.surfaces.values())


def _last_close(conn: psycopg.Connection, symbol: str, day: date, before_ms: int) -> float:
    """The underlying's last stored minute close of the day before ``before_ms`` (NaN: none)."""
    row = conn.execute(
        "SELECT close FROM historical_bars WHERE symbol = %s AND timeframe = '1m'"
        ' AND "timestamp" >= %s AND "timestamp" < %s ORDER BY "timestamp" DESC LIMIT 1',
        (symbol, day_window(day).start_ms, before_ms),
    ).fetchone()
    return float(row[0]) if row else float("nan")


def build_day_surface(
    conn: psycopg.Connection, day: date, underlyings: list[WatchlistEntry], rate: float
) -> DaySurface:
    """Every underlying's surface at the day's close, stored in one transaction (a day
    without a session keeps no row)."""
    regular = session(day)
    result = DaySurface(day, regular is not None)
    if regular is None:
        replace_day(conn, day, 0, {})
        return result
    close = pd.Timestamp(regular.close_ms, unit="ms", tz="UTC").tz_convert(NEW_YORK)
    for entry in underlyings:
        try:
            chain = read_chain(conn, entry.symbol, close, OptionFilter(), "all", rate)
        except BadReadRequest as error:
            result.skipped[entry.symbol] = str(error)
            continue
        tick = INDEX_TICK if entry.asset_class == "index" else EQUITY_TICK
        spot = _last_close(conn, entry.symbol, day, regular.close_ms)
        result.surfaces[entry.symbol] = chain_surface(chain, regular.close_ms, spot, rate, tick)
    replace_day(conn, day, regular.close_ms, result.surfaces)
    return result
