"""Crypto and currency pairs on real Massive files: the files' hyphenated tickers, stored in
the REST form, every value as the file writes it, and the markets' own hours."""

from __future__ import annotations

import csv
import gzip
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from market_data.calendar import crypto_minutes, forex_minutes
from market_data.datasets import (
    UTC_DATASETS,
    InvalidSymbolError,
    infer_asset_class,
    normalize_symbol,
)
from market_data.transform.parse import parse_day_file

SAMPLES = Path(__file__).parents[1] / "data" / "massive-samples"
CRYPTO, FOREX = UTC_DATASETS["crypto"], UTC_DATASETS["forex"]
NEW_YEAR = date(2025, 1, 1)


def file_rows(path: Path, ticker: str) -> list[dict[str, str]]:
    with gzip.open(path, "rt", newline="") as f:
        return [row for row in csv.DictReader(f) if row["ticker"] == ticker]


@pytest.mark.parametrize(
    ("raw", "symbol", "asset_class"),
    [
        ("X:BTC-USD", "X:BTCUSD", "crypto"),
        ("x:btcusd", "X:BTCUSD", "crypto"),
        ("C:EUR-USD", "C:EURUSD", "forex"),
        ("C:EURUSD", "C:EURUSD", "forex"),
        ("SPX", "SPX", "index"),
        ("BRK.B", "BRK.B", "stock"),
    ],
)
def test_pairs_take_the_rest_form_and_their_class_from_the_prefix(raw, symbol, asset_class):
    assert normalize_symbol(raw) == symbol
    assert infer_asset_class(symbol) == asset_class


@pytest.mark.parametrize("raw", ["X:", "X:-", "Y:BTCUSD", "X:BTC/USD"])
def test_malformed_pairs_are_refused(raw):
    with pytest.raises(InvalidSymbolError):
        normalize_symbol(raw)


def test_bitcoin_on_new_years_day_is_every_minute_exactly_as_the_file_writes_it():
    path = SAMPLES / "crypto_2025-01-01.csv.gz"
    parsed = parse_day_file(path, CRYPTO, CRYPTO.window(NEW_YEAR), frozenset({"X:BTCUSD"}))
    bars = parsed.bars.to_pylist()
    expected = file_rows(path, "X:BTC-USD")
    assert len(bars) == len(expected) == 1440
    assert {b["symbol"] for b in bars} == {b["underlying"] for b in bars} == {"X:BTCUSD"}
    start, end = crypto_minutes(NEW_YEAR)
    assert [b["timestamp"] for b in bars] == list(range(start, end, 60_000))
    for bar, row in zip(bars, expected, strict=True):
        assert bar["timestamp"] == int(row["window_start"]) // 1_000_000
        for column in ("open", "high", "low", "close", "volume"):
            # To the last digit: the float reads back as the file's decimal text.
            assert Decimal(repr(bar[column])) == Decimal(row[column]), (column, row)
        assert bar["transactions"] == int(row["transactions"])
    assert any("e" not in row["volume"] and len(row["volume"]) > 12 for row in expected)


@pytest.mark.parametrize(
    ("name", "day"),
    [
        ("crypto_2025-01-01", date(2025, 1, 1)),
        ("crypto_2025-01-02", date(2025, 1, 2)),
        ("forex_2025-01-01", date(2025, 1, 1)),
    ],
)
def test_every_pair_of_a_file_is_read_with_its_row_count(name, day):
    path = SAMPLES / f"{name}.csv.gz"
    dataset = CRYPTO if name.startswith("crypto") else FOREX
    with gzip.open(path, "rt", newline="") as f:
        counts: dict[str, int] = {}
        for row in csv.DictReader(f):
            symbol = row["ticker"].replace("-", "")
            counts[symbol] = counts.get(symbol, 0) + 1
    parsed = parse_day_file(path, dataset, dataset.window(day), frozenset(counts))
    got: dict[str, int] = {}
    for symbol in parsed.bars.column("symbol").to_pylist():
        got[symbol] = got.get(symbol, 0) + 1
    assert got == counts
    assert parsed.rows_read == parsed.rows_kept == sum(counts.values())


def test_forex_on_a_holiday_trades_only_what_the_file_holds():
    path = SAMPLES / "forex_2025-01-01.csv.gz"
    parsed = parse_day_file(path, FOREX, FOREX.window(NEW_YEAR), frozenset({"C:EURUSD"}))
    stamps = parsed.bars.column("timestamp").to_pylist()
    first, last = (datetime.fromtimestamp(t / 1000, timezone.utc) for t in (stamps[0], stamps[-1]))
    assert first.hour >= 21 and last.strftime("%H:%M") <= "23:59"
    # The calendar alone would expect the whole Wednesday: a holiday is judged by the file.
    assert forex_minutes(NEW_YEAR) == [crypto_minutes(NEW_YEAR)]


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (date(2025, 1, 3), 22),  # Friday, winter: until 17:00 New York = 22:00 UTC
        (date(2025, 7, 4), 21),  # Friday, summer: 21:00 UTC
        (date(2025, 1, 4), 0),  # Saturday: closed
        (date(2025, 1, 5), 2),  # Sunday, winter: from 22:00 UTC
        (date(2025, 7, 6), 3),  # Sunday, summer: from 21:00 UTC
        (date(2025, 1, 6), 24),  # Monday: all day
    ],
)
def test_forex_hours_follow_new_york_across_daylight_saving(day, hours):
    assert sum(end - start for start, end in forex_minutes(day)) == hours * 3_600_000
