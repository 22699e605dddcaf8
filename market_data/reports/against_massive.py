"""Our split-adjusted bars next to Massive's own (``market-data verify --adjusted``).

Massive's aggregates API adjusts for splits when asked with ``adjusted=true`` (and for
nothing else), so the two must agree minute by minute up to the rounding of Massive's
values: the largest difference is reported next to half a unit of the last decimal
Massive writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from market_data.calendar import is_session
from market_data.corporate_actions.store import ticker_history
from market_data.read import bars
from market_data.sources.rest import RestAggregates
from market_data.warehouse.db import connect

FIELDS = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}


def decimals(value: float) -> int:
    """Digits after the point in the shortest text of ``value`` (Massive's rounding)."""
    text = repr(float(value))
    if "e" in text:
        return 10
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


@dataclass
class FieldDifference:
    name: str
    max_abs: float = 0.0
    max_rel: float = 0.0
    rounding: float = 0.0  # half a unit of the last decimal Massive writes
    worst_at: str = ""

    @property
    def within_rounding(self) -> bool:
        return self.max_abs <= self.rounding * (1 + 1e-9) + 1e-12


@dataclass
class AdjustedComparison:
    symbol: str
    start: date
    end: date
    minutes_compared: int = 0
    only_ours: int = 0
    only_massive: int = 0
    fields: list[FieldDifference] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return self.minutes_compared > 0 and all(f.within_rounding for f in self.fields)


def massive_adjusted_minutes(
    client: RestAggregates, symbol: str, start: date, end: date, database_url: str
) -> pd.DataFrame:
    """Massive's split-adjusted minutes of each session day, under the ticker of that day."""
    with connect(database_url, "market-data verify") as conn:
        history = ticker_history(conn, [symbol])
    frames = []
    day = start
    while day <= end:
        if is_session(day):
            results = client.minute_bars(history.ticker_on(symbol, day), day, adjusted=True)
            if results:
                frames.append(pd.DataFrame(results))
        day += timedelta(days=1)
    if not frames:
        return pd.DataFrame(columns=["t", *FIELDS])
    return pd.concat(frames, ignore_index=True)


def compare_adjusted(
    client: RestAggregates, symbol: str, start: date, end: date, database_url: str
) -> AdjustedComparison:
    ours = bars(symbol, start, end, adjust="splits", database_url=database_url)
    theirs = massive_adjusted_minutes(client, symbol, start, end, database_url)
    ours = ours.assign(t=ours["timestamp"].dt.as_unit("ms").astype("int64")).set_index("t")
    theirs = theirs.drop_duplicates("t").set_index("t")
    both = ours.index.intersection(theirs.index)
    comparison = AdjustedComparison(
        symbol,
        start,
        end,
        minutes_compared=len(both),
        only_ours=len(ours.index.difference(theirs.index)),
        only_massive=len(theirs.index.difference(ours.index)),
    )
    for key, name in FIELDS.items():
        if key not in theirs.columns:
            continue
        mine = ours.loc[both, name].astype("float64")
        massive = theirs.loc[both, key].astype("float64")
        usable = mine.notna() & massive.notna()
        difference = FieldDifference(name)
        if usable.any():
            gap = (mine[usable] - massive[usable]).abs()
            relative = gap / massive[usable].abs().where(massive[usable] != 0)
            difference.max_abs = float(gap.max())
            difference.max_rel = float(relative.max()) if relative.notna().any() else 0.0
            places = max(decimals(v) for v in massive[usable])
            difference.rounding = 0.5 * 10.0**-places
            worst = int(gap.idxmax())
            difference.worst_at = pd.Timestamp(worst, unit="ms", tz="America/New_York").isoformat()
        comparison.fields.append(difference)
    return comparison
