"""Massive's reference entries: what is taken, what collapses, what is refused; and which
ticker a renamed stock had on a day."""

from __future__ import annotations

import gzip
from datetime import date

import pytest

from market_data.corporate_actions.model import (
    MalformedReference,
    distinct_dividends,
    distinct_splits,
    dividend_from_entry,
    split_from_entry,
    ticker_periods_from_events,
)
from market_data.corporate_actions.tickers import TickerHistory
from market_data.datasets import AGG_HEADER, DATASETS
from market_data.transform.parse import parse_day_file

SHOP = {"execution_date": "2022-06-29", "split_from": 1, "split_to": 10, "ticker": "SHOP"}


def test_a_split_entry_in_massives_shape_is_read():
    split = split_from_entry(
        {
            "adjustment_type": "forward_split",
            "execution_date": "2005-02-28",
            "historical_adjustment_factor": 0.017857,
            "id": "E90a77bd",
            "split_from": 1,
            "split_to": 2,
            "ticker": "AAPL",
        }
    )
    assert (split.ticker, split.execution_date, split.price_factor) == (
        "AAPL",
        date(2005, 2, 28),
        0.5,
    )
    assert split.describe() == "2-for-1" and split.massive_id == "E90a77bd"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"split_to": 0},
            "Massive split of SHOP on 2022-06-29: split_to is 0, it must be a positive number",
        ),
        ({"split_from": -1}, "split_from is -1"),
        ({"split_to": "ten"}, "split_to 'ten' is not a number"),
        ({"execution_date": "29/06/2022"}, "execution_date '29/06/2022' is not a date"),
        ({"execution_date": None}, "execution_date is missing"),
        ({"ticker": ""}, "ticker is missing"),
    ],
)
def test_a_malformed_split_is_refused_naming_it(change, message):
    with pytest.raises(MalformedReference, match=message.replace("(", r"\(")):
        split_from_entry(SHOP | change)


def test_the_same_split_listed_twice_counts_once_and_two_ratios_are_refused():
    once = distinct_splits([split_from_entry(SHOP), split_from_entry(dict(SHOP))])
    assert len(once) == 1
    with pytest.raises(MalformedReference, match="two different splits of SHOP on 2022-06-29"):
        distinct_splits([split_from_entry(SHOP), split_from_entry(SHOP | {"split_to": 2})])


def test_dividends_collapse_by_ticker_ex_date_and_type():
    regular = {"ticker": "AAPL", "ex_dividend_date": "2025-08-11", "cash_amount": 0.26}
    special = regular | {"distribution_type": "special", "cash_amount": 1.0}
    kept = distinct_dividends(dividend_from_entry(e) for e in (regular, dict(regular), special))
    assert [(d.distribution_type, d.cash_amount) for d in kept] == [
        ("unknown", 0.26),
        ("special", 1.0),
    ]
    with pytest.raises(MalformedReference, match="two different unknown dividends of AAPL"):
        distinct_dividends(
            [dividend_from_entry(regular), dividend_from_entry(regular | {"cash_amount": 0.3})]
        )
    with pytest.raises(MalformedReference, match=r"cash_amount is -0\.26"):
        dividend_from_entry(regular | {"cash_amount": -0.26})


def test_ticker_events_in_the_clients_fixture_shape():
    body = {
        "results": {
            "name": "Meta Platforms, Inc. Class A Common Stock",
            "composite_figi": "BBG000MM2P62",
            "events": [
                {
                    "ticker_change": {"ticker": "META"},
                    "type": "ticker_change",
                    "date": "2022-06-09",
                },
                {"ticker_change": {"ticker": "FB"}, "type": "ticker_change", "date": "2012-05-18"},
            ],
        },
        "status": "OK",
    }
    periods = ticker_periods_from_events("META", body, "BBG000MM2P62")
    assert [(p.ticker, p.valid_from) for p in periods] == [
        ("FB", date(2012, 5, 18)),
        ("META", date(2022, 6, 9)),
    ]
    history = TickerHistory({"META": tuple(periods)})
    assert history.ticker_on("META", date(2022, 6, 8)) == "FB"
    assert history.ticker_on("META", date(2022, 6, 9)) == "META"
    assert history.ticker_on("META", date(2010, 1, 4)) == "META"  # before any known period
    assert history.renames_on(date(2020, 1, 2), ["META", "AAPL"]) == {"META": "FB"}
    assert history.tickers_of("META") == ["META", "FB"]


def _day_file(path, rows):
    lines = [",".join(AGG_HEADER)] + [",".join(map(str, r)) for r in rows]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def test_a_renamed_stocks_former_ticker_rows_are_stored_under_its_symbol(tmp_path):
    day = date(2022, 6, 8)
    stocks = DATASETS["stocks"]
    start_ns = stocks.window(day).start_ns + 14 * 3600 * 10**9  # 14:00 UTC, 10:00 ET
    path = _day_file(
        tmp_path / "2022-06-08.csv.gz",
        [
            ("AAPL", 100, 150.0, 150.5, 151.0, 149.5, start_ns, 10),
            ("FB", 200, 196.0, 196.5, 197.0, 195.5, start_ns, 20),
            ("META", 5, 1.0, 1.0, 1.0, 1.0, start_ns, 1),  # another company's ticker that day
        ],
    )
    parsed = parse_day_file(
        path, stocks, stocks.window(day), frozenset({"AAPL", "META"}), renames={"META": "FB"}
    )
    rows = {r["symbol"]: r for r in parsed.bars.to_pylist()}
    assert set(rows) == {"AAPL", "META"}
    assert (rows["META"]["open"], rows["META"]["file_ticker"], rows["META"]["underlying"]) == (
        196.0,
        "FB",
        "META",
    )
    assert rows["AAPL"]["file_ticker"] is None
    plain = parse_day_file(path, stocks, stocks.window(day), frozenset({"META"}))
    assert plain.bars.column("open").to_pylist() == [1.0]  # without the rename: the file's META
