"""What a day's generated files and ``historical_bars`` hold, read independently of the
pipeline, for tests that compare the two."""

from __future__ import annotations

import csv
import gzip
from datetime import date
from pathlib import Path

from market_data.calendar import day_window
from market_data.datasets import DATASETS


def watchlist_rows(source_dir: Path, day: date, watch: dict[str, set[str]]):
    """The file's own rows for the watchlist, as (symbol, ms, open, high, low, close, volume)."""
    rows = set()
    for name, dataset in DATASETS.items():
        path = source_dir / dataset.key(day)
        if not path.exists():
            continue
        with gzip.open(path, "rt", newline="") as f:
            for r in csv.DictReader(f):
                ticker = r["ticker"]
                if name == "options":
                    root = ticker[2:-15]
                    keep = {"SPXW": "SPX"}.get(root, root) in watch["options"]
                    symbol = ticker
                else:
                    symbol = ticker.removeprefix("I:")
                    keep = symbol in watch[name]
                if keep:
                    volume = float(r["volume"]) if "volume" in r else None
                    rows.add(
                        (
                            symbol,
                            int(r["window_start"]) // 1_000_000,
                            float(r["open"]),
                            float(r["high"]),
                            float(r["low"]),
                            float(r["close"]),
                            volume,
                        )
                    )
    return rows


def table_rows(db, day: date):
    window = day_window(day)
    return set(
        db.execute(
            "SELECT symbol, timestamp, open, high, low, close, volume FROM historical_bars"
            " WHERE timestamp >= %s AND timestamp < %s",
            (window.start_ms, window.end_ms),
        ).fetchall()
    )


def withdraw_hour(source_dir: Path, day: date, ticker: str, hour: int) -> None:
    """Take one hour (New York) of one ticker out of the day's file: a gap the checks must
    name, e.g. ``SPX: 60 of 390 minutes missing (11:00-11:59)``."""
    dataset = DATASETS["indices" if ticker.startswith("I:") else "stocks"]
    path = source_dir / dataset.key(day)
    start_ns = (day_window(day).start_ms + hour * 3_600_000) * 1_000_000
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    kept = [
        line
        for line in lines
        if not (
            line.startswith(f"{ticker},")
            and start_ns <= int(line.split(",")[5]) < start_ns + 3_600 * 10**9
        )
    ]
    path.write_bytes(gzip.compress(("\n".join(kept) + "\n").encode()))
