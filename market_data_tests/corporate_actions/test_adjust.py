"""Adjusted reads against the real database, checked with factors computed here by hand
from the stored raw minutes (pandas, not the project's code)."""

from __future__ import annotations

import warnings
from datetime import date, time, timedelta

import pandas as pd
import pytest

from market_data.corporate_actions.adjust import AdjustmentWarning
from market_data.corporate_actions.model import Dividend, Split
from market_data.corporate_actions.store import replace_dividends, replace_splits
from market_data.read import bars
from market_data_tests.read.stored_minutes import (
    NY,
    comparable,
    reference_bars,
    stored_minutes,
    write_minutes,
)

# Mon 2025-11-17 … Wed 2025-11-26, sessions only (the 27th is Thanksgiving).
DAYS = [date(2025, 11, d) for d in (17, 18, 19, 20, 21, 24, 25, 26)]
FIRST, LAST = DAYS[0], DAYS[-1]


@pytest.fixture
def url(db, database_url) -> str:
    write_minutes(db, "NVDA", DAYS, dataset="stocks", seed=11)
    write_minutes(db, "AAPL", DAYS, dataset="stocks", seed=12)
    write_minutes(
        db, "SPX", DAYS, dataset="indices", hours=(time(9, 30), time(16)), seed=13, keep_share=1.0
    )
    return database_url


def by_hand(db, symbol: str, factors: list[tuple[date, float, float]]) -> pd.DataFrame:
    """The stored minutes of ``symbol``, each multiplied by the factors of the (date,
    price factor, volume factor) whose date is after the bar's New York day."""
    minutes = stored_minutes(db, [symbol], FIRST, LAST)
    day = minutes["timestamp"].dt.tz_convert(NY).dt.date
    for when, price, volume in factors:
        before = day < when
        for column in ("open", "high", "low", "close"):
            minutes.loc[before, column] *= price
        minutes.loc[before, "volume"] *= volume
    return minutes


def last_regular_close(db, symbol: str, day: date) -> float:
    minutes = stored_minutes(db, [symbol], day, day)
    local = minutes["timestamp"].dt.tz_convert(NY)
    regular = minutes[(local.dt.time >= time(9, 30)) & (local.dt.time < time(16))]
    return float(regular.sort_values("timestamp")["close"].iloc[-1])


def assert_bars(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(comparable(got), comparable(want), rtol=1e-12, atol=0)


def test_a_forward_split_divides_earlier_prices_and_multiplies_their_volume(db, url):
    replace_splits(db, ["NVDA"], [Split("NVDA", date(2025, 11, 20), 1, 4)])
    got = bars("NVDA", FIRST, LAST, adjust="splits", database_url=url)
    want = by_hand(db, "NVDA", [(date(2025, 11, 20), 0.25, 4.0)])
    assert_bars(got, reference_bars(want, "1min", "all"))
    raw = bars("NVDA", FIRST, LAST, database_url=url)
    assert raw["close"].iloc[0] == pytest.approx(got["close"].iloc[0] * 4)
    on_split_day = raw["timestamp"].dt.date >= date(2025, 11, 20)
    assert (raw[on_split_day]["close"].to_numpy() == got[on_split_day]["close"].to_numpy()).all()


def test_a_reverse_split_and_two_splits_in_one_range_cumulate(db, url):
    replace_splits(
        db,
        ["NVDA"],
        [Split("NVDA", date(2025, 11, 19), 1, 2), Split("NVDA", date(2025, 11, 25), 5, 1)],
    )
    got = bars("NVDA", FIRST, LAST, adjust="splits", database_url=url)
    want = by_hand(db, "NVDA", [(date(2025, 11, 19), 0.5, 2.0), (date(2025, 11, 25), 5.0, 0.2)])
    assert_bars(got, reference_bars(want, "1min", "all"))


@pytest.mark.parametrize(
    ("timeframe", "session"), [("5min", "regular"), ("1h", "all"), ("1d", "regular")]
)
def test_aggregated_reads_equal_aggregating_adjusted_minutes(db, url, timeframe, session):
    replace_splits(db, ["NVDA"], [Split("NVDA", date(2025, 11, 20), 1, 4)])
    got = bars(
        "NVDA", FIRST, LAST, timeframe=timeframe, session=session, adjust="splits", database_url=url
    )
    want = reference_bars(
        by_hand(db, "NVDA", [(date(2025, 11, 20), 0.25, 4.0)]), timeframe, session
    )
    assert_bars(got, want)


def test_a_dividend_on_a_split_day_composes_with_the_split(db, url):
    ex = date(2025, 11, 21)
    replace_splits(db, ["AAPL"], [Split("AAPL", ex, 1, 2)])
    replace_dividends(db, ["AAPL"], [Dividend("AAPL", ex, 0.5, "recurring", "USD")])
    close = last_regular_close(db, "AAPL", date(2025, 11, 20))
    got = bars("AAPL", FIRST, LAST, adjust="all", database_url=url)
    want = by_hand(db, "AAPL", [(ex, 0.5, 2.0), (ex, 1 - 0.5 / close, 1.0)])
    assert_bars(got, reference_bars(want, "1min", "all"))
    only_splits = bars("AAPL", FIRST, LAST, adjust="splits", database_url=url)
    assert_bars(only_splits, reference_bars(by_hand(db, "AAPL", [(ex, 0.5, 2.0)]), "1min", "all"))


def test_a_projected_dividend_or_split_is_ignored_until_its_date(db, url):
    later = date.today() + timedelta(days=30)
    replace_splits(db, ["NVDA"], [Split("NVDA", later, 1, 10)])
    replace_dividends(db, ["NVDA"], [Dividend("NVDA", later, 1.0, "recurring", "USD")])
    raw = bars("NVDA", FIRST, LAST, database_url=url)
    assert_bars(bars("NVDA", FIRST, LAST, adjust="all", database_url=url), raw)


def test_a_dividend_without_a_close_before_it_is_skipped_with_a_warning(db, url):
    replace_dividends(db, ["AAPL"], [Dividend("AAPL", FIRST, 0.25, "recurring", "USD")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = bars("AAPL", FIRST, LAST, adjust="all", database_url=url)
    assert_bars(got, bars("AAPL", FIRST, LAST, database_url=url))
    notes = [str(w.message) for w in caught if issubclass(w.category, AdjustmentWarning)]
    assert notes == [
        f"AAPL dividend 0.25 USD ex {FIRST}: no regular-session bar before the ex-date, not applied"
    ]


def test_indices_are_never_adjusted_and_other_symbols_keep_their_own_factors(db, url):
    replace_splits(
        db,
        ["NVDA", "SPX"],
        [Split("NVDA", date(2025, 11, 20), 1, 4), Split("SPX", date(2025, 11, 20), 1, 4)],
    )
    got = bars(["NVDA", "SPX", "AAPL"], FIRST, LAST, adjust="splits", database_url=url)
    raw = bars(["NVDA", "SPX", "AAPL"], FIRST, LAST, database_url=url)
    for symbol in ("SPX", "AAPL"):
        assert_bars(got[got.symbol == symbol], raw[raw.symbol == symbol])
    assert not (
        got[got.symbol == "NVDA"]["close"].to_numpy()
        == raw[raw.symbol == "NVDA"]["close"].to_numpy()
    ).all()


def test_bars_of_a_rest_sourced_day_are_adjusted_like_flat_file_bars(db, url):
    db.execute(
        "UPDATE historical_bars SET source = 'rest' WHERE symbol = 'NVDA' AND \"timestamp\" < %s",
        (int(pd.Timestamp("2025-11-20", tz=NY).timestamp() * 1000),),
    )
    replace_splits(db, ["NVDA"], [Split("NVDA", date(2025, 11, 20), 1, 4)])
    got = bars("NVDA", FIRST, LAST, adjust="splits", database_url=url)
    assert_bars(
        got, reference_bars(by_hand(db, "NVDA", [(date(2025, 11, 20), 0.25, 4.0)]), "1min", "all")
    )
