"""What each Massive flat-file dataset is: one description drives download, parse and load.

A dataset is described by data, not by code: its S3 prefix, its CSV header, the time
zone of its days, and a ticker mapping that says which tickers of the file belong to
which watchlist symbol. ``DATASETS`` are the US datasets on New York days;
``UTC_DATASETS`` the crypto and currency pairs on UTC days; each group has its own
partitions and feeds ``historical_bars`` through the same code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from market_data.calendar import DayWindow, day_window, forex_minutes, is_session
from market_data.errors import ConfigurationError

# Massive's minute-aggregate header, as its flat-file docs give it. Parse by name, not position.
AGG_HEADER = ("ticker", "volume", "open", "close", "high", "low", "window_start", "transactions")
# How each column of a day file is read: the one place its types are written.
RAW_COLUMN_TYPES: Mapping[str, pa.DataType] = {
    "ticker": pa.string(),
    "volume": pa.float64(),
    "open": pa.float64(),
    "close": pa.float64(),
    "high": pa.float64(),
    "low": pa.float64(),
    "window_start": pa.int64(),
    "transactions": pa.int64(),
}
INDEX_HEADER = ("ticker", "open", "close", "high", "low", "window_start")

AssetClass = Literal["index", "stock", "crypto", "forex"]

# A market symbol (``SPX``, ``BRK.B``), or a crypto or currency pair behind Massive's
# ``X:``/``C:`` prefix, with or without the files' hyphen (``X:BTCUSD``, ``X:BTC-USD``).
SYMBOL_PATTERN = re.compile(r"^(?:[XC]:)?[A-Z0-9][A-Z0-9.\-]{0,19}$")
PAIR_PREFIXES: dict[str, AssetClass] = {"X:": "crypto", "C:": "forex"}


# A renamed stock's ticker in a day's file, by the symbol it is stored under, for the days
# before its rename (``{"META": "FB"}`` before 2022-06-09); see corporate_actions/tickers.py.
Renames = Mapping[str, str]
NO_RENAMES: Renames = {}


class InvalidSymbolError(ConfigurationError):
    """A watchlist or command-line symbol that is not a plain market symbol."""


def normalize_symbol(raw: str) -> str:
    """Upper-case and validate a symbol: letters, digits, ``.`` and ``-`` only, after an
    optional ``X:`` (crypto) or ``C:`` (forex) prefix. A pair takes the REST API's form,
    without the files' hyphen: ``X:BTC-USD`` is ``X:BTCUSD``.

    Symbols end up in S3 keys of nothing and in SQL only as bound parameters, but a
    strict form keeps junk (quotes, path separators, unicode look-alikes) out early.
    """
    symbol = raw.strip().upper()
    if not SYMBOL_PATTERN.fullmatch(symbol):
        raise InvalidSymbolError(
            f"invalid symbol {raw!r}: use 1-20 characters of A-Z, 0-9, '.' or '-' "
            "(crypto and currency pairs as X:BTCUSD, C:EURUSD)"
        )
    if is_pair(symbol):
        pair = symbol[2:].replace("-", "")
        if len(pair) < 2:
            raise InvalidSymbolError(f"invalid pair {raw!r}: expected e.g. X:BTCUSD or C:EURUSD")
        symbol = symbol[:2] + pair
    return symbol


@dataclass(frozen=True)
class PrefixedTickers:
    """Tickers are the watchlist symbol behind a fixed prefix (``I:SPX``, ``AAPL``), or,
    on the days before a rename, the symbol's former ticker (``FB`` for ``META``)."""

    prefix: str = ""
    kind: Literal["prefixed"] = "prefixed"

    def ticker(self, symbol: str, renames: Renames = NO_RENAMES) -> str:
        return f"{self.prefix}{renames.get(symbol, symbol)}"

    def line_prefixes(
        self, underlyings: frozenset[str], renames: Renames = NO_RENAMES
    ) -> list[bytes]:
        """How the file's lines of these symbols begin (``I:SPX,``)."""
        return [f"{self.ticker(s, renames)},".encode() for s in underlyings]

    def match(
        self, tickers: pa.Array, underlyings: frozenset[str], renames: Renames = NO_RENAMES
    ) -> MatchedTickers:
        wanted = pa.array(sorted(self.ticker(s, renames) for s in underlyings), pa.string())
        mask = pc.is_in(tickers, value_set=wanted)
        symbols = pc.utf8_slice_codeunits(tickers, len(self.prefix)) if self.prefix else tickers
        renamed = {renames[s]: s for s in underlyings if s in renames}
        if not renamed:
            return MatchedTickers(mask=mask, symbols=symbols, underlyings=symbols)
        former = pa.array(list(renamed), pa.string())
        at = pc.index_in(symbols, value_set=former)
        file_tickers = pc.if_else(pc.is_valid(at), tickers, pa.scalar(None, pa.string()))
        symbols = pc.coalesce(pc.take(pa.array(list(renamed.values()), pa.string()), at), symbols)
        return MatchedTickers(
            mask=mask, symbols=symbols, underlyings=symbols, file_tickers=file_tickers
        )


@dataclass(frozen=True)
class PairTickers:
    """Crypto and currency pairs: the files write ``X:BTC-USD``, the REST API and the
    watchlist ``X:BTCUSD``; bars are stored under the REST form."""

    prefix: str = "X:"
    kind: Literal["pairs"] = "pairs"

    def ticker(self, symbol: str, renames: Renames = NO_RENAMES) -> str:
        """The REST API's ticker: the symbol itself (pairs are never renamed)."""
        return symbol

    def line_prefixes(
        self, underlyings: frozenset[str], renames: Renames = NO_RENAMES
    ) -> list[bytes]:
        """Where the hyphen falls is not in the REST form (``BTCUSD`` is ``BTC-USD``, but
        ``USDCUSD`` is ``USDC-USD``), so the scan takes every line whose pair starts with
        the same character (a few percent of a file each) and ``match`` keeps the pairs."""
        stems = {symbol.removeprefix(self.prefix)[:1] for symbol in underlyings}
        return [f"{self.prefix}{stem}".encode() for stem in sorted(stems)]

    def match(
        self, tickers: pa.Array, underlyings: frozenset[str], renames: Renames = NO_RENAMES
    ) -> MatchedTickers:
        symbols = pc.replace_substring(tickers, "-", "")
        mask = pc.is_in(symbols, value_set=pa.array(sorted(underlyings), pa.string()))
        return MatchedTickers(mask=mask, symbols=symbols, underlyings=symbols)


# Option roots that differ from their underlying's symbol: weeklies, PM-settled, minis, and
# class shares, whose OCC root has no dot (BRKB is BRK.B's).
OPTION_ROOT_ALIASES: dict[str, str] = {
    "SPXW": "SPX",
    "SPXPM": "SPX",
    "NDXP": "NDX",
    "RUTW": "RUT",
    "VIXW": "VIX",
    "DJXW": "DJX",
    "XSPW": "XSP",
    "BRKB": "BRK.B",
    "BFB": "BF.B",
}

# O: + root + YYMMDD + C/P + 8-digit strike: the root is what is left of the last 15.
_OCC_SUFFIX_LENGTH = 15


def option_underlying(root: str) -> str:
    """Map an OCC option root to the watchlist symbol it trades on.

    Adjusted contracts carry a digit after the root (``AMC2`` after a corporate
    action); they still belong to the same underlying.
    """
    return OPTION_ROOT_ALIASES.get(root, root.rstrip("0123456789") or root)


@dataclass(frozen=True)
class OptionContracts:
    """Tickers are OCC contracts (``O:SPXW241122C05900000``) kept whole as the symbol."""

    prefix: str = "O:"
    kind: Literal["options"] = "options"

    @staticmethod
    def _owners(underlyings: frozenset[str], renames: Renames) -> dict[str, str]:
        """The watchlist symbol each name a contract's root may map to belongs to: the
        ticker the symbol traded under that day (FB for META before its rename, not another
        company's META) and its dotless OCC form (BRKB for BRK.B)."""
        owners = {}
        for symbol in underlyings:
            name = renames.get(symbol, symbol)
            owners[name] = owners[name.replace(".", "")] = symbol
        return owners

    def line_prefixes(
        self, underlyings: frozenset[str], renames: Renames = NO_RENAMES
    ) -> list[bytes]:
        """How the lines of contracts on these underlyings may begin: every root that maps to
        one (``O:SPX``, ``O:SPXW``, ``O:BRKB``; ``O:FB`` before META's rename); adjusted
        roots (``O:AMC2``) share their root's start."""
        owners = self._owners(underlyings, renames)
        roots = {name for name in owners if "." not in name}
        roots |= {r for r, u in OPTION_ROOT_ALIASES.items() if u in owners}
        return [f"{self.prefix}{root}".encode() for root in sorted(roots)]

    def match(
        self, tickers: pa.Array, underlyings: frozenset[str], renames: Renames = NO_RENAMES
    ) -> MatchedTickers:
        """Contracts keep their OCC ticker as the symbol; ``underlying`` is the watchlist
        symbol, also for a renamed underlying's contracts under its former root (O:FB… are
        META's on the days META traded as FB)."""
        owners = self._owners(underlyings, renames)
        roots = pc.utf8_slice_codeunits(tickers, len(self.prefix), -_OCC_SUFFIX_LENGTH)
        distinct = pc.unique(roots).to_pylist()
        mapped = {
            root: owners.get(option_underlying(root), option_underlying(root)) for root in distinct
        }
        wanted_roots = pa.array(
            sorted(r for r, u in mapped.items() if r and u in underlyings), pa.string()
        )
        well_formed = pc.and_(
            pc.starts_with(tickers, self.prefix),
            pc.greater(pc.utf8_length(tickers), len(self.prefix) + _OCC_SUFFIX_LENGTH),
        )
        mask = pc.and_(well_formed, pc.is_in(roots, value_set=wanted_roots))
        lookup_keys = pa.array(list(mapped), pa.string())
        lookup_values = pa.array(list(mapped.values()), pa.string())
        underlying = pc.take(lookup_values, pc.index_in(roots, value_set=lookup_keys))
        return MatchedTickers(mask=mask, symbols=tickers, underlyings=underlying)


@dataclass(frozen=True)
class MatchedTickers:
    """Which rows of a batch belong to the watchlist, and under which symbol."""

    mask: pa.Array
    symbols: pa.Array
    underlyings: pa.Array
    file_tickers: pa.Array | None = None  # where not the symbol (a former ticker)


@dataclass(frozen=True)
class WatchlistEntry:
    symbol: str
    asset_class: AssetClass
    include_options: bool = False


@dataclass(frozen=True)
class Dataset:
    """One Massive flat-file dataset, e.g. ``us_indices/minute_aggs_v1``."""

    name: str
    prefix: str
    header: tuple[str, ...]
    tickers: PrefixedTickers | OptionContracts | PairTickers
    # Which watchlist entries this dataset loads bars for.
    loads: Literal["index", "stock", "options", "crypto", "forex"]
    table: str = "minute_aggs_v1"
    timeframe: str = "1m"
    # The calendar day a file covers: New York for US data, UTC for forex and crypto.
    day_timezone: str = "America/New_York"
    description: str = field(default="", compare=False)

    def key(self, day: date) -> str:
        """The object key of the day file, in Massive's layout."""
        return f"{self.prefix}/{self.table}/{day:%Y}/{day:%m}/{day.isoformat()}.csv.gz"

    def window(self, day: date) -> DayWindow:
        """The bars a day file may hold: those starting inside its calendar day."""
        return day_window(day, ZoneInfo(self.day_timezone))

    def trades_on(self, day: date) -> bool:
        """Whether the market trades that day, so its file is due: crypto every day, forex
        on its Sunday-to-Friday hours, the US datasets on NYSE sessions."""
        if self.loads == "crypto":
            return True
        if self.loads == "forex":
            return bool(forex_minutes(day))
        return is_session(day)

    @property
    def has_volume(self) -> bool:
        return "volume" in self.header

    def underlyings(self, watchlist: list[WatchlistEntry]) -> frozenset[str]:
        """The watchlist symbols whose bars this dataset provides."""
        if self.loads == "options":
            return frozenset(e.symbol for e in watchlist if e.include_options)
        return frozenset(e.symbol for e in watchlist if e.asset_class == self.loads)


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="indices",
            prefix="us_indices",
            header=INDEX_HEADER,
            tickers=PrefixedTickers("I:"),
            loads="index",
            description="US index values (I:SPX, I:NDX …); no volume or transactions.",
        ),
        Dataset(
            name="stocks",
            prefix="us_stocks_sip",
            header=AGG_HEADER,
            tickers=PrefixedTickers(""),
            loads="stock",
            description="US stocks and ETFs from the SIP, 04:00-20:00 ET.",
        ),
        Dataset(
            name="options",
            prefix="us_options_opra",
            header=AGG_HEADER,
            tickers=OptionContracts(),
            loads="options",
            description="OPRA option contracts on watchlist underlyings with include_options.",
        ),
    )
}
# Crypto and currency pairs: UTC calendar days, their own partitions and assets.
UTC_DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="crypto",
            prefix="global_crypto",
            header=AGG_HEADER,
            tickers=PairTickers("X:"),
            loads="crypto",
            day_timezone="UTC",
            description="Crypto pairs (X:BTC-USD in the files, X:BTCUSD stored), on UTC days.",
        ),
        Dataset(
            name="forex",
            prefix="global_forex",
            header=AGG_HEADER,
            tickers=PairTickers("C:"),
            loads="forex",
            day_timezone="UTC",
            description="Currency pairs (C:EUR-USD in the files, C:EURUSD stored), on UTC days.",
        ),
    )
}
ALL_DATASETS: dict[str, Dataset] = {**DATASETS, **UTC_DATASETS}

# Indices a bare watchlist symbol most likely means; anything else is taken as a stock.
KNOWN_INDICES = frozenset(
    {
        "SPX",
        "NDX",
        "RUT",
        "VIX",
        "DJI",
        "OEX",
        "XSP",
        "XND",
        "DJX",
        "COMP",
        "NYA",
        "RUA",
        "RUI",
        "MID",
        "SML",
        "SOX",
        "VVIX",
        "VXN",
        "RVX",
        "NDXT",
        "XAU",
        "OSX",
    }
)


def is_pair(symbol: str) -> bool:
    """A crypto (``X:``) or currency (``C:``) pair: UTC days, no sessions."""
    return symbol[:2] in PAIR_PREFIXES


def infer_asset_class(symbol: str) -> AssetClass:
    """``X:``/``C:`` pairs are crypto/forex; a known index name an index; else a stock."""
    if is_pair(symbol):
        return PAIR_PREFIXES[symbol[:2]]
    return "index" if symbol in KNOWN_INDICES else "stock"


def get_dataset(name: str) -> Dataset:
    try:
        return ALL_DATASETS[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown dataset {name!r}; known: {', '.join(ALL_DATASETS)}"
        ) from None
