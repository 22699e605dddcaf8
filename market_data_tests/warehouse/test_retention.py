"""Retention drops old months, trims the straddling one, and loses nothing younger."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa

from market_data.bar_schema import BARS_SCHEMA
from market_data.calendar import day_window
from market_data.datasets import DATASETS
from market_data.day_files import prune_day_files
from market_data.warehouse.load import DatasetBars, load_day
from market_data.warehouse.retention import month_partitions, prune_bars


def one_bar_per_day(db, days: list[date]) -> None:
    for day in days:
        window = day_window(day)
        table = pa.Table.from_pylist(
            [
                {
                    "symbol": "SPY",
                    "underlying": "SPY",
                    "timestamp": window.start_ms + 15 * 3_600_000,
                    "open": 1.0,
                    "high": 1.0,
                    "low": 1.0,
                    "close": 1.0,
                    "volume": 1.0,
                    "vwap": None,
                    "transactions": 1,
                }
            ],
            schema=BARS_SCHEMA,
        )
        load_day(db, window, [DatasetBars(DATASETS["stocks"], frozenset({"SPY"}), table)])


def test_rows_either_side_of_the_cutoff(db):
    days = [date(2025, 1, 15) + timedelta(days=10 * i) for i in range(12)]  # Jan 15 … Apr 25
    one_bar_per_day(db, days)
    cutoff = date(2025, 3, 10)
    before = {r[0] for r in db.execute("SELECT timestamp FROM historical_bars")}

    result = prune_bars(db, day_window(cutoff).start_ms)

    assert result.partitions_dropped == ["historical_bars_2025_01", "historical_bars_2025_02"]
    kept = {r[0] for r in db.execute("SELECT timestamp FROM historical_bars")}
    expected = {t for t in before if t >= day_window(cutoff).start_ms}
    assert kept == expected  # nothing younger lost
    assert result.rows_deleted == len(before) - len(expected)
    names = [p[0] for p in month_partitions(db)]
    assert "historical_bars_2025_01" not in names and "historical_bars_2025_03" in names


def test_day_files_before_the_cutoff_are_removed(tmp_path):
    for name in (
        "2025-03-09.csv.gz",
        "2025-03-09.csv.gz.manifest.json",
        "2025-03-10.csv.gz",
        "2025-03-10.parquet",
        "README",
    ):
        (tmp_path / "a" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "a" / name).write_text("x")
    result = prune_day_files(tmp_path, date(2025, 3, 10))
    assert result.files_removed == 2
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "2025-03-10.csv.gz",
        "2025-03-10.parquet",
        "README",
    ]
