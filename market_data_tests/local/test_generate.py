"""Generated day files follow Massive's layout, formats and calendar, read back as plain CSV."""

from __future__ import annotations

import csv
import gzip
import re
from datetime import date, datetime, time, timezone
from functools import cache
from pathlib import Path

import pytest

from market_data.calendar import NEW_YORK
from market_data.datasets import DATASETS
from market_data_local import generate
from market_data_local.generate import (
    DEMO_INDICES,
    DEMO_STOCKS,
    FIRST_DEMO_STOCKS,
    GeneratorSizes,
    generate_day_file,
    generate_source,
    has_file,
)

WEEK = (date(2025, 11, 24), date(2025, 11, 30))  # holiday on the 27th, early close the 28th
REGULAR, HOLIDAY, EARLY_CLOSE, SATURDAY = (date(2025, 11, d) for d in (25, 27, 28, 29))
NS_PER_MINUTE = 60_000_000_000
OCC = re.compile(r"^O:(?P<root>[A-Z]+\d?)(?P<expiry>\d{6})[CP]\d{8}$")
INTEGER = re.compile(r"^\d+$")
AT_MOST_4_DECIMALS = re.compile(r"^\d+(\.\d{1,4})?$")


def utc_ns(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp()) * 10**9


def new_york_ns(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK).timestamp()) * 10**9


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("source")
    generate_source(root, *WEEK)
    return root


@cache
def read(path: Path) -> tuple[str, list[list[str]]]:
    """The header line as written and the data rows, without pandas' NA guessing."""
    with gzip.open(path, "rt", newline="") as f:
        header = f.readline().rstrip("\n")
        return header, list(csv.reader(f))


@cache
def rows(week: Path, name: str, day: date) -> list[dict[str, str]]:
    header, data = read(week / DATASETS[name].key(day))
    columns = header.split(",")
    return [dict(zip(columns, row, strict=True)) for row in data]


def starts(week: Path, name: str, day: date, ticker: str) -> list[int]:
    return [int(r["window_start"]) for r in rows(week, name, day) if r["ticker"] == ticker]


def test_generate_source_writes_the_days_with_a_file_once(week, tmp_path):
    written = {p.relative_to(week).as_posix() for p in week.rglob("*") if p.is_file()}
    weekdays = [date(2025, 11, d) for d in range(24, 29)]
    sessions = [d for d in weekdays if d != HOLIDAY]
    assert written == {
        *(f"us_indices/minute_aggs_v1/2025/11/{d}.csv.gz" for d in weekdays),
        *(f"us_stocks_sip/minute_aggs_v1/2025/11/{d}.csv.gz" for d in sessions),
        *(f"us_options_opra/minute_aggs_v1/2025/11/{d}.csv.gz" for d in sessions),
    }
    before = {p: p.stat().st_mtime_ns for p in week.rglob("*.csv.gz")}
    assert generate_source(week, *WEEK) == []
    assert {p: p.stat().st_mtime_ns for p in week.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("day", [REGULAR, HOLIDAY, EARLY_CLOSE])
def test_rows_are_sorted_unique_whole_minutes_of_the_new_york_day(week, name, day):
    dataset = DATASETS[name]
    if not has_file(dataset, day):
        return
    header, data = read(week / dataset.key(day))
    assert header == ",".join(dataset.header)
    assert data
    keys = [(r["ticker"].encode(), int(r["window_start"])) for r in rows(week, name, day)]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    window = dataset.window(day)
    assert all(window.start_ns <= t < window.end_ns and t % NS_PER_MINUTE == 0 for _, t in keys)


@pytest.mark.parametrize("name", list(DATASETS))
def test_prices_and_counts_look_like_massives(week, name):
    for r in rows(week, name, REGULAR):
        o, c, h, low = (float(r[k]) for k in ("open", "close", "high", "low"))
        assert 0 < low <= min(o, c) <= max(o, c) <= h
        if name != "indices":
            assert INTEGER.match(r["volume"]) and INTEGER.match(r["transactions"])
            assert 1 <= int(r["transactions"]) <= int(r["volume"])
            assert all(AT_MOST_4_DECIMALS.match(r[k]) for k in ("open", "close", "high", "low"))
    if name == "indices":  # long decimals as in the docs' sample (69.86160000000000)
        values = {r["open"] for r in rows(week, name, REGULAR)}
        assert any(re.fullmatch(r"\d+\.\d{14}", v) for v in values)


def test_index_sessions_early_close_and_holiday(week):
    assert len(starts(week, "indices", REGULAR, "I:SPX")) == 390
    assert len(starts(week, "indices", EARLY_CLOSE, "I:SPX")) == 210
    holiday = rows(week, "indices", HOLIDAY)
    assert not {r["ticker"] for r in holiday} & {f"I:{s}" for s in DEMO_INDICES}
    # Only the around-the-clock indices: every minute of the day for each of them.
    per_ticker: dict[str, int] = {}
    for r in holiday:
        per_ticker[r["ticker"]] = per_ticker.get(r["ticker"], 0) + 1
    assert per_ticker and set(per_ticker.values()) == {1440}
    regular = {r["ticker"] for r in rows(week, "indices", REGULAR)}
    assert set(per_ticker) < regular and len(regular) == 5 + GeneratorSizes().other_indices
    assert {"I:SPXEW", "I:AAVE100"} <= regular


def test_has_file_follows_the_exchange_calendar():
    indices, stocks, options = (DATASETS[n] for n in ("indices", "stocks", "options"))
    assert all(has_file(d, REGULAR) for d in DATASETS.values())
    assert has_file(indices, HOLIDAY) and not has_file(stocks, HOLIDAY)
    assert not has_file(options, HOLIDAY)
    assert not any(has_file(d, day) for d in DATASETS.values() for day in (SATURDAY, WEEK[1]))


def test_the_new_york_day_moves_with_daylight_saving_time(tmp_path):
    indices = DATASETS["indices"]
    for day, open_utc_hour in ((date(2025, 10, 31), 13), (date(2025, 11, 3), 14)):
        path = tmp_path / f"{day}.csv.gz"
        generate_day_file(indices, day, path, GeneratorSizes(other_indices=20))
        spx = [int(r[5]) for r in read(path)[1] if r[0] == "I:SPX"]
        assert spx[0] == utc_ns(day.year, day.month, day.day, open_utc_hour, 30)
        assert len(spx) == 390
        # Around-the-clock rows start at New York midnight: 04:00 UTC in EDT, 05:00 in EST.
        first = min(int(r[5]) for r in read(path)[1])
        assert first == indices.window(day).start_ns
        assert first == utc_ns(day.year, day.month, day.day, open_utc_hour - 9)


def test_stocks_trade_in_extended_hours_and_after_an_early_close(week):
    for day, close_hour in ((REGULAR, 16), (EARLY_CLOSE, 13)):
        spy = starts(week, "stocks", day, "SPY")
        open_, close = new_york_ns(day, 9, 30), new_york_ns(day, close_hour)
        assert new_york_ns(day, 4) <= spy[0] and spy[-1] < new_york_ns(day, 20)
        assert len([t for t in spy if open_ <= t < close]) == (close - open_) // NS_PER_MINUTE
        assert any(t < open_ for t in spy) and any(t >= new_york_ns(day, 16) for t in spy)
    tickers = {r["ticker"] for r in rows(week, "stocks", REGULAR)}
    assert set(DEMO_STOCKS) | {"BRK.B", "AApB"} <= tickers
    # META, a demo stock now, is also one of the other names.
    assert len(tickers) == len(FIRST_DEMO_STOCKS) + GeneratorSizes().other_stocks


def test_option_tickers_are_occ_contracts_in_the_regular_session(week):
    contracts = rows(week, "options", EARLY_CLOSE)
    roots = set()
    for r in contracts:
        match = OCC.match(r["ticker"])
        assert match, r["ticker"]
        roots.add(match["root"])
        assert match["expiry"] > "251128"
        t = int(r["window_start"])
        assert new_york_ns(EARLY_CLOSE, 9, 30) <= t < new_york_ns(EARLY_CLOSE, 13, 15)
    assert {"SPY", "QQQ", "SPXW", "SPX", "NDXP", "AAPL", "TSLA", "AMC2", "SPYG"} <= roots


def test_sizes_scale_and_files_are_deterministic(tmp_path):
    sizes = GeneratorSizes(other_indices=40, other_stocks=10, contracts_per_underlying=3)
    counted = {}
    for name, dataset in DATASETS.items():
        a, b = tmp_path / f"{name}-a.csv.gz", tmp_path / f"{name}-b.csv.gz"
        assert generate_day_file(dataset, REGULAR, a, sizes) == len(read(a)[1])
        generate_day_file(dataset, REGULAR, b, sizes)
        assert a.read_bytes() == b.read_bytes()
        counted[name] = len({r[0] for r in read(a)[1]})
    assert counted == {"indices": 45, "stocks": 18, "options": 33}
    other_day = tmp_path / "other.csv.gz"
    generate_day_file(DATASETS["stocks"], date(2025, 11, 26), other_day, sizes)
    assert other_day.read_bytes() != (tmp_path / "stocks-a.csv.gz").read_bytes()


def test_a_day_without_a_file_gets_only_the_header(tmp_path):
    path = tmp_path / "holiday.csv.gz"
    assert generate_day_file(DATASETS["stocks"], HOLIDAY, path) == 0
    assert (
        gzip.decompress(path.read_bytes()) == (",".join(DATASETS["stocks"].header) + "\n").encode()
    )


def test_the_demo_corporate_actions_are_in_the_files(tmp_path):
    """NVDA's 4-for-1 split on 2025-11-10 and META's rename from FB on 2025-11-14
    (local/demo_reference.py): the rows before them carry the prices and the ticker of then."""
    sizes = GeneratorSizes(other_indices=5, other_stocks=5, contracts_per_underlying=3)
    files = {}
    for day in (date(2025, 11, 7), date(2025, 11, 10), date(2025, 11, 14)):
        files[day] = tmp_path / f"{day}.csv.gz"
        generate_day_file(DATASETS["stocks"], day, files[day], sizes)
        options = tmp_path / f"options-{day}.csv.gz"
        generate_day_file(DATASETS["options"], day, options, sizes)
        strikes = [int(r[0][-8:]) / 1000 for r in read(options)[1] if r[0].startswith("O:NVDA")]
        nvda = [float(r[3]) for r in read(files[day])[1] if r[0] == "NVDA"]
        if day < date(2025, 11, 10):  # 4 times the split-adjusted level of about 140
            assert min(nvda) > 450 and min(strikes) > 300
        else:
            assert max(nvda) < 200 and max(strikes) < 200
    stocks = {day: {r[0] for r in read(path)[1]} for day, path in files.items()}
    assert "FB" in stocks[date(2025, 11, 10)] and "META" not in stocks[date(2025, 11, 10)]
    assert "META" in stocks[date(2025, 11, 14)] and "FB" not in stocks[date(2025, 11, 14)]


def test_the_added_demo_stocks_leave_the_other_rows_as_they_were(tmp_path, monkeypatch):
    """META's rows come from a plan of their own: without it, every other row is the same
    (the rows drawn for META among the other names are dropped, not left undrawn)."""
    day, stocks = date(2025, 11, 7), DATASETS["stocks"]
    with_added, without = tmp_path / "with.csv.gz", tmp_path / "without.csv.gz"
    generate_day_file(stocks, day, with_added)
    monkeypatch.setattr(generate, "ADDED_DEMO_STOCKS", ())
    generate_day_file(stocks, day, without)
    kept = [r for r in read(with_added)[1] if r[0] != "FB"]
    assert kept == [r for r in read(without)[1] if r[0] != "META"]
    assert len(kept) < len(read(with_added)[1])
