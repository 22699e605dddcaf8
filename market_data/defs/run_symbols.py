"""Which symbols a run loads: the whole watchlist, or those of its ``market_data/symbols`` tag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dagster import AssetExecutionContext

from market_data.corporate_actions.store import ticker_history
from market_data.corporate_actions.tickers import NO_HISTORY, TickerHistory
from market_data.datasets import Dataset, Renames
from market_data.defs.resources import WarehouseResource
from market_data.run_tags import SYMBOLS_TAG
from market_data.warehouse.watchlist import Watchlist, read_watchlist


@dataclass(frozen=True)
class RunSymbols:
    """The watchlist, and the symbols this run loads: all of it, or those of its symbols tag."""

    watchlist: Watchlist
    selected: Watchlist

    def selected_underlyings(self, dataset: Dataset) -> frozenset[str]:
        return dataset.underlyings(self.selected.entries)

    def parsed_underlyings(self, dataset: Dataset) -> frozenset[str]:
        """What a day file is parsed for: every watched underlying of the dataset, so the
        stored bars stay whole when a run loads a few symbols; nothing if it loads none."""
        selected = self.selected_underlyings(dataset)
        return selected | dataset.underlyings(self.watchlist.entries) if selected else selected

    def parse_plan(self, dataset: Dataset, warehouse: WarehouseResource) -> ParsePlan:
        underlyings = self.parsed_underlyings(dataset)
        history = NO_HISTORY
        if underlyings and dataset.loads == "stock":  # renamed stocks: former tickers' rows
            with warehouse.connection() as conn:
                history = ticker_history(conn, underlyings)
        return ParsePlan(dataset, underlyings, history)


@dataclass(frozen=True)
class ParsePlan:
    """What a dataset's day files are parsed for in a run: its underlyings, each under the
    ticker it had that day. The download step scans for the same lines as the parse."""

    dataset: Dataset
    underlyings: frozenset[str]
    history: TickerHistory

    def renames(self, day: date) -> Renames:
        return self.history.renames_on(day, self.underlyings)

    def line_prefixes(self, day: date) -> list[bytes]:
        if not self.underlyings:
            return []
        return self.dataset.tickers.line_prefixes(self.underlyings, self.renames(day))


def run_symbols(context: AssetExecutionContext, warehouse: WarehouseResource) -> RunSymbols:
    with warehouse.connection() as conn:
        watchlist = read_watchlist(conn)
    if watchlist.invalid:
        context.log.warning(f"skipping invalid watchlist symbols: {', '.join(watchlist.invalid)}")
    tagged = context.run.tags.get(SYMBOLS_TAG)
    if not tagged:
        return RunSymbols(watchlist, watchlist)
    return RunSymbols(
        watchlist, watchlist.restricted_to([s for s in tagged.split(",") if s.strip()])
    )
