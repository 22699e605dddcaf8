"""The soak's data: generated day files (and the changed versions that are republished),
the REST stand-in's bars, and the truth the table must equal at the end.

The truth is read from the files with the ``csv`` module, never through the project's
parser: a row of the table is right because the file says so.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterable
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from market_data.datasets import DATASETS
from market_data_local.generate import generate_day_file, has_file
from market_data_tests.soak.plan import (
    ADDED_SYMBOL,
    INITIAL_WATCHLIST,
    REMOVED_SYMBOL,
    SOAK_SIZES,
    STEADY,
    Plan,
)

# (dataset, symbol, underlying, timestamp ms, open, high, low, close, volume, vwap,
#  transactions, source): what a row of historical_bars must hold.
Row = tuple
REST_HIGH_MARK = 0.5  # REST bars differ from the file's, so a REST row left behind shows
_OPTION = re.compile(r"^O:([A-Z]+?)\d{6}[CP]\d{8}$")


def version_path(root: Path, version: int, key: str) -> Path:
    return root / f"v{version}" / key


def generate_files(plan: Plan, root: Path) -> int:
    """Every day file of the plan, version 1, and the republished versions; the count."""
    written = 0
    for day in plan.file_days:
        for dataset in DATASETS.values():
            path = version_path(root, 1, dataset.key(day))
            if has_file(dataset, day) and not path.exists():
                generate_day_file(dataset, day, path, SOAK_SIZES)
                written += 1
    for release in plan.releases:
        if release.version > 1:
            key = DATASETS[release.dataset].key(release.day)
            republish(
                version_path(root, 1, key),
                version_path(root, release.version, key),
                release.dataset,
            )
            written += 1
    return written


def _steady(dataset: str, ticker: str) -> bool:
    if dataset == "options":
        match = _OPTION.match(ticker)
        return bool(match) and match.group(1) == "SPY"
    return ticker in STEADY[dataset]


def republish(original: Path, target: Path, dataset: str) -> None:
    """The file again with changed bars: every 7th bar of the steady symbols moved up a
    cent, every 50th dropped (a correction Massive publishes later)."""
    text = gzip.decompress(original.read_bytes()).decode()
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    col = {name: i for i, name in enumerate(header)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    seen: dict[str, int] = {}
    for row in reader:
        ticker = row[col["ticker"]]
        if _steady(dataset, ticker):
            n = seen[ticker] = seen.get(ticker, 0) + 1
            if n % 50 == 0:
                continue
            if n % 7 == 0:
                for name in ("open", "high", "low", "close"):
                    row[col[name]] = repr(round(float(row[col[name]]) + 0.01, 4))
        writer.writerow(row)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(out.getvalue().encode(), compresslevel=1))


@lru_cache(maxsize=512)
def file_rows(path: Path, dataset: str) -> tuple[dict, ...]:
    with gzip.open(path, "rt", newline="") as f:
        return tuple(csv.DictReader(f))


def _symbol(dataset: str, ticker: str) -> tuple[str, str] | None:
    """(symbol, underlying) of a file's ticker as historical_bars stores it."""
    if dataset == "options":
        match = _OPTION.match(ticker)
        if not match:
            return None
        root = match.group(1)
        return ticker, {"SPXW": "SPX", "NDXP": "NDX"}.get(root, root)
    symbol = ticker.removeprefix("I:") if dataset == "indices" else ticker
    if dataset == "indices" and not ticker.startswith("I:"):
        return None
    return symbol, symbol


def _num(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)


def rest_results(root: Path, ticker: str, day: date) -> list[dict]:
    """What the REST stand-in answers for a ticker's day: the file's bars, high marked."""
    dataset = "indices" if ticker.startswith("I:") else "stocks"
    path = version_path(root, 1, DATASETS[dataset].key(day))
    if not path.exists():
        return []
    results = []
    for r in file_rows(path, dataset):
        if r["ticker"] != ticker:
            continue
        bar = {
            "o": float(r["open"]),
            "h": float(r["high"]) + REST_HIGH_MARK,
            "l": float(r["low"]),
            "c": float(r["close"]),
            "t": int(r["window_start"]) // 1_000_000,
        }
        if dataset == "stocks":
            bar |= {"v": float(r["volume"]), "vw": float(r["close"]), "n": int(r["transactions"])}
        results.append(bar)
    return results


def watched_on(plan: Plan, day: date, removed_too: bool = False) -> dict[str, bool]:
    """The watchlist whose bars a day holds at the end: symbol -> with options.

    A symbol removed from the watchlist keeps the rows it has, and gets no new ones: its
    days are not expected whole (a day that failed while it was watched and was loaded
    again after its removal does not have it), only right; ``removed_too`` gives them
    for that check (the days before its removal)."""
    watched = dict(INITIAL_WATCHLIST)
    added, removed = plan.change_day("add"), plan.change_day("remove")
    if not removed_too or (removed is not None and day >= removed):
        watched.pop(REMOVED_SYMBOL, None)
    if added is not None and day >= added - timedelta(days=plan.backfill_days):
        watched[ADDED_SYMBOL] = False
    return watched


def _asset_class(symbol: str) -> str:
    return "indices" if symbol in ("SPX", "NDX") else "stocks"


def truth_rows(
    plan: Plan, root: Path, days: Iterable[date], removed_symbol: bool = False
) -> set[Row]:
    """What historical_bars must hold for ``days`` at the end of the plan; with
    ``removed_symbol``, the rows the removed symbol may keep (and only those)."""
    rows: set[Row] = set()
    cutoff = plan.retention_cutoff()
    for day in days:
        if cutoff is not None and day < cutoff:
            continue
        watched = watched_on(plan, day, removed_too=removed_symbol)
        if removed_symbol:
            watched = {s: o for s, o in watched.items() if s == REMOVED_SYMBOL}
        for name, dataset in DATASETS.items():
            wanted = (
                {s for s, options in watched.items() if options}
                if name == "options"
                else {s for s in watched if _asset_class(s) == name}
            )
            version = plan.final_version(name, day)
            if version is not None:
                for r in file_rows(version_path(root, version, dataset.key(day)), name):
                    mapped = _symbol(name, r["ticker"])
                    if mapped is None or mapped[1] not in wanted:
                        continue
                    rows.add(
                        (
                            name,
                            *mapped,
                            int(r["window_start"]) // 1_000_000,
                            float(r["open"]),
                            float(r["high"]),
                            float(r["low"]),
                            float(r["close"]),
                            _num(r.get("volume")),
                            None,
                            int(r["transactions"]) if r.get("transactions") else None,
                            "flat_file",
                        )
                    )
            elif name != "options" and has_file(dataset, day) and day == plan.last_day:
                # Not published by the end: the REST stand-in's bars.
                for symbol in sorted(wanted):
                    ticker = f"I:{symbol}" if name == "indices" else symbol
                    for bar in rest_results(root, ticker, day):
                        rows.add(
                            (
                                name,
                                symbol,
                                symbol,
                                bar["t"],
                                bar["o"],
                                bar["h"],
                                bar["l"],
                                bar["c"],
                                bar.get("v"),
                                bar.get("vw"),
                                bar.get("n"),
                                "rest",
                            )
                        )
    return rows


def table_rows(conn) -> list[Row]:
    """Every row of historical_bars in the truth's shape (duplicates kept)."""
    return [
        tuple(r)
        for r in conn.execute(
            "SELECT dataset, symbol, underlying, timestamp, open, high, low, close, volume,"
            " vwap, transactions, source FROM historical_bars"
        ).fetchall()
    ]
