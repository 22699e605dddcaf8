"""The demo's corporate actions as Massive's reference endpoints list them
(``demo_actions.py`` holds the facts), for the local REST server."""

from __future__ import annotations

import hashlib
import math
from datetime import date, timedelta

from market_data.calendar import is_session
from market_data_local.demo_actions import (
    DEMO_DIVIDENDS,
    DEMO_RENAMES,
    DEMO_SECURITIES,
    DEMO_SPLITS,
    DemoDividend,
    demo_price_factor,
)
from market_data_local.generate import demo_stock_level
from market_data_local.rest_server import ReferenceData


def _massive_id(*parts: object) -> str:
    """An id shaped like Massive's (``E`` and 64 hex digits), the same for the same event."""
    return "E" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _split_entries() -> list[dict]:
    entries = []
    for split in DEMO_SPLITS:
        # Massive's cumulative factor: this split's and every later one's of the ticker.
        factor = math.prod(
            s.split_from / s.split_to
            for s in DEMO_SPLITS
            if s.ticker == split.ticker and s.execution_date >= split.execution_date
        )
        entries.append(
            {
                "adjustment_type": (
                    "forward_split" if split.split_to > split.split_from else "reverse_split"
                ),
                "execution_date": split.execution_date.isoformat(),
                "historical_adjustment_factor": round(factor, 6),
                "id": _massive_id("split", split.ticker, split.execution_date),
                "split_from": split.split_from,
                "split_to": split.split_to,
                "ticker": split.ticker,
            }
        )
    return entries


def _session_before(day: date) -> date:

    day -= timedelta(days=1)
    while not is_session(day):
        day -= timedelta(days=1)
    return day


def _dividend_entries() -> list[dict]:
    """The dividends, with Massive's cumulative factor taken as the product of
    ``1 - cash / price`` over this and the ticker's later dividends, the price being the
    generated level of the session before the ex-date in the files' terms (Massive does
    not document its own; ``market_data.read`` computes its factors from the closes)."""

    def own_factor(dividend: DemoDividend) -> float:
        before = _session_before(dividend.ex_dividend_date)
        return 1 - dividend.cash_amount / demo_stock_level(dividend.ticker, before)

    entries = []
    for dividend in DEMO_DIVIDENDS:
        factor = math.prod(
            own_factor(d)
            for d in DEMO_DIVIDENDS
            if d.ticker == dividend.ticker and d.ex_dividend_date >= dividend.ex_dividend_date
        )
        # On today's shares: divided by the splits that came after it.
        split_adjusted = dividend.cash_amount / demo_price_factor(
            dividend.ticker, dividend.ex_dividend_date - timedelta(days=1)
        )
        entries.append(
            {
                "cash_amount": dividend.cash_amount,
                "currency": "USD",
                "declaration_date": dividend.declaration_date.isoformat(),
                "distribution_type": "recurring",
                "ex_dividend_date": dividend.ex_dividend_date.isoformat(),
                "frequency": 4,
                "historical_adjustment_factor": round(factor, 6),
                "id": _massive_id("dividend", dividend.ticker, dividend.ex_dividend_date),
                "pay_date": dividend.pay_date.isoformat(),
                "record_date": dividend.ex_dividend_date.isoformat(),
                "split_adjusted_cash_amount": round(split_adjusted, 6),
                "ticker": dividend.ticker,
            }
        )
    return entries


def _ticker_entries() -> list[dict]:
    return [
        {
            "ticker": security.ticker,
            "name": security.name,
            "market": "stocks",
            "locale": "us",
            "primary_exchange": security.exchange,
            "type": security.kind,
            "active": True,
            "currency_name": "usd",
            "cik": security.cik,
            "composite_figi": security.composite_figi,
            "share_class_figi": security.share_class_figi,
            "list_date": security.list_date.isoformat(),
        }
        for security in DEMO_SECURITIES
    ]


def _event_entries() -> list[dict]:
    entries = []
    for security in DEMO_SECURITIES:
        changes = [(security.list_date, security.ticker)]
        for rename in DEMO_RENAMES:
            if rename.symbol == security.ticker:
                changes = [(security.list_date, rename.former), (rename.changed, rename.symbol)]
        entries.append(
            {
                "name": security.name,
                "composite_figi": security.composite_figi,
                "cik": security.cik,
                "events": [  # newest first, as Massive lists them
                    {
                        "ticker_change": {"ticker": ticker},
                        "type": "ticker_change",
                        "date": since.isoformat(),
                    }
                    for since, ticker in reversed(changes)
                ],
            }
        )
    return entries


def demo_reference() -> ReferenceData:
    """The demo's splits, dividends, tickers and ticker events as Massive lists them (a
    new object each time: a caller may change it)."""
    return ReferenceData(
        splits=_split_entries(),
        dividends=_dividend_entries(),
        tickers=_ticker_entries(),
        events=_event_entries(),
    )
