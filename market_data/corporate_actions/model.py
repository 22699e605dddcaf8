"""Massive's splits, dividends and ticker changes as checked values.

Massive's reference data has known faults (docs/corporate-actions.md): splits listed
twice, 1:1 "splits", projected dividends, ticker events that miss or misdate changes.
An entry that cannot be right (a zero or negative ratio, a missing date, two different
ratios for one ticker and day) is refused here with an error naming it; the refresh it
came in then stores nothing, so a bad answer never changes an adjusted read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from market_data.errors import SourceError


class MalformedReference(SourceError):
    """An entry of Massive's reference data that cannot be used; the message names it."""


@dataclass(frozen=True)
class Split:
    """Shares ``split_from`` became ``split_to`` at the start of ``execution_date``."""

    ticker: str
    execution_date: date
    split_from: float
    split_to: float
    adjustment_type: str | None = None
    massive_id: str | None = None

    @property
    def price_factor(self) -> float:
        """What a price before the split is multiplied by (a 4-for-1 split: 0.25)."""
        return self.split_from / self.split_to

    def describe(self) -> str:
        return f"{_number(self.split_to)}-for-{_number(self.split_from)}"


@dataclass(frozen=True)
class Dividend:
    """A cash dividend: the shares trade without it from ``ex_dividend_date`` on."""

    ticker: str
    ex_dividend_date: date
    cash_amount: float
    distribution_type: str = "unknown"
    currency: str | None = None
    frequency: int | None = None
    declaration_date: date | None = None
    record_date: date | None = None
    pay_date: date | None = None
    massive_id: str | None = None


@dataclass(frozen=True)
class TickerPeriod:
    """``symbol`` traded as ``ticker`` from ``valid_from`` (until its next period)."""

    symbol: str
    valid_from: date
    ticker: str
    composite_figi: str | None = None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _label(kind: str, item: dict[str, Any]) -> str:
    ticker = item.get("ticker") or "?"
    when = item.get("execution_date") or item.get("ex_dividend_date") or "?"
    ident = f" (id {item['id']})" if item.get("id") else ""
    return f"Massive {kind} of {ticker} on {when}{ident}"


def _date(item: dict[str, Any], key: str, label: str, required: bool = True) -> date | None:
    value = item.get(key)
    if value in (None, ""):
        if required:
            raise MalformedReference(f"{label}: {key} is missing")
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise MalformedReference(f"{label}: {key} {value!r} is not a date") from None


def _positive(item: dict[str, Any], key: str, label: str, allow_zero: bool = False) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedReference(f"{label}: {key} {value!r} is not a number")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        need = "zero or more" if allow_zero else "a positive number"
        raise MalformedReference(f"{label}: {key} is {value!r}, it must be {need}")
    return float(value)


def _ticker(item: dict[str, Any], label: str) -> str:
    ticker = item.get("ticker")
    if not isinstance(ticker, str) or not ticker.strip():
        raise MalformedReference(f"{label}: ticker is missing")
    return ticker.strip().upper()


def split_from_entry(item: object) -> Split:
    """One entry of ``/stocks/v1/splits``."""
    if not isinstance(item, dict):
        raise MalformedReference(f"Massive split entry {item!r} is not an object")
    label = _label("split", item)
    execution_date = _date(item, "execution_date", label)
    assert execution_date is not None
    return Split(
        ticker=_ticker(item, label),
        execution_date=execution_date,
        split_from=_positive(item, "split_from", label),
        split_to=_positive(item, "split_to", label),
        adjustment_type=item.get("adjustment_type"),
        massive_id=item.get("id"),
    )


def dividend_from_entry(item: object) -> Dividend:
    """One entry of ``/stocks/v1/dividends``."""
    if not isinstance(item, dict):
        raise MalformedReference(f"Massive dividend entry {item!r} is not an object")
    label = _label("dividend", item)
    ex_date = _date(item, "ex_dividend_date", label)
    assert ex_date is not None
    frequency = item.get("frequency")
    return Dividend(
        ticker=_ticker(item, label),
        ex_dividend_date=ex_date,
        cash_amount=_positive(item, "cash_amount", label, allow_zero=True),
        distribution_type=str(item.get("distribution_type") or "unknown"),
        currency=item.get("currency"),
        frequency=frequency if isinstance(frequency, int) else None,
        declaration_date=_date(item, "declaration_date", label, required=False),
        record_date=_date(item, "record_date", label, required=False),
        pay_date=_date(item, "pay_date", label, required=False),
        massive_id=item.get("id"),
    )


def distinct_splits(splits: Iterable[Split]) -> list[Split]:
    """One split per ticker and day: Massive's repeated listings collapse; two different
    ratios for the same day are refused (applying both is the 100x error of a doubled
    10-for-1, and which one is right cannot be told from the data)."""
    kept: dict[tuple[str, date], Split] = {}
    for split in splits:
        key = (split.ticker, split.execution_date)
        seen = kept.get(key)
        if seen is None:
            kept[key] = split
        elif not math.isclose(seen.price_factor, split.price_factor, rel_tol=1e-9):
            raise MalformedReference(
                f"Massive lists two different splits of {split.ticker} on "
                f"{split.execution_date}: {seen.describe()} and {split.describe()}; "
                "refusing to guess which one happened"
            )
    return sorted(kept.values(), key=lambda s: (s.ticker, s.execution_date))


def distinct_dividends(dividends: Iterable[Dividend]) -> list[Dividend]:
    """One dividend per ticker, ex-date and distribution type; a repeated listing collapses,
    two different amounts for the same one are refused."""
    kept: dict[tuple[str, date, str], Dividend] = {}
    for dividend in dividends:
        key = (dividend.ticker, dividend.ex_dividend_date, dividend.distribution_type)
        seen = kept.get(key)
        if seen is None:
            kept[key] = dividend
        elif not math.isclose(seen.cash_amount, dividend.cash_amount, rel_tol=1e-9):
            raise MalformedReference(
                f"Massive lists two different {dividend.distribution_type} dividends of "
                f"{dividend.ticker} with ex-date {dividend.ex_dividend_date}: "
                f"{seen.cash_amount:g} and {dividend.cash_amount:g}"
            )
    return sorted(kept.values(), key=lambda d: (d.ticker, d.ex_dividend_date))


def ticker_periods_from_events(
    symbol: str, body: dict[str, Any], composite_figi: str | None
) -> list[TickerPeriod]:
    """The ``ticker_change`` events of ``/vX/reference/tickers/{symbol}/events``, oldest
    first; an event with no date or ticker is refused."""
    results = body.get("results")
    if not isinstance(results, dict):
        raise MalformedReference(f"Massive ticker events of {symbol}: 'results' is missing")
    events = results.get("events") or []
    if not isinstance(events, list):
        raise MalformedReference(f"Massive ticker events of {symbol}: 'events' is not a list")
    periods = []
    for event in events:
        if not isinstance(event, dict):
            raise MalformedReference(f"Massive ticker event of {symbol} {event!r} is not an object")
        kind = event.get("type") or event.get("event_type")
        if kind != "ticker_change":
            continue
        label = f"Massive ticker change of {symbol} {event!r}"
        change = event.get("ticker_change") or {}
        ticker = change.get("ticker") if isinstance(change, dict) else None
        if not isinstance(ticker, str) or not ticker.strip():
            raise MalformedReference(f"{label}: the new ticker is missing")
        valid_from = _date(event, "date", label)
        assert valid_from is not None
        periods.append(TickerPeriod(symbol, valid_from, ticker.strip().upper(), composite_figi))
    return sorted(periods, key=lambda p: p.valid_from)
