"""Generated day files in Massive's exact layout and format, for the demo, tests and benchmarks.

They look like the real files wherever the pipeline could tell the difference: the
dataset's header, gzip CSV, rows sorted by ticker (byte order) then ``window_start`` in
integer nanoseconds, realistic tickers with many that no watchlist asks for (``NA``,
``BRK.B``, ``AApB``, ``I:SPXEW``, ``O:AMC2…`` among them), stocks in extended hours,
sparse option contracts, around-the-clock indices, no stocks or options file on a
holiday but a smaller indices file, 13:00 closes on early-close days, and New York days
whose UTC bounds move with daylight saving time (taken from the calendar, never from
multiples of 86,400 seconds).

Rows are built with numpy a slice of tickers at a time and written by pyarrow's CSV
writer through ISA-L gzip, so benchmark files of 100+ MB come out in seconds and memory
stays flat. A file depends only on (dataset, day, sizes): generating it twice gives the
same bytes.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from isal import isal_zlib

from market_data.calendar import MS_PER_MINUTE, NEW_YORK, NS_PER_MS, session
from market_data.datasets import DATASETS, Dataset
from market_data_local.demo_actions import demo_file_ticker, demo_price_factor

# Rows built and written per slice: bounds memory for benchmark-size files.
SLICE_ROWS = 200_000
# ISA-L's fastest level: a generator should not be what a benchmark waits for.
GZIP_LEVEL = 1
# Slices encoded to CSV in parallel; more would only hold more text in memory.
ENCODE_THREADS = 4


@dataclass(frozen=True)
class GeneratorSizes:
    """How big a day file is: small by default (demo, tests), real sizes for benchmarks."""

    other_indices: int = 300  # index tickers no demo watchlist asks for
    other_stocks: int = 400  # stock tickers no demo watchlist asks for
    contracts_per_underlying: int = 40  # option contracts per optionable underlying


DEFAULT_SIZES = GeneratorSizes()

DEMO_INDICES = ("SPX", "NDX", "RUT", "VIX", "DJI")
# 'NA' is a real ticker that pandas' default NA parsing turns into NaN.
FIRST_DEMO_STOCKS = ("SPY", "QQQ", "AAPL", "MSFT", "NVDA", "IWM", "NA")
# Demo stocks added since: their rows come from a plan of their own (``_added_stocks``), so
# that adding them left every other ticker's rows as they were, byte for byte. META (FB
# before its rename, local/demo_reference.py) was one of the other names until then.
ADDED_DEMO_STOCKS = ("META",)
DEMO_STOCKS = (*FIRST_DEMO_STOCKS, *ADDED_DEMO_STOCKS)
# SPX options trade under SPXW (dailies) and SPX (AM-settled monthlies), NDX under NDXP.
DEMO_OPTION_UNDERLYINGS = ("SPY", "QQQ", "SPX", "NDX", "AAPL")

LIQUID_STOCKS = frozenset({"SPY", "QQQ", "AAPL", "MSFT", "NVDA", "IWM"})
# Optionable names beyond the demo ones; AMC also trades under its adjusted root AMC2, and
# SPYG shares the first letters of SPY, which a prefix match must not take for SPY.
OTHER_OPTION_UNDERLYINGS = ("TSLA", "AMZN", "NVDA", "IWM", "SPYG", "AMC")
OPTION_ROOTS: dict[str, tuple[tuple[str, float], ...]] = {
    "SPX": (("SPXW", 0.8), ("SPX", 0.2)),
    "NDX": (("NDXP", 1.0),),
    "AMC": (("AMC", 0.75), ("AMC2", 0.25)),
}
INDEX_OPTIONS = frozenset({"SPX", "NDX"})  # trade until 16:15 ET
DAILY_EXPIRIES = frozenset({"SPXW", "NDXP", "SPY", "QQQ", "IWM"})
STRIKE_STEPS = {"SPX": 5.0, "NDX": 10.0, "SPY": 1.0, "QQQ": 1.0, "IWM": 1.0, "AMC": 0.5}

BASE_PRICES = {
    "SPX": 5900.0,
    "NDX": 20800.0,
    "RUT": 2350.0,
    "VIX": 15.0,
    "DJI": 44000.0,
    "SPY": 590.0,
    "QQQ": 505.0,
    "AAPL": 230.0,
    "MSFT": 415.0,
    "NVDA": 140.0,
    "IWM": 230.0,
    "META": 600.0,
    "NA": 3.2,
    "TSLA": 340.0,
    "AMZN": 205.0,
    "AMC": 3.1,
    "SPYG": 90.0,
    "BRK.A": 720000.0,
    "BRK.B": 480.0,
    "BF.B": 31.0,
    "A": 135.0,
    "F": 11.0,
}
# Mean volume of a regular-session minute bar for the liquid names.
LIQUID_VOLUMES = {
    "SPY": 80_000,
    "QQQ": 50_000,
    "AAPL": 40_000,
    "MSFT": 20_000,
    "NVDA": 180_000,
    "IWM": 30_000,
    "META": 15_000,
}

# Real index tickers of the kinds the files hold (equal-weight, total return, sectors).
INDEX_SPECIALS = (
    "SPXEW",
    "NDXT",
    "XNDXTRND",
    "A1BSC",
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
    "VIX9D",
    "VIX3M",
    "SPXTR",
    "DJUSBK",
    "DJT",
    "DJU",
    "BXM",
    "SKEW",
)
INDEX_SUFFIXES = ("", "", "", "", "", "TR", "NTR", "EW", "PR", "TRND", "100", "50", "3M", "X", "RP")
# Around-the-clock indices are crypto reference rates (the docs' sample starts at I:AAVE100).
CRYPTO_STEMS = (
    "AAVE",
    "BTC",
    "ETH",
    "SOL",
    "ADA",
    "DOT",
    "LINK",
    "XRP",
    "LTC",
    "AVAX",
    "UNI",
    "DOGE",
    "BCH",
    "XLM",
    "ATOM",
    "ALGO",
    "FIL",
    "NEAR",
    "SHIB",
    "ETC",
)
CRYPTO_SUFFIXES = ("100", "10RP", "25RP", "50RP", "RR", "NYRR", "LDN", "USD")
ALL_DAY_SHARE = 0.05
# Share classes with '.', lower-case class letters, test symbols, single letters.
STOCK_SPECIALS = (
    "A",
    "F",
    "BRK.A",
    "BRK.B",
    "BF.B",
    "AApB",
    "TpC",
    "ZVZZT",
    "ZXIET",
    "TSLA",
    "AMZN",
    "AMC",
    "SPYG",
    "GOOGL",
    "META",
    "PRN",
)
LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def has_file(dataset: Dataset, day: date) -> bool:
    """Whether Massive publishes this day's file: stocks and options on NYSE sessions only,
    indices on every weekday, holidays included; nothing on weekends."""
    if day.weekday() >= 5:
        return False
    return dataset.loads == "index" or session(day) is not None


# --- per-name attributes: the same name gets the same price level in every file ------------


def _hashes(names: Iterable[str]) -> np.ndarray:
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest(), "little")
            for n in names
        ],
        dtype=np.uint64,
    )


def _uniform(hashes: np.ndarray, salt: int) -> np.ndarray:
    """One uniform [0, 1) draw per name and salt (splitmix64): stable across files and sizes."""
    with np.errstate(over="ignore"):
        z = hashes + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def _base_prices(names: tuple[str, ...], hashes: np.ndarray, low: float, high: float) -> np.ndarray:
    """Known names at their real level, the others log-uniform in [low, high)."""
    drawn = low * (high / low) ** _uniform(hashes, 1)
    known = np.array([BASE_PRICES.get(n, np.nan) for n in names])
    return np.where(np.isnan(known), drawn, known)


def _day_levels(base: np.ndarray, hashes: np.ndarray, day: date) -> np.ndarray:
    """Where each name starts the day: slow swings of a few percent, so days differ."""
    t = day.toordinal()
    swing = 0.04 * np.sin(2 * np.pi * (t / 31 + _uniform(hashes, 2))) + 0.015 * np.sin(
        2 * np.pi * (t / 7 + _uniform(hashes, 3))
    )
    return base * np.exp(swing)


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


# --- ticker universes (names do not depend on the day) ---------------------------------------


def _fill(names: list[str], count: int, taken: set[str], draw: Iterator[str]) -> list[str]:
    """Extend ``names`` with fresh drawn names up to ``count``."""
    seen = taken | set(names)
    names = names[:count]
    while len(names) < count:
        name = next(draw)
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _index_names(rng: np.random.Generator) -> Iterator[str]:
    while True:
        stem = "".join(rng.choice(LETTERS, int(rng.integers(2, 6))))
        if rng.random() < 0.1:
            stem = f"{stem[0]}{rng.integers(1, 10)}{stem[1:]}"
        yield stem + str(rng.choice(INDEX_SUFFIXES))


def _crypto_names(rng: np.random.Generator) -> Iterator[str]:
    fixed = [s + x for s in CRYPTO_STEMS for x in CRYPTO_SUFFIXES]
    yield from [fixed[0], *(fixed[i] for i in 1 + rng.permutation(len(fixed) - 1))]
    while True:
        stem = "".join(rng.choice(LETTERS, int(rng.integers(3, 5))))
        yield stem + str(rng.choice(CRYPTO_SUFFIXES))


def _stock_names(rng: np.random.Generator) -> Iterator[str]:
    while True:
        yield "".join(rng.choice(LETTERS, int(rng.integers(3, 6))))


@dataclass(frozen=True)
class _Universe:
    """The tickers of a file, sorted by byte order, with what kind each one is."""

    symbols: tuple[str, ...]  # without the I: prefix
    kind: np.ndarray  # int8, meaning depends on the dataset
    hashes: np.ndarray
    base: np.ndarray


def _universe(symbols: list[str], kinds: list[int], low: float, high: float) -> _Universe:
    order = sorted(range(len(symbols)), key=lambda i: symbols[i].encode())
    ordered = tuple(symbols[i] for i in order)
    hashes = _hashes(ordered)
    kind = np.array([kinds[i] for i in order], dtype=np.int8)
    return _Universe(ordered, kind, hashes, _base_prices(ordered, hashes, low, high))


WATCHED, SESSION, ALL_DAY = 0, 1, 2  # index kinds
LIQUID, ILLIQUID = 0, 1  # stock kinds


@functools.lru_cache(maxsize=8)
def _indices(count: int) -> _Universe:
    all_day = round(count * ALL_DAY_SHARE)
    taken = set(DEMO_INDICES)
    crypto = _fill([], all_day, taken, _crypto_names(_rng("crypto index names")))
    others = _fill(
        list(INDEX_SPECIALS),
        count - all_day,
        taken | set(crypto),
        _index_names(_rng("index names")),
    )
    symbols = [*DEMO_INDICES, *others, *crypto]
    kinds = [WATCHED] * len(DEMO_INDICES) + [SESSION] * len(others) + [ALL_DAY] * len(crypto)
    return _universe(symbols, kinds, 10.0, 20_000.0)


@functools.lru_cache(maxsize=8)
def _stocks(count: int) -> _Universe:
    """The first demo stocks and ``count`` others. A name of ``ADDED_DEMO_STOCKS`` among
    the others is still drawn here (its rows are dropped, see ``_added_stocks``)."""
    others = _fill(
        list(STOCK_SPECIALS), count, set(FIRST_DEMO_STOCKS), _stock_names(_rng("stocks"))
    )
    symbols = [*FIRST_DEMO_STOCKS, *others]
    kinds = [LIQUID if s in LIQUID_STOCKS else ILLIQUID for s in symbols]
    return _universe(symbols, kinds, 0.5, 300.0)


def _added_stocks(day: date) -> tuple[_Universe, tuple[str, ...]]:
    """The added demo stocks, liquid, under the tickers of ``day``'s file (sorted by them),
    and the stocks' own symbols in the same order: a stock's prices go on through a rename."""
    symbols = sorted(ADDED_DEMO_STOCKS, key=lambda s: demo_file_ticker(s, day).encode())
    hashes = _hashes(symbols)
    universe = _Universe(
        tuple(demo_file_ticker(s, day) for s in symbols),
        np.full(len(symbols), LIQUID, dtype=np.int8),
        hashes,
        _base_prices(tuple(symbols), hashes, 0.5, 300.0),
    )
    return universe, tuple(symbols)


def demo_stock_level(symbol: str, day: date) -> float:
    """Where a demo stock (today's ticker) starts ``day`` in that day's file: its generated
    level times the day's split factor (``demo_price_factor``)."""
    hashes = _hashes([symbol])
    base = _base_prices((symbol,), hashes, 0.5, 300.0)
    return float(_day_levels(base, hashes, day)[0]) * demo_price_factor(symbol, day)


# --- the bars ---------------------------------------------------------------------------------


@dataclass
class _Plan:
    """Which minutes each ticker has a bar in, and how its prices and volumes behave."""

    tickers: list[str]  # sorted by byte order
    minutes_ms: np.ndarray  # the minutes any ticker may have a bar in
    active: np.ndarray  # bool (ticker, minute)
    level: np.ndarray  # price at the start of the day
    sigma: np.ndarray  # per-minute volatility of log price
    decimals: np.ndarray  # price decimals per ticker
    open_noise: float  # how far an open strays from the previous close, in sigmas
    volume: np.ndarray | None = None  # mean volume of a bar per ticker; None: no volume
    volume_profile: np.ndarray | None = None  # per minute: busy open and close, quiet nights
    trade_size: np.ndarray | None = None  # mean shares (contracts) per transaction
    long_decimals: np.ndarray | None = None  # per ticker: print some prices with 14 decimals


def _ms_at(day: date, hour: int, minute: int = 0) -> int:
    """Epoch ms of a New York wall-clock time, daylight saving time applied by the tz rules."""
    return int(datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK).timestamp() * 1000)


def _minutes(start_ms: int, end_ms: int) -> np.ndarray:
    return np.arange(start_ms, end_ms, MS_PER_MINUTE, dtype=np.int64)


def _u_shape(minutes_ms: np.ndarray, open_ms: int, close_ms: int) -> np.ndarray:
    """Busier after the open and before the close than at midday."""
    x = np.clip((minutes_ms - open_ms) / max(close_ms - open_ms, 1), 0.0, 1.0)
    return 0.6 + 2.4 * (2 * x - 1) ** 4


def _index_plan(day: date, window_ms: tuple[int, int], sizes: GeneratorSizes) -> _Plan:
    universe = _indices(sizes.other_indices)
    regular = session(day)
    minutes = _minutes(*window_ms)
    kind = universe.kind
    in_session = np.zeros(minutes.size, dtype=bool)
    if regular is not None:
        in_session = (minutes >= regular.open_ms) & (minutes < regular.close_ms)
    active = np.where((kind == ALL_DAY)[:, None], True, in_session[None, :])
    sigma = np.where(kind == ALL_DAY, 0.0012, 0.0002 + 0.0006 * _uniform(universe.hashes, 4))
    sigma[np.array([s == "VIX" for s in universe.symbols])] = 0.003
    return _Plan(
        tickers=[f"I:{s}" for s in universe.symbols],
        minutes_ms=minutes,
        active=active,
        level=_day_levels(universe.base, universe.hashes, day),
        sigma=sigma,
        # Index values come with 2 decimals (the headline ones), 4, or 10 for some.
        decimals=np.select(
            [kind == WATCHED, (kind == SESSION) & (_uniform(universe.hashes, 10) < 0.3)], [2, 10], 4
        ),
        open_noise=0.2,
        long_decimals=kind == ALL_DAY,
    )


def _stock_plan(day: date, sizes: GeneratorSizes, rng: np.random.Generator) -> _Plan | None:
    universe = _stocks(sizes.other_stocks)
    return _stock_plan_of(universe, universe.symbols, day, rng)


def _stock_plan_of(
    universe: _Universe, symbols: tuple[str, ...], day: date, rng: np.random.Generator
) -> _Plan | None:
    """The plan of a universe of stocks whose own symbols (today's tickers, for their
    volumes and splits) are ``symbols``. Before a split the prices are the split-adjusted
    ones times ``demo_price_factor`` and the volumes and trade sizes divided by it."""
    regular = session(day)
    if regular is None:
        return None
    minutes = _minutes(_ms_at(day, 4), _ms_at(day, 20))  # pre-market to after-hours
    in_session = (minutes >= regular.open_ms) & (minutes < regular.close_ms)
    liquid = universe.kind == LIQUID
    # Illiquid names: a bar in 2-100% of regular minutes, far fewer outside them.
    activity = _uniform(universe.hashes, 5)
    p_regular = np.where(liquid, 1.0, 0.02 + 0.98 * activity**2)
    p_extended = np.where(liquid, 0.6, p_regular * (0.05 + 0.25 * _uniform(universe.hashes, 6)))
    p = np.where(in_session[None, :], p_regular[:, None], p_extended[:, None])
    active = rng.random(p.shape, dtype=np.float32) < p
    base = universe.base
    volume = np.array([LIQUID_VOLUMES.get(s, 0) for s in symbols], dtype=np.float64)
    volume = np.where(liquid, volume, 50 * 400 ** (activity * _uniform(universe.hashes, 7)))
    profile = np.where(in_session, _u_shape(minutes, regular.open_ms, regular.close_ms), 0.06)
    trade_size = np.where(liquid, 60.0, 20 + 130 * _uniform(universe.hashes, 9))
    level = _day_levels(base, universe.hashes, day)
    decimals = np.where(base < 1.0, 4, 2)
    factor = np.array([demo_price_factor(s, day) for s in symbols])
    if (factor != 1.0).any():  # else as before: not even a multiplication by one
        level, volume, trade_size = level * factor, volume / factor, trade_size / factor
        decimals = np.where(base * factor < 1.0, 4, 2)
    return _Plan(
        tickers=list(universe.symbols),
        minutes_ms=minutes,
        active=active,
        level=level,
        sigma=np.where(liquid, 0.0004, 0.0006 + 0.0025 * _uniform(universe.hashes, 8)),
        decimals=decimals,
        open_noise=0.5,
        volume=volume,
        volume_profile=profile,
        trade_size=trade_size,
    )


def _expiries(day: date) -> list[date]:
    """Session days in the ~10 weeks after ``day``: the dates option contracts expire on."""
    days = []
    for offset in range(1, 71):
        d = day + timedelta(days=offset)
        try:
            if session(d) is not None:
                days.append(d)
        except ValueError:  # beyond the exchange calendar: any weekday will do
            if d.weekday() < 5:
                days.append(d)
    return days


def _third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def _root_expiries(root: str, day: date, sessions: list[date]) -> list[date]:
    """Dailies for the busiest roots, Fridays for the rest, third Fridays for SPX monthlies."""
    if root in DAILY_EXPIRIES:
        return sessions[:25]
    if root == "SPX":
        months = [
            (day.year + (day.month + i - 1) // 12, (day.month + i - 1) % 12 + 1) for i in range(4)
        ]
        return [f for f in (_third_friday(y, m) for y, m in months) if f > day][:3]
    fridays = [d for d in sessions if d.weekday() == 4]
    return fridays[:8] or sessions[:5]


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


def _contracts(
    underlying: str,
    root: str,
    count: int,
    day: date,
    spot: float,
    sessions: list[date],
    rng: np.random.Generator,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``count`` contracts of one root, nearest expiries and strikes first: the OCC tickers,
    a fair premium and how strongly each premium follows the underlying."""
    expiries = _root_expiries(root, day, sessions)
    if count <= 0 or not expiries:
        return [], np.zeros(0), np.zeros(0)
    step = STRIKE_STEPS.get(underlying) or (5.0 if spot >= 200 else 2.5 if spot >= 50 else 1.0)
    reach = count // len(expiries) + 6
    e, k, call = np.meshgrid(
        np.arange(len(expiries)), np.arange(-reach, reach + 1), [0, 1], indexing="ij"
    )
    e, k, call = (a.ravel() for a in (e, k, call))  # type: ignore[assignment]
    strike = np.round(spot / step) * step + k * step
    keep = (strike >= step) & (strike < 100_000)
    e, k, call, strike = e[keep], k[keep], call[keep], strike[keep]
    score = np.abs(k) / reach + e / len(expiries) + rng.exponential(0.15, e.size)
    chosen = np.sort(np.argsort(score, kind="stable")[:count])
    e, call, strike = e[chosen], call[chosen], strike[chosen]
    dates = [f"{d:%y%m%d}" for d in expiries]
    # Before a split the underlying trades at its files' price, and its strikes and premiums
    # with it: scaled after the draws, so that the other contracts' rows stay as they were.
    factor = demo_price_factor(underlying, day)
    tickers = [
        f"O:{root}{dates[i]}{'C' if c else 'P'}{round(s * factor * 1000):08d}"
        for i, c, s in zip(e.tolist(), call.tolist(), strike.tolist(), strict=True)
    ]
    years = np.array([(expiries[i] - day).days + 0.5 for i in e]) / 365
    vol = 0.16 if underlying in INDEX_OPTIONS else 0.5 if spot < 20 else 0.3
    d1 = (np.log(spot / strike) + vol**2 / 2 * years) / (vol * np.sqrt(years))
    d2 = d1 - vol * np.sqrt(years)
    call_price = spot * _normal_cdf(d1) - strike * _normal_cdf(d2)
    premium = np.where(call == 1, call_price, call_price - spot + strike)
    premium = np.maximum(premium, 0.05)
    delta = np.where(call == 1, _normal_cdf(d1), _normal_cdf(d1) - 1)
    leverage = np.clip(np.abs(delta) * spot / premium, 1.0, 40.0)
    if factor != 1.0:
        premium = premium * factor
    return tickers, premium, leverage


def _option_plan(day: date, sizes: GeneratorSizes, rng: np.random.Generator) -> _Plan | None:
    regular = session(day)
    if regular is None:
        return None
    sessions = _expiries(day)
    names: list[str] = []
    premiums: list[np.ndarray] = []
    leverages: list[np.ndarray] = []
    late: list[bool] = []
    for underlying in dict.fromkeys((*DEMO_OPTION_UNDERLYINGS, *OTHER_OPTION_UNDERLYINGS)):
        hashes = _hashes([underlying])
        low, high = (10.0, 20_000.0) if underlying in INDEX_OPTIONS else (0.5, 300.0)
        base = _base_prices((underlying,), hashes, low, high)
        spot = float(_day_levels(base, hashes, day)[0])
        roots = OPTION_ROOTS.get(underlying, ((underlying, 1.0),))
        left = sizes.contracts_per_underlying
        for i, (root, share) in enumerate(roots):
            count = left if i == len(roots) - 1 else round(sizes.contracts_per_underlying * share)
            left -= count
            tickers, premium, leverage = _contracts(
                underlying, root, count, day, spot, sessions, rng
            )
            names += tickers
            premiums.append(premium)
            leverages.append(leverage)
            late += [underlying in INDEX_OPTIONS] * len(tickers)
    order = sorted(range(len(names)), key=lambda i: names[i].encode())
    tickers = [names[i] for i in order]
    premium = np.concatenate(premiums)[order] if names else np.zeros(0)
    leverage = np.concatenate(leverages)[order] if names else np.zeros(0)
    index_option = np.array(late, dtype=bool)[order] if names else np.zeros(0, bool)
    # Equity options stop at the close; index options trade 15 minutes longer.
    minutes = _minutes(regular.open_ms, regular.close_ms + 15 * MS_PER_MINUTE)
    open_until = np.where(index_option, minutes.size, minutes.size - 15)
    p = 0.1 + 0.5 * rng.random(len(tickers))  # each contract trades in 10-60% of minutes
    active = (rng.random((len(tickers), minutes.size), dtype=np.float32) < p[:, None]) & (
        np.arange(minutes.size)[None, :] < open_until[:, None]
    )
    return _Plan(
        tickers=tickers,
        minutes_ms=minutes,
        active=active,
        level=premium,
        sigma=0.0005 * leverage,
        decimals=np.full(len(tickers), 2),
        open_noise=0.5,
        volume=5 * 40 ** rng.random(len(tickers)),
        volume_profile=np.where(
            minutes < regular.close_ms, _u_shape(minutes, regular.open_ms, regular.close_ms), 0.3
        ),
        trade_size=1 + 6 * rng.random(len(tickers)),
    )


def _slices(plan: _Plan) -> Iterator[tuple[int, int]]:
    """Ticker ranges of about ``SLICE_ROWS`` rows, never mixing long-decimal tickers in."""
    counts = plan.active.sum(axis=1)
    style = plan.long_decimals if plan.long_decimals is not None else np.zeros(counts.size, bool)
    start, rows = 0, 0
    for i in range(counts.size):
        if i > start and (rows + counts[i] > SLICE_ROWS or style[i] != style[start]):
            yield start, i
            start, rows = i, 0
        rows += int(counts[i])
    if start < counts.size:
        yield start, counts.size


def _long_decimals(values: np.ndarray, padded: np.ndarray) -> pa.Array:
    """Prices as text, some padded to 14 decimals the way the real index files print them
    (``69.86160000000000`` next to ``69.8381``)."""
    text = pc.cast(pa.array(values), pa.string())
    dot = pc.find_substring(text, ".")
    has_dot = pc.greater_equal(dot, 0)
    decimals = pc.if_else(has_dot, pc.subtract(pc.subtract(pc.utf8_length(text), dot), 1), 0)
    zeros = pc.binary_repeat(pa.scalar("0"), pc.subtract(14, decimals))
    long = pc.binary_join_element_wise(text, pc.if_else(has_dot, "", "."), zeros, "")
    return pc.if_else(pa.array(padded), long, text)


def _bars(plan: _Plan, first: int, stop: int, rng: np.random.Generator) -> dict[str, pa.Array]:
    """The rows of tickers ``first``..``stop``: random walks, consistent OHLC."""
    local, minute = np.nonzero(plan.active[first:stop])
    ticker = local + first
    n = ticker.size
    counts = np.bincount(local, minlength=stop - first)
    counts = counts[counts > 0]
    starts = np.cumsum(counts) - counts
    is_first = np.zeros(n, dtype=bool)
    is_first[starts] = True

    # Log-price random walk per ticker; a gap of g minutes moves it sqrt(g) times as far.
    gap = np.diff(minute, prepend=0).astype(np.float64)
    gap[is_first] = 1.0
    sigma = plan.sigma[ticker]
    steps = rng.standard_normal(n) * sigma * np.sqrt(gap)
    walk = np.cumsum(steps)
    walk -= np.repeat(walk[starts] - steps[starts], counts)
    start_log = np.log(plan.level[ticker])
    log_close = start_log + walk
    log_open = np.empty(n)
    log_open[1:] = log_close[:-1]
    log_open[is_first] = start_log[is_first]
    log_open += rng.standard_normal(n) * sigma * plan.open_noise
    close, open_ = np.exp(log_close), np.exp(log_open)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(n)) * sigma * 0.6)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(n)) * sigma * 0.6)

    columns: dict[str, pa.Array] = {}
    if plan.volume is not None and plan.volume_profile is not None and plan.trade_size is not None:
        mean = plan.volume[ticker] * plan.volume_profile[minute]
        volume = np.maximum(1, np.rint(mean * np.exp(rng.standard_normal(n) * 0.7 - 0.25)))
        round_lot = (volume >= 100) & (rng.random(n) < 0.4)
        volume = np.where(round_lot, np.rint(volume / 100) * 100, volume).astype(np.int64)
        trades = np.rint(volume / plan.trade_size[ticker] * np.exp(rng.standard_normal(n) * 0.3))
        trades = np.clip(trades, 1, volume).astype(np.int64)
        # A single trade is a single price.
        one = trades == 1
        open_, high, low = (np.where(one, close, x) for x in (open_, high, low))
        columns["volume"] = pa.array(volume, pa.int64())
        columns["transactions"] = pa.array(trades, pa.int64())

    decimals = plan.decimals[ticker]
    if plan.volume is not None:  # some stock prints are sub-penny midpoints
        decimals = np.where((decimals == 2) & (rng.random(n) < 0.05), 4, decimals)
    scale = 10.0**decimals
    open_, close, high, low = (
        np.maximum(np.rint(x * scale), 1) / scale for x in (open_, close, high, low)
    )
    high = np.maximum(high, np.maximum(open_, close))
    low = np.minimum(low, np.minimum(open_, close))

    prices = {"open": open_, "close": close, "high": high, "low": low}
    long = plan.long_decimals is not None and bool(plan.long_decimals[first])
    for name, values in prices.items():
        columns[name] = (
            _long_decimals(values, rng.random(n) < 0.4) if long else pa.array(values, pa.float64())
        )
    names = pa.array(plan.tickers[first:stop], pa.string())
    columns["ticker"] = pc.take(names, pa.array(local, pa.int32()))
    columns["window_start"] = pa.array(plan.minutes_ms[minute] * NS_PER_MS, pa.int64())
    return columns


def _added_rows(dataset: Dataset, day: date) -> dict[str, pa.Table]:
    """The rows of the added demo stocks on ``day``, per ticker of the day's file. Their
    seed is their own (not the file's sizes): the same rows in a demo and a benchmark file."""
    if not ADDED_DEMO_STOCKS:
        return {}
    universe, symbols = _added_stocks(day)
    seed = (dataset.name, day.isoformat(), "added demo stocks")
    plan = _stock_plan_of(universe, symbols, day, _rng(*seed))
    if plan is None:
        return {}
    columns = _bars(plan, 0, len(plan.tickers), _rng(*seed, 0))
    table = pa.table({name: columns[name] for name in dataset.header})
    return {ticker: table.filter(pc.equal(table["ticker"], ticker)) for ticker in plan.tickers}


def _with_added(
    table: pa.Table, tickers: list[str], first: int, stop: int, added: dict[str, pa.Table]
) -> pa.Table:
    """A slice's rows without those drawn for an added demo stock among the other names,
    and with the added stocks' rows whose ticker falls in the slice's range, in byte order."""
    drawn = [t for t in tickers[first:stop] if t in ADDED_DEMO_STOCKS]
    if drawn:
        table = table.filter(pc.invert(pc.is_in(table["ticker"], pa.array(drawn, pa.string()))))
    low = tickers[first].encode() if first > 0 else None
    high = tickers[stop].encode() if stop < len(tickers) else None
    for ticker, rows in sorted(added.items(), key=lambda item: item[0].encode()):
        key = ticker.encode()
        if (low is None or low <= key) and (high is None or key < high):
            # Arrow compares strings by their bytes, the files' order.
            at = pc.sum(pc.less(table["ticker"], ticker)).as_py() or 0
            table = pa.concat_tables([table.slice(0, at), rows, table.slice(at)])
    return table


def _encoded(dataset: Dataset, day: date, sizes: GeneratorSizes) -> Iterator[tuple[int, pa.Buffer]]:
    """The file's rows as CSV text, slice by slice in file order, encoded on worker threads
    (numpy and pyarrow release the GIL) while the caller compresses."""
    seed = (dataset.name, day.isoformat(), sizes)
    rng = _rng(*seed)
    window = dataset.window(day)
    plan: _Plan | None
    if dataset.loads == "index":
        plan = _index_plan(day, (window.start_ms, window.end_ms), sizes)
    elif dataset.loads == "stock":
        plan = _stock_plan(day, sizes, rng)
    else:
        plan = _option_plan(day, sizes, rng)
    if plan is None:
        return
    added = _added_rows(dataset, day) if dataset.loads == "stock" else {}
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")

    def encode(first: int, stop: int) -> tuple[int, pa.Buffer]:
        # A slice's own seed: the bytes do not depend on which thread runs first.
        columns = _bars(plan, first, stop, _rng(*seed, first))
        table = pa.table({name: columns[name] for name in dataset.header})
        if added:
            table = _with_added(table, plan.tickers, first, stop, added)
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(table, sink, options)
        return table.num_rows, sink.getvalue()

    workers = min(ENCODE_THREADS, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[tuple[int, pa.Buffer]]] = deque()
        for first, stop in _slices(plan):
            pending.append(pool.submit(encode, first, stop))
            if len(pending) > 2 * workers:  # bounded: memory stays flat
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def generate_day_file(
    dataset: Dataset, day: date, path: Path, sizes: GeneratorSizes = DEFAULT_SIZES
) -> int:
    """Write the dataset's file for ``day`` (gzip CSV, Massive's header); the data rows.

    A day without a file (see ``has_file``) gets the header alone. The file appears
    atomically, so a reader or a concurrent generator never sees half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            gzip = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)
            # Written here, not by pyarrow, which would quote the column names.
            out.write(gzip.compress((",".join(dataset.header) + "\n").encode()))
            for count, text in _encoded(dataset, day, sizes):
                out.write(gzip.compress(text))
                rows += count
            out.write(gzip.flush())
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return rows


def missing_day_files(
    root: Path, start: date, end: date, datasets: Iterable[Dataset] = DATASETS.values()
) -> list[tuple[Dataset, date, Path]]:
    """The day files of ``start``..``end`` (inclusive) that have data and are not under
    ``root`` yet: what ``generate_source`` would write, so a caller can show progress."""
    datasets = list(datasets)
    missing = []
    day = start
    while day <= end:
        for dataset in datasets:
            path = root / dataset.key(day)
            if has_file(dataset, day) and not path.exists():
                missing.append((dataset, day, path))
        day += timedelta(days=1)
    return missing


def generate_source(
    root: Path,
    start: date,
    end: date,
    datasets: Iterable[Dataset] = DATASETS.values(),
    sizes: GeneratorSizes = DEFAULT_SIZES,
) -> list[Path]:
    """Every day file of ``start``..``end`` (inclusive) at its bucket key under ``root``;
    the paths written. Files already there are kept, so calling it again costs little."""
    written = []
    for dataset, day, path in missing_day_files(root, start, end, datasets):
        generate_day_file(dataset, day, path, sizes)
        written.append(path)
    return written
