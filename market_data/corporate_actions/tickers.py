"""Which ticker a renamed stock had on a given day.

A watchlist symbol names the company by its ticker today (``META``); Massive's day files
name it by the ticker in force that day (``FB`` before 2022-06-09). A load asks
``TickerHistory.renames_on`` for each day and takes the former ticker's rows, stored
under the symbol (``datasets.Renames``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from market_data.corporate_actions.model import TickerPeriod


@dataclass(frozen=True)
class TickerHistory:
    """The ticker periods of some symbols, oldest first; a symbol without any was never
    renamed (or not known to be)."""

    periods: Mapping[str, tuple[TickerPeriod, ...]] = field(default_factory=dict)

    def ticker_on(self, symbol: str, day: date) -> str:
        """The ticker ``symbol`` traded under on ``day``: the last period begun by then;
        the symbol itself before its first known period or when none is known."""
        ticker = symbol
        for period in self.periods.get(symbol, ()):
            if period.valid_from > day:
                break
            ticker = period.ticker
        return ticker

    def renames_on(self, day: date, symbols: Iterable[str]) -> dict[str, str]:
        """The symbols that traded under another ticker on ``day``, with that ticker."""
        renames = {}
        for symbol in symbols:
            ticker = self.ticker_on(symbol, day)
            if ticker != symbol:
                renames[symbol] = ticker
        return renames

    def tickers_of(self, symbol: str) -> list[str]:
        """Every ticker the symbol has had, itself first."""
        return list(dict.fromkeys([symbol, *(p.ticker for p in self.periods.get(symbol, ()))]))

    def changes(self) -> list[tuple[str, TickerPeriod]]:
        """(symbol, period) of every period whose ticker is not the symbol's own."""
        return [
            (symbol, p)
            for symbol, periods in self.periods.items()
            for p in periods
            if p.ticker != symbol
        ]


NO_HISTORY = TickerHistory()
