"""Split- and dividend-adjusted prices, computed when bars are read.

The stored bars stay as Massive's files have them; a read with ``adjust="splits"`` or
``adjust="all"`` multiplies each bar by the factors of the corporate actions that came
after its New York day (docs/corporate-actions.md):

- a split with ``execution_date`` after the bar's day: prices * split_from / split_to,
  volume ÷ the same (Massive: on the execution date all trading, pre-market included,
  is already split-adjusted);
- ``all`` also: a cash dividend with ``ex_dividend_date`` after the bar's day: prices *
  (1 - cash_amount / C), C the close of the last regular-session minute of the session
  before the ex-date, both as traded (the CRSP / Yahoo total-return convention).

An action whose date has not come yet (a projected dividend, an announced split) is left
out until it has; a dividend without a close before it is skipped with a warning. Since
the factors are constant over a New York day and a bar never spans two days, adjusting
aggregated bars equals aggregating adjusted minutes. Indices, options, crypto and forex
are never adjusted.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from market_data.bar_schema import PRICE_COLUMNS
from market_data.calendar import Session, day_window, session, today_in_new_york
from market_data.corporate_actions.model import Dividend, Split
from market_data.corporate_actions.store import stored_dividends, stored_splits, ticker_history
from market_data.datasets import is_pair

Adjustment = Callable[[psycopg.Connection, pa.Table], pa.Table]
# Dividends in another currency are not applied (the bars are in dollars).
DIVIDEND_CURRENCIES = frozenset({"USD"})


class AdjustmentWarning(UserWarning):
    """A corporate action a read could not apply; the message names it."""


@dataclass(frozen=True)
class Factor:
    """Bars starting before ``before_ms`` are multiplied by these."""

    before_ms: int
    price: float
    volume: float = 1.0


def _midnight_ms(day: date) -> int:
    return day_window(day).start_ms


def split_factors(splits: list[Split], today: date) -> list[Factor]:
    """One factor per split that has happened; a ticker's repeated listing under its former
    ticker counts once."""
    by_day = {s.execution_date: s for s in splits if s.execution_date <= today}
    return [
        Factor(_midnight_ms(day), s.price_factor, 1.0 / s.price_factor)
        for day, s in sorted(by_day.items())
    ]


def session_before(day: date) -> Session | None:
    """The NYSE session before ``day`` (at most two weeks back)."""
    for back in range(1, 15):
        found = session(day - timedelta(days=back))
        if found is not None:
            return found
    return None


def last_regular_close(conn: psycopg.Connection, symbol: str, before: Session) -> float | None:
    """The unadjusted close of the session's last regular-session minute bar."""
    row = conn.execute(
        "SELECT close FROM historical_bars WHERE symbol = %s AND timeframe = '1m'"
        ' AND "timestamp" >= %s AND "timestamp" < %s ORDER BY "timestamp" DESC LIMIT 1',
        (symbol, before.open_ms, before.close_ms),
    ).fetchone()
    return float(row[0]) if row else None


def dividend_factors(
    conn: psycopg.Connection, symbol: str, dividends: list[Dividend], today: date
) -> tuple[list[Factor], list[str]]:
    """One factor per paid cash dividend, and why any was skipped."""
    factors, skipped = [], []
    seen: set[tuple[date, str]] = set()
    for dividend in sorted(dividends, key=lambda d: d.ex_dividend_date):
        key = (dividend.ex_dividend_date, dividend.distribution_type)
        if dividend.ex_dividend_date > today or key in seen:
            continue  # projected, or listed under a former ticker too
        seen.add(key)
        what = (
            f"{symbol} dividend {dividend.cash_amount:g} {dividend.currency or ''} "
            f"ex {dividend.ex_dividend_date}"
        ).replace("  ", " ")
        if dividend.currency and dividend.currency.upper() not in DIVIDEND_CURRENCIES:
            skipped.append(f"{what}: not in dollars, not applied")
            continue
        before = session_before(dividend.ex_dividend_date)
        close = last_regular_close(conn, symbol, before) if before else None
        if close is None:
            skipped.append(f"{what}: no regular-session bar before the ex-date, not applied")
            continue
        if dividend.cash_amount >= close:
            skipped.append(f"{what}: not less than the close before it ({close:g}), not applied")
            continue
        if dividend.cash_amount:
            factors.append(
                Factor(_midnight_ms(dividend.ex_dividend_date), 1 - dividend.cash_amount / close)
            )
    return factors, skipped


def factors_at(timestamps_ms: np.ndarray, factors: list[Factor]) -> tuple[np.ndarray, np.ndarray]:
    """Price and volume multipliers of bars starting at ``timestamps_ms``: the product of
    every factor whose boundary lies after the bar's start."""
    ordered = sorted(factors, key=lambda f: f.before_ms)
    bounds = np.array([f.before_ms for f in ordered], dtype=np.int64)
    price = np.ones(len(ordered) + 1)
    volume = np.ones(len(ordered) + 1)
    if ordered:
        price[:-1] = np.cumprod([f.price for f in ordered][::-1])[::-1]
        volume[:-1] = np.cumprod([f.volume for f in ordered][::-1])[::-1]
    at = np.searchsorted(bounds, timestamps_ms, side="right")  # boundaries at or before
    return price[at], volume[at]


def stock_symbols(conn: psycopg.Connection, symbols: list[str]) -> list[str]:
    """Those of ``symbols`` whose bars come from the stocks dataset: indices, options,
    crypto and forex are never adjusted, whatever the reference tables hold."""
    candidates = [s for s in symbols if not s.startswith("O:") and not is_pair(s)]
    rows = conn.execute(
        "SELECT s FROM unnest(%s::text[]) AS s WHERE EXISTS (SELECT 1 FROM historical_bars b"
        " WHERE b.dataset = 'stocks' AND b.underlying = s)",
        (candidates,),
    ).fetchall()
    return [r[0] for r in rows]


def adjusted(conn: psycopg.Connection, bars: pa.Table, with_dividends: bool) -> pa.Table:
    """``bars`` (the read's columns, sorted by symbol) with adjusted prices and volumes."""
    if not bars.num_rows:
        return bars
    today = today_in_new_york()
    encoded = bars["symbol"].combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    symbols = stock_symbols(conn, encoded.dictionary.to_pylist())
    history = ticker_history(conn, symbols)
    tickers = {s: history.tickers_of(s) for s in symbols}
    every = [t for ts in tickers.values() for t in ts]
    splits = stored_splits(conn, every)
    dividends = stored_dividends(conn, every) if with_dividends else []
    stamps = bars["timestamp"].combine_chunks().cast(pa.int64()).to_numpy()
    price = np.ones(bars.num_rows)
    volume = np.ones(bars.num_rows)
    skipped: list[str] = []
    for code, symbol in enumerate(encoded.dictionary.to_pylist()):
        if symbol not in tickers:
            continue
        names = set(tickers[symbol])
        factors = split_factors([s for s in splits if s.ticker in names], today)
        if with_dividends:
            paid, not_paid = dividend_factors(
                conn, symbol, [d for d in dividends if d.ticker in names], today
            )
            factors += paid
            skipped += not_paid
        if factors:
            rows = codes == code
            price[rows], volume[rows] = factors_at(stamps[rows], factors)
    for note in skipped:
        warnings.warn(note, AdjustmentWarning, stacklevel=4)
    if (price == 1.0).all() and (volume == 1.0).all():
        return bars
    for name in (*PRICE_COLUMNS, "volume"):
        values = pc.multiply(bars[name], pa.array(volume if name == "volume" else price))
        bars = bars.set_column(bars.schema.get_field_index(name), name, values)
    return bars


def split_adjusted(conn: psycopg.Connection, bars: pa.Table) -> pa.Table:
    return adjusted(conn, bars, with_dividends=False)


def total_return_adjusted(conn: psycopg.Connection, bars: pa.Table) -> pa.Table:
    return adjusted(conn, bars, with_dividends=True)


ADJUSTMENTS: dict[str, Adjustment] = {"splits": split_adjusted, "all": total_return_adjusted}
