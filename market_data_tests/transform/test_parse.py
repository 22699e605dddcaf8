"""Parsing real and hand-made day files: exact values, headers, tickers, broken files."""

from __future__ import annotations

import csv
import gzip
from datetime import date
from pathlib import Path

import pytest

from market_data.bar_schema import BARS_SCHEMA
from market_data.calendar import day_window
from market_data.datasets import AGG_HEADER, DATASETS, Dataset, PrefixedTickers
from market_data.transform.parse import DayFileError, parse_day_file
from market_data.transform.validate import InvalidDayFileError

SAMPLES = Path(__file__).parents[1] / "data" / "massive-samples"

# Adding a dataset is a description, nothing more: these two are the real sample files'.
CRYPTO = Dataset(
    name="crypto",
    prefix="global_crypto",
    header=AGG_HEADER,
    tickers=PrefixedTickers("X:"),
    loads="stock",
    day_timezone="UTC",
)
FOREX = Dataset(
    name="forex",
    prefix="global_forex",
    header=AGG_HEADER,
    tickers=PrefixedTickers("C:"),
    loads="stock",
    day_timezone="UTC",
)


def rows_of(path: Path, ticker: str) -> list[dict[str, str]]:
    """The file's own rows for one ticker, read with the csv module as ground truth."""
    with gzip.open(path, "rt", newline="") as f:
        return [row for row in csv.DictReader(f) if row["ticker"] == ticker]


def write_gz(path: Path, text: str) -> Path:
    with gzip.open(path, "wt", newline="") as f:
        f.write(text)
    return path


@pytest.mark.parametrize(
    ("dataset", "name", "day", "symbols", "rows_read"),
    [
        (CRYPTO, "crypto_2025-01-02.csv.gz", date(2025, 1, 2), ["BTC-USD", "ETH-USD"], 222_058),
        (FOREX, "forex_2025-01-01.csv.gz", date(2025, 1, 1), ["EUR-USD", "AED-ZAR"], 79_704),
    ],
)
def test_real_files_parse_to_the_last_digit(dataset, name, day, symbols, rows_read):
    path = SAMPLES / name
    parsed = parse_day_file(path, dataset, dataset.window(day), frozenset(symbols))

    assert parsed.rows_read == rows_read
    assert parsed.rows_quarantined == 0
    assert parsed.duplicates_dropped == 0
    bars = parsed.bars.to_pylist()
    for symbol in symbols:
        expected = rows_of(path, dataset.tickers.ticker(symbol))
        got = [b for b in bars if b["symbol"] == symbol]
        assert len(got) == len(expected) > 0
        for bar, row in zip(got, expected, strict=True):
            assert bar["timestamp"] == int(row["window_start"]) // 1_000_000
            assert bar["underlying"] == symbol
            for column in ("open", "high", "low", "close", "volume"):
                assert bar[column] == float(row[column]), (symbol, column, row)
            assert bar["transactions"] == int(row["transactions"])
            assert bar["vwap"] is None
    assert parsed.rows_kept == sum(len(rows_of(path, dataset.tickers.ticker(s))) for s in symbols)


def test_btc_keeps_every_minute_of_the_utc_day():
    parsed = parse_day_file(
        SAMPLES / "crypto_2025-01-02.csv.gz",
        CRYPTO,
        CRYPTO.window(date(2025, 1, 2)),
        frozenset({"BTC-USD"}),
    )
    assert parsed.rows_kept == 1440
    first = parsed.bars.slice(0, 1).to_pylist()[0]
    # A real crypto row of Massive's: X:BTC-USD,0.04887865999999999,94380.9,94382.4,94777.0,94380.9,1735776000…
    assert first["volume"] == 0.04887865999999999
    assert (first["open"], first["close"], first["high"], first["low"]) == (
        94380.9,
        94382.4,
        94777.0,
        94380.9,
    )


STOCK_DAY = date(2025, 11, 25)
WINDOW = day_window(STOCK_DAY)
T0 = (WINDOW.start_ns // 60_000_000_000 + 14 * 60 + 30) * 60_000_000_000  # 14:30 UTC = 09:30 ET


def stock_file(tmp_path: Path, body: list[str], header: str = ",".join(AGG_HEADER)) -> Path:
    return write_gz(tmp_path / "day.csv.gz", "\n".join([header, *body]) + "\n")


def test_ticker_na_is_a_ticker_not_a_null(tmp_path):
    path = stock_file(tmp_path, [f"NA,100,1.5,1.6,1.7,1.4,{T0},3", f"NAB,1,1,1,1,1,{T0},1"])
    parsed = parse_day_file(path, DATASETS["stocks"], WINDOW, frozenset({"NA"}))
    assert parsed.bars.column("symbol").to_pylist() == ["NA"]
    assert parsed.bars.column("close").to_pylist() == [1.6]


def test_reordered_header_is_read_by_name(tmp_path):
    header = "window_start,ticker,open,high,low,close,volume,transactions"
    path = stock_file(tmp_path, [f"{T0},SPY,590.1,590.5,589.9,590.2,1200,30"], header=header)
    bar = parse_day_file(path, DATASETS["stocks"], WINDOW, frozenset({"SPY"})).bars.to_pylist()[0]
    assert (bar["open"], bar["high"], bar["low"], bar["close"], bar["volume"]) == (
        590.1,
        590.5,
        589.9,
        590.2,
        1200.0,
    )


@pytest.mark.parametrize(
    "header",
    [
        "ticker,open,close,high,low,window_start",  # an indices header in a stocks file
        "ticker,volume,open,close,high,low,window_start,transactions,vwap",
        "symbol,volume,open,close,high,low,window_start,transactions",
    ],
)
def test_wrong_header_is_refused_naming_the_file(tmp_path, header):
    path = stock_file(tmp_path, [], header=header)
    with pytest.raises(DayFileError, match=r"us_stocks_sip/x\.csv\.gz: unexpected header"):
        parse_day_file(
            path, DATASETS["stocks"], WINDOW, frozenset({"SPY"}), label="us_stocks_sip/x.csv.gz"
        )


def test_indices_file_has_no_volume(tmp_path):
    path = write_gz(
        tmp_path / "i.csv.gz",
        f"ticker,open,close,high,low,window_start\nI:SPX,5900.12345678901234,5901.5,5902,5899,{T0}\n"
        f"I:SPXEW,1,1,1,1,{T0}\n",
    )
    parsed = parse_day_file(path, DATASETS["indices"], WINDOW, frozenset({"SPX"}))
    bar = parsed.bars.to_pylist()[0]
    assert bar["symbol"] == "SPX" and bar["underlying"] == "SPX"
    assert bar["open"] == 5900.12345678901234
    assert bar["volume"] is None and bar["transactions"] is None
    assert parsed.rows_read == 2 and parsed.rows_kept == 1


def test_options_keep_contracts_of_watchlist_underlyings(tmp_path):
    tickers = [
        "O:AMC2250620C00005000",  # adjusted root of AMC: not on the watchlist
        "O:NDXP251128P20800000",
        "O:SPX251219C05900000",
        "O:SPXW251128C05900000",
        "O:SPY251128C00590000",
        "O:SPYG251128C00090000",  # another root starting with SPY: not SPY
    ]
    path = stock_file(tmp_path, [f"{t},5,1.0,1.1,1.2,0.9,{T0},2" for t in tickers])
    parsed = parse_day_file(path, DATASETS["options"], WINDOW, frozenset({"SPX", "SPY"}))
    got = dict(
        zip(
            parsed.bars.column("symbol").to_pylist(),
            parsed.bars.column("underlying").to_pylist(),
            strict=True,
        )
    )
    assert got == {
        "O:SPX251219C05900000": "SPX",
        "O:SPXW251128C05900000": "SPX",
        "O:SPY251128C00590000": "SPY",
    }


def test_options_of_class_shares_and_of_a_renamed_underlying_are_followed(tmp_path):
    tickers = [
        "O:BRKB251128C00480000",  # BRK.B's contracts: OCC roots have no dot
        "O:FB251128C00600000",  # META's, on a day it traded as FB
        "O:FBP251128C00010000",  # another root starting with FB: not META's
        "O:META251128C00600000",
    ]
    path = stock_file(tmp_path, [f"{t},5,1.0,1.1,1.2,0.9,{T0},2" for t in tickers])
    parsed = parse_day_file(
        path,
        DATASETS["options"],
        WINDOW,
        frozenset({"BRK.B", "META"}),
        renames={"META": "FB"},
    )
    got = dict(
        zip(
            parsed.bars.column("symbol").to_pylist(),
            parsed.bars.column("underlying").to_pylist(),
            strict=True,
        )
    )
    # On a day META traded as FB, an O:META contract is another company's.
    assert got == {"O:BRKB251128C00480000": "BRK.B", "O:FB251128C00600000": "META"}
    # Without the rename (a day after it), FB's contracts are nobody's.
    parsed = parse_day_file(path, DATASETS["options"], WINDOW, frozenset({"META"}))
    assert parsed.bars.column("symbol").to_pylist() == ["O:META251128C00600000"]


def test_option_roots_map_to_their_watchlist_symbol():
    from market_data.datasets import option_underlying
    from market_data.read.occ import parse_occ

    assert option_underlying("BRKB") == "BRK.B"
    assert option_underlying("SPXW") == "SPX" and option_underlying("AMC2") == "AMC"
    assert parse_occ("O:BRKB251128C00480000").underlying == "BRK.B"


def test_rows_outside_the_day_are_quarantined_and_duplicates_dropped(tmp_path):
    next_day = WINDOW.end_ns + 60_000_000_000
    body = [
        f"SPY,10,1,1,1,1,{T0},1",
        f"SPY,10,1,1,1,1,{T0},1",  # duplicate
        f"SPY,10,1,1,1,1,{T0 + 60_000_000_000},1",
        f"SPY,10,1,1,1,1,{T0 + 120_000_000_000},1",
        f"SPY,10,1,1,1,1,{next_day},1",  # a bar of the next day
    ]
    parsed = parse_day_file(
        stock_file(tmp_path, body), DATASETS["stocks"], WINDOW, frozenset({"SPY"})
    )
    assert parsed.rows_kept == 3
    assert parsed.duplicates_dropped == 1
    assert parsed.quarantine is not None
    assert parsed.quarantine.column("reason").to_pylist() == [
        f"window_start outside {STOCK_DAY} (New York)"
    ]


def test_bars_are_in_milliseconds_and_starts_off_the_millisecond_are_quarantined(tmp_path):
    body = [
        f"SPY,10,1,1,1,1,{T0},1",
        f"SPY,10,1,1,1,1,{T0 + 60_000_000_000 + 1},1",  # a nanosecond past a whole minute
        f"SPY,10,1,1,1,1,{T0 + 120_000_000_000},1",
        f"SPY,10,1,1,1,1,{T0 + 180_000_000_000},1",
        "SPY,10,1,1,1,1,,1",  # no start at all: the nanoseconds above must stay exact
        f"SPY,10,1,1,1,1,{T0 + 240_000_000_000},1",
    ]
    parsed = parse_day_file(
        stock_file(tmp_path, body), DATASETS["stocks"], WINDOW, frozenset({"SPY"})
    )
    assert parsed.bars.schema == BARS_SCHEMA
    assert parsed.bars.column("timestamp").to_pylist() == [
        T0 // 1_000_000 + m * 60_000 for m in (0, 2, 3, 4)
    ]
    assert parsed.quarantine is not None
    assert parsed.quarantine.select(["timestamp", "window_start", "reason"]).to_pylist() == [
        {
            "timestamp": (T0 + 60_000_000_000) // 1_000_000,
            "window_start": T0 + 60_000_000_000 + 1,
            "reason": "window_start not on a whole minute",
        },
        {"timestamp": None, "window_start": None, "reason": "window_start not on a whole minute"},
    ]


def test_a_file_of_negative_window_starts_is_refused(tmp_path):
    body = ["SPY,10,1,1,1,1,-68400000000000,1", "QQQ,10,1,1,1,1,-68400000000000,1"]
    with pytest.raises(InvalidDayFileError, match="negative window_start"):
        parse_day_file(
            stock_file(tmp_path, body), DATASETS["stocks"], WINDOW, frozenset({"SPY", "QQQ"})
        )


def test_non_numeric_price_names_the_file(tmp_path):
    path = stock_file(tmp_path, [f"SPY,10,abc,1,1,1,{T0},1"])
    with pytest.raises(DayFileError, match=r"bad\.csv\.gz: unreadable"):
        parse_day_file(path, DATASETS["stocks"], WINDOW, frozenset({"SPY"}), label="bad.csv.gz")


def test_truncated_gzip_is_refused(tmp_path):
    good = stock_file(
        tmp_path, [f"SPY,10,1,1,1,1,{T0 + i * 60_000_000_000},1" for i in range(5000)]
    )
    data = good.read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DayFileError, match=r"cut\.csv\.gz"):
        parse_day_file(cut, DATASETS["stocks"], WINDOW, frozenset({"SPY"}), label="cut.csv.gz")


@pytest.mark.parametrize(
    "content",
    [b"", b"not gzip at all", gzip.compress(b"")],
    ids=["empty file", "not gzip", "gzip of nothing"],
)
def test_empty_or_corrupt_files_are_refused(tmp_path, content):
    path = tmp_path / "x.csv.gz"
    path.write_bytes(content)
    with pytest.raises(DayFileError, match=r"x\.csv\.gz"):
        parse_day_file(path, DATASETS["stocks"], WINDOW, frozenset({"SPY"}), label="x.csv.gz")
