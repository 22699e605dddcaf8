"""Generated day files in Massive's exact layout and format, for the demo, tests and benchmarks.

They look like the real thing where it matters to the pipeline: the dataset's header,
gzip CSV, realistic tickers (many not on any watchlist, ``NA`` among them), rows sorted
by ticker then ``window_start`` in nanoseconds, stocks in extended hours, sparse option
contracts, no stocks or options file on holidays, a smaller indices file on them,
13:00 closes on early-close days, and New York days that follow daylight saving time.
Everything is numpy-vectorized per ticker, so files of real size come out in seconds.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from market_data.calendar import NEW_YORK, Session, session
from market_data.datasets import DATASETS, Dataset

NS_PER_MINUTE = 60_000_000_000
MS_PER_MINUTE = 60_000
WRITE_SLICE_ROWS = 250_000


@dataclass(frozen=True)
class GeneratorSizes:
    """How big a day file is: small by default, real sizes for benchmarks."""

    other_indices: int = 300
    other_stocks: int = 400
    contracts_per_underlying: int = 40


DEMO_INDICES = ("SPX", "NDX", "RUT", "VIX", "DJI")
DEMO_STOCKS = ("SPY", "QQQ", "AAPL", "MSFT", "NVDA", "IWM", "NA")
LIQUID_STOCKS = frozenset({"SPY", "QQQ", "AAPL", "MSFT", "NVDA", "IWM"})
DEMO_OPTION_UNDERLYINGS = ("SPY", "QQQ", "SPX", "NDX", "AAPL")
OTHER_OPTION_ROOTS = ("TSLA", "AMZN", "AMC2", "IWM", "SPYG")
BASE_PRICES = {
    "SPX": 5900.0, "NDX": 20800.0, "RUT": 2350.0, "VIX": 15.0, "DJI": 44000.0,
    "SPY": 590.0, "QQQ": 505.0, "AAPL": 230.0, "MSFT": 415.0, "NVDA": 140.0, "IWM": 230.0,
    "TSLA": 340.0, "AMZN": 205.0, "AMC2": 3.0, "SPYG": 90.0,
}  # fmt: skip
OPTION_ROOTS = {"SPX": ("SPXW", "SPX"), "NDX": ("NDXP",)}


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, parts)).encode()))


def _letters(rng: np.random.Generator, n: int, low: int, high: int) -> list[str]:
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    lengths = rng.integers(low, high + 1, n)
    return ["".join(rng.choice(alphabet, k)) for k in lengths]


def _ms_at(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK).timestamp() * 1000)


def _day_minutes(day: date) -> np.ndarray:
    """Bar starts (ms) of every minute of the New York day (23, 24 or 25 hours)."""
    start = int(datetime.combine(day, time.min, tzinfo=NEW_YORK).timestamp() * 1000)
    end = int(
        datetime.combine(day + timedelta(days=1), time.min, tzinfo=NEW_YORK).timestamp() * 1000
    )
    return np.arange(start, end, MS_PER_MINUTE, dtype=np.int64)


def _range(start_ms: int, end_ms: int) -> np.ndarray:
    return np.arange(start_ms, end_ms, MS_PER_MINUTE, dtype=np.int64)


def has_file(dataset: Dataset, day: date) -> bool:
    """Stocks and options: sessions only. Indices: every weekday, holidays included."""
    if day.weekday() >= 5:
        return False
    return dataset.loads == "index" or session(day) is not None


@dataclass
class _Series:
    ticker: str
    minutes: np.ndarray  # bar starts, ms
    price: float
    decimals: int
    volume: bool


def _index_series(day: date, sizes: GeneratorSizes, regular: Session | None) -> list[_Series]:
    names_rng = _rng("index names", sizes.other_indices)
    others = sorted(
        {f"{n}" for n in _letters(names_rng, sizes.other_indices, 3, 8)} - set(DEMO_INDICES)
    )
    around_the_clock = set(others[::20])
    session_minutes = _range(regular.open_ms, regular.close_ms) if regular else None
    all_day = _day_minutes(day)
    series = []
    for name in DEMO_INDICES:
        if session_minutes is not None:
            series.append(_Series(f"I:{name}", session_minutes, BASE_PRICES[name], 14, False))
    for i, name in enumerate(others):
        if name in around_the_clock:
            minutes = all_day
        elif session_minutes is not None:
            minutes = session_minutes
        else:
            continue
        series.append(_Series(f"I:{name}", minutes, 50.0 + (i * 37) % 5000, 14, False))
    return series


def _stock_series(day: date, sizes: GeneratorSizes, regular: Session) -> list[_Series]:
    names_rng = _rng("stock names", sizes.other_stocks)
    others = set(_letters(names_rng, sizes.other_stocks, 1, 5)) | {"BRK.B", "BF.B", "AApB"}
    others -= set(DEMO_STOCKS)
    extended = _range(_ms_at(day, 4), _ms_at(day, 20))
    in_regular = (extended >= regular.open_ms) & (extended < regular.close_ms)
    rng = _rng("stock minutes", day, sizes)
    series = []
    for i, name in enumerate(sorted([*DEMO_STOCKS, *others])):
        if name in LIQUID_STOCKS:
            keep = in_regular | (rng.random(extended.size) < 0.6)
        else:
            keep = rng.random(extended.size) < rng.uniform(0.03, 0.4)
        price = BASE_PRICES.get(name, 5.0 + (i * 13) % 400)
        series.append(_Series(name, extended[keep], price, 4, True))
    return series


def _option_series(day: date, sizes: GeneratorSizes, regular: Session) -> list[_Series]:
    rng = _rng("option contracts", day, sizes)
    contracts: dict[str, _Series] = {}
    for underlying in (*DEMO_OPTION_UNDERLYINGS, *OTHER_OPTION_ROOTS):
        roots = OPTION_ROOTS.get(underlying, (underlying,))
        index_option = underlying in OPTION_ROOTS
        close = regular.close_ms + (15 * MS_PER_MINUTE if index_option else 0)
        minutes = _range(regular.open_ms, close)
        spot = BASE_PRICES.get(underlying, 100.0)
        step = 5.0 if spot > 200 else 1.0 if spot > 20 else 0.5
        for j in range(sizes.contracts_per_underlying):
            root = roots[j % len(roots)]
            expiry = day + timedelta(days=int(1 + (j * 7) % 45))
            kind = "C" if j % 2 else "P"
            offset = step * (j // 2 - sizes.contracts_per_underlying // 4)
            strike = max(step, round(spot / step) * step + offset)
            ticker = f"O:{root}{expiry:%y%m%d}{kind}{round(strike * 1000):08d}"
            keep = rng.random(minutes.size) < rng.uniform(0.1, 0.6)
            premium = max(0.05, abs(spot - strike) * 0.5 + spot * 0.01)
            contracts.setdefault(ticker, _Series(ticker, minutes[keep], premium, 2, True))
    series = list(contracts.values())
    series.sort(key=lambda s: s.ticker)
    return series


def _series_for(dataset: Dataset, day: date, sizes: GeneratorSizes) -> list[_Series]:
    regular = session(day)
    if dataset.loads == "index":
        return _index_series(day, sizes, regular)
    if regular is None:
        return []
    if dataset.loads == "stock":
        return _stock_series(day, sizes, regular)
    return _option_series(day, sizes, regular)


def _table(dataset: Dataset, day: date, series: list[_Series]) -> pa.Table:
    series = [s for s in sorted(series, key=lambda s: s.ticker) if s.minutes.size]
    counts = np.array([s.minutes.size for s in series], dtype=np.int64)
    n = int(counts.sum())
    rng = _rng("prices", dataset.name, day)
    starts = np.concatenate([s.minutes for s in series]) if series else np.zeros(0, np.int64)
    owner = np.repeat(np.arange(len(series)), counts)
    base = np.array([s.price for s in series])[owner] if n else np.zeros(0)
    # A random walk per ticker: cumulative returns restarted at each ticker's first row.
    steps = rng.normal(0, 0.0006, n)
    walk = np.cumsum(steps)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]) if n else np.zeros(0, np.int64)
    walk -= np.repeat(walk[first] - steps[first], counts)
    close = base * np.exp(walk)
    open_ = close * np.exp(rng.normal(0, 0.0003, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0004, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0004, n)))
    decimals = np.array([s.decimals for s in series])[owner] if n else np.zeros(0, np.int64)
    prices = {}
    for name, values in (("open", open_), ("close", close), ("high", high), ("low", low)):
        rounded = np.where(decimals == 2, np.round(values, 2), np.round(values, 4))
        prices[name] = np.where(decimals > 4, np.round(values, 10), rounded)
    # Rounding can move open/close outside [low, high]: widen the range to hold them.
    prices["high"] = np.maximum.reduce([prices["high"], prices["open"], prices["close"]])
    prices["low"] = np.minimum.reduce([prices["low"], prices["open"], prices["close"]])
    tickers = pc.take(pa.array([s.ticker for s in series], pa.string()), pa.array(owner))
    columns: dict[str, pa.Array] = {
        "ticker": tickers,
        **{k: pa.array(v, pa.float64()) for k, v in prices.items()},
        "window_start": pa.array(starts * 1_000_000, pa.int64()),
    }
    if dataset.has_volume:
        volume = rng.integers(1, 5000, n) * np.where(rng.random(n) < 0.1, 10, 1)
        columns["volume"] = pa.array(volume, pa.int64())
        columns["transactions"] = pa.array(
            np.maximum(1, volume // rng.integers(20, 120, n)), pa.int64()
        )
    return pa.table({name: columns[name] for name in dataset.header})


def generate_day_file(
    dataset: Dataset, day: date, path: Path, sizes: GeneratorSizes = GeneratorSizes()
) -> int:
    """Write the day file (gzip CSV, the dataset's header); returns the data rows."""
    table = _table(dataset, day, _series_for(dataset, day, sizes))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.part")
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    # zlib level 1 in slices: fast, and memory stays flat for files of real size.
    with gzip.open(tmp, "wb", compresslevel=1) as out:
        out.write((",".join(dataset.header) + "\n").encode())
        for offset in range(0, table.num_rows, WRITE_SLICE_ROWS):
            buffer = io.BytesIO()
            pa_csv.write_csv(table.slice(offset, WRITE_SLICE_ROWS), buffer, options)
            out.write(buffer.getbuffer())
    os.replace(tmp, path)
    return table.num_rows


def generate_source(
    root: Path,
    start: date,
    end: date,
    datasets: Iterable[Dataset] = DATASETS.values(),
    sizes: GeneratorSizes = GeneratorSizes(),
) -> list[Path]:
    """Day files for ``start``…``end`` under ``root`` at their bucket keys; existing ones kept."""
    written = []
    day = start
    while day <= end:
        for dataset in datasets:
            path = root / dataset.key(day)
            if has_file(dataset, day) and not path.exists():
                generate_day_file(dataset, day, path, sizes)
                written.append(path)
        day += timedelta(days=1)
    return written
