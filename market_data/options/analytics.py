"""Implied volatility and greeks for option bars: the columns docs/contracts.md §11 adds to
``option_bars``, computed from arrays (no database here, no Python loop per row).

Each row is priced on its own settlement's parity forward in its own bucket, with the
time from the bar's end to the settlement minute, so what a backtest sees at a bar is
what a trader could have computed when that bar closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from market_data.calendar import MS_PER_MINUTE
from market_data.options.black import (
    NOTE_ABOVE_BOUND,
    NOTE_BELOW_INTRINSIC,
    greeks,
    implied_volatility,
)
from market_data.options.forward import bucket_ids, parity_forward
from market_data.options.settlement import settlement_ms, years_until

# What ``iv_note`` says where ``iv`` is null (empty where it is not).
IV_NOTES = ("", "below_intrinsic", "above_bound", "no_underlying_price", "expired")
_NO_UNDERLYING, _EXPIRED = 3, 4
# The underlying's price may come from the minutes just before a bucket it did not trade in.
UNDERLYING_LOOKBACK_MS = 5 * MS_PER_MINUTE

ANALYTICS_COLUMNS = [
    ("underlying_price", pa.float64()),
    ("t_years", pa.float64()),
    ("rate", pa.float64()),
    ("forward", pa.float64()),
    ("iv", pa.float64()),
    ("delta", pa.float64()),
    ("gamma", pa.float64()),
    ("vega", pa.float64()),
    ("theta", pa.float64()),
    ("rho", pa.float64()),
    ("iv_note", pa.string()),
]


@dataclass(frozen=True)
class UnderlyingMinutes:
    """The underlying's 1-minute bars: starts (epoch ms, ascending) and closes."""

    start_ms: np.ndarray
    close: np.ndarray


def underlying_price_at(
    bar_start_ms: np.ndarray, bar_end_ms: np.ndarray, minutes: UnderlyingMinutes
) -> np.ndarray:
    """The close of the underlying's last minute inside each bar (its bucket's close), or
    failing that of its last minute in the 5 minutes before the bar; NaN where neither."""
    if minutes.start_ms.size == 0:
        return np.full(bar_start_ms.shape, np.nan)
    last = np.searchsorted(minutes.start_ms, bar_end_ms, side="left") - 1
    found = last >= 0
    last = np.maximum(last, 0)
    found &= minutes.start_ms[last] >= bar_start_ms - UNDERLYING_LOOKBACK_MS
    return np.where(found, minutes.close[last], np.nan)


class Contract(Protocol):
    """What the analytics need of a contract (``read.occ.OptionContract`` has it)."""

    @property
    def root(self) -> str: ...
    @property
    def expiration(self) -> date: ...
    @property
    def right(self) -> str: ...
    @property
    def strike(self) -> float: ...


def _per_contract(contracts: Sequence[Contract]) -> dict[str, np.ndarray]:
    """Strike, right, settlement instant and settlement group of each contract (a group
    has one forward: one root and expiration, so SPX and SPXW of a day are two)."""
    groups: dict[tuple[str, date], int] = {}
    return {
        "strike": np.array([c.strike for c in contracts], np.float64),
        "is_call": np.array([c.right == "call" for c in contracts], bool),
        "settle_ms": np.array([settlement_ms(c.root, c.expiration) for c in contracts], np.int64),
        "group": np.array(
            [groups.setdefault((c.root, c.expiration), len(groups)) for c in contracts], np.int64
        ),
    }


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), mask=np.isnan(values))


def option_analytics(
    bars: pa.Table,
    contracts: Sequence[Contract],
    contract_at: np.ndarray,
    bar_end_ms: np.ndarray,
    underlying: UnderlyingMinutes,
    rate: float,
) -> pa.Table:
    """``bars`` (``option_bars``'s columns) with the analytics columns appended.

    ``contract_at`` gives each row's contract in ``contracts``; ``bar_end_ms`` each bar's
    end (its start plus its length; a ``1d`` bar ends at the session's close).
    """
    start_ms = bars["timestamp"].cast(pa.int64()).to_numpy()
    close = bars["close"].to_numpy()
    per_contract = _per_contract(contracts)
    strike, is_call, settle, group = (
        per_contract[name][contract_at] for name in ("strike", "is_call", "settle_ms", "group")
    )
    t_years = years_until(bar_end_ms, settle)
    live = t_years > 0
    spot = underlying_price_at(start_ms, bar_end_ms, underlying)

    bucket_id, buckets = bucket_ids(group, start_ms)
    live_t = np.where(live, t_years, np.nan)
    forward = parity_forward(
        bucket_id, buckets, strike, is_call, np.where(live, close, np.nan), live_t, spot, rate
    )
    forward[~live] = np.nan
    discount = np.exp(-rate * live_t)
    iv, bound = implied_volatility(close, forward, strike, live_t, discount, is_call)
    sensitivities = greeks(forward, strike, live_t, rate, iv, is_call, spot)

    note = np.zeros(close.shape, np.int8)
    note[bound == NOTE_BELOW_INTRINSIC] = 1
    note[bound == NOTE_ABOVE_BOUND] = 2
    note[live & np.isnan(forward)] = _NO_UNDERLYING
    note[~live] = _EXPIRED

    columns = {
        "underlying_price": _nullable(spot),
        "t_years": _nullable(t_years.astype(np.float64)),
        "rate": pa.array(np.full(close.shape, rate), pa.float64()),
        "forward": _nullable(forward),
        "iv": _nullable(iv),
        **{
            name: _nullable(sensitivities[name])
            for name in ("delta", "gamma", "vega", "theta", "rho")
        },
        "iv_note": pc.take(pa.array(IV_NOTES, pa.string()), pa.array(note)),
    }
    for name, _ in ANALYTICS_COLUMNS:
        bars = bars.append_column(name, columns[name])
    return bars
