"""Generated day files follow Massive's layout, formats and calendar."""

from __future__ import annotations

import csv
import gzip
import re
from datetime import date
from pathlib import Path

import pytest

from market_data.calendar import day_window
from market_data.datasets import DATASETS
from market_data.local.generate import generate_day_file, generate_source, has_file

OCC = re.compile(r"^O:[A-Z]+\d?\d{6}[CP]\d{8}$")


def read(path: Path) -> tuple[str, list[dict[str, str]]]:
    with gzip.open(path, "rt", newline="") as f:
        header = f.readline().strip()
        f.seek(0)
        return header, list(csv.DictReader(f))


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("week")
    generate_source(root, date(2025, 10, 31), date(2025, 11, 3))  # DST ends Nov 2
    generate_source(root, date(2025, 11, 25), date(2025, 11, 29))  # holiday, early close
    return root


def rows_of(week: Path, name: str, day: date) -> tuple[str, list[dict[str, str]]]:
    return read(week / DATASETS[name].key(day))


@pytest.mark.parametrize("name", list(DATASETS))
def test_files_are_sorted_unique_and_inside_their_new_york_day(week, name):
    header, rows = rows_of(week, name, date(2025, 11, 25))
    assert header == ",".join(DATASETS[name].header)
    keys = [(r["ticker"].encode(), int(r["window_start"])) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    window = day_window(date(2025, 11, 25))
    for r in rows:
        start = int(r["window_start"])
        assert window.start_ns <= start < window.end_ns and start % 60_000_000_000 == 0
        assert float(r["low"]) <= min(float(r["open"]), float(r["close"]))
        assert max(float(r["open"]), float(r["close"])) <= float(r["high"])


def spx_minutes(week: Path, day: date) -> list[int]:
    return [
        int(r["window_start"]) for r in rows_of(week, "indices", day)[1] if r["ticker"] == "I:SPX"
    ]


def test_sessions_early_close_holiday_and_dst(week):
    assert len(spx_minutes(week, date(2025, 11, 25))) == 390
    assert len(spx_minutes(week, date(2025, 11, 28))) == 210
    holiday = rows_of(week, "indices", date(2025, 11, 27))[1]
    assert holiday and not any(r["ticker"] == "I:SPX" for r in holiday)
    assert not (week / DATASETS["stocks"].key(date(2025, 11, 27))).exists()
    assert not has_file(DATASETS["stocks"], date(2025, 11, 27))
    assert not any(has_file(d, date(2025, 11, 29)) for d in DATASETS.values())
    # 09:30 ET is 13:30 UTC before the change and 14:30 UTC after it.
    assert spx_minutes(week, date(2025, 10, 31))[0] == 1761917400 * 10**9
    assert spx_minutes(week, date(2025, 11, 3))[0] == 1762180200 * 10**9


def test_tickers_look_real(week):
    stocks = {r["ticker"] for r in rows_of(week, "stocks", date(2025, 11, 25))[1]}
    assert {"NA", "SPY", "BRK.B"} <= stocks and len(stocks) > 300
    options = {r["ticker"] for r in rows_of(week, "options", date(2025, 11, 25))[1]}
    assert all(OCC.match(t) for t in options)
    assert any(t.startswith("O:SPXW") for t in options) and any(
        t.startswith("O:AMC2") for t in options
    )


def test_generation_is_deterministic_and_not_repeated(tmp_path, week):
    a, b = tmp_path / "a.csv.gz", tmp_path / "b.csv.gz"
    generate_day_file(DATASETS["stocks"], date(2025, 11, 25), a)
    generate_day_file(DATASETS["stocks"], date(2025, 11, 25), b)
    assert gzip.decompress(a.read_bytes()) == gzip.decompress(b.read_bytes())
    assert generate_source(week, date(2025, 11, 25), date(2025, 11, 29)) == []
