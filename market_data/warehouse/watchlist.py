"""The ``watchlist`` table: which symbols are kept, read defensively.

People write this table by hand, so every row is validated; an invalid symbol is
reported and skipped, never used in a query, a key or a path.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from market_data.datasets import (
    InvalidSymbolError,
    WatchlistEntry,
    infer_asset_class,
    normalize_symbol,
)


@dataclass(frozen=True)
class Watchlist:
    entries: list[WatchlistEntry]
    invalid: list[str]

    @property
    def symbols(self) -> list[str]:
        return [e.symbol for e in self.entries]

    def restricted_to(self, symbols: list[str]) -> Watchlist:
        """Only ``symbols``; a symbol not on the watchlist is taken with inferred settings."""
        by_symbol = {e.symbol: e for e in self.entries}
        chosen = [
            by_symbol.get(s) or WatchlistEntry(s, infer_asset_class(s))
            for s in dict.fromkeys(normalize_symbol(s) for s in symbols)
        ]
        return Watchlist(entries=chosen, invalid=[])


def watchlist_state(watchlist: Watchlist) -> set[str]:
    """What a change of the watchlist is measured by: symbols, and which have options."""
    return {e.symbol + ("+options" if e.include_options else "") for e in watchlist.entries}


def loaded_state(conn: psycopg.Connection, watchlist: Watchlist) -> set[str]:
    """The part of ``watchlist_state`` that ``historical_bars`` already holds bars of: where
    a watchlist sensor with no memory (a new Dagster storage) starts from, so that it
    backfills only what is really new."""
    state = set()
    for entry in watchlist.entries:
        (has_bars,) = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM historical_bars WHERE symbol = %s)", (entry.symbol,)
        ).fetchone() or (False,)
        if not has_bars:
            continue
        state.add(entry.symbol)
        if entry.include_options:
            (has_options,) = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM historical_bars"
                " WHERE dataset = 'options' AND underlying = %s)",
                (entry.symbol,),
            ).fetchone() or (False,)
            if has_options:
                state.add(entry.symbol + "+options")
    return state


def read_watchlist(conn: psycopg.Connection) -> Watchlist:
    entries: list[WatchlistEntry] = []
    invalid: list[str] = []
    rows = conn.execute(
        "SELECT symbol, asset_class, include_options FROM watchlist ORDER BY symbol"
    ).fetchall()
    for raw, asset_class, include_options in rows:
        try:
            symbol = normalize_symbol(raw or "")
        except InvalidSymbolError:
            invalid.append(repr(raw))
            continue
        if asset_class not in ("index", "stock", "crypto", "forex"):
            asset_class = infer_asset_class(symbol)
        entries.append(WatchlistEntry(symbol, asset_class, bool(include_options)))
    return Watchlist(entries=entries, invalid=invalid)


def add_to_watchlist(conn: psycopg.Connection, symbol: str, include_options: bool = False) -> None:
    """Insert or update one symbol (used by the demo and the command line)."""
    symbol = normalize_symbol(symbol)
    conn.execute(
        "INSERT INTO watchlist (symbol, asset_class, include_options) VALUES (%s, %s, %s)"
        " ON CONFLICT (symbol) DO UPDATE SET include_options = EXCLUDED.include_options",
        (symbol, infer_asset_class(symbol), include_options),
    )
