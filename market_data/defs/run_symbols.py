"""Which symbols a run loads: the whole watchlist, or those of its ``market_data/symbols`` tag."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetExecutionContext

from market_data.datasets import Dataset
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
