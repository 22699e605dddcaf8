"""``market_data.read`` against the real database, checked with an independent pandas resample."""

from __future__ import annotations

from datetime import date, time, timedelta

import pandas as pd
import pyarrow as pa
import pytest

from market_data.read import BAR_SCHEMA, bars, bars_arrow, option_bars
from market_data.read.api import PARALLEL_MIN_DAYS
from market_data.warehouse.daily_bars import build_day
from market_data_tests.read.stored_minutes import (
    comparable,
    reference_bars,
    stored_minutes,
    write_minutes,
)

pytestmark = pytest.mark.slow  # reads of a loaded year

REGULAR_DAY = date(2025, 11, 25)
HOLIDAY, EARLY_CLOSE = date(2025, 11, 27), date(2025, 11, 28)  # Thanksgiving, 13:00 close
DST_FRIDAY, DST_MONDAY = date(2025, 10, 31), date(2025, 11, 3)  # clocks fell back on Nov 2
DAYS = [DST_FRIDAY, DST_MONDAY, REGULAR_DAY, date(2025, 11, 26), HOLIDAY, EARLY_CLOSE]
SYMBOLS = ["SPX", "SPY"]
CALL = "O:SPXW251128C06000000"


@pytest.fixture
def url(db, database_url) -> str:
    """A database with SPY (04:00-20:00, gaps), SPX (the regular session) and one SPX call."""
    write_minutes(db, "SPY", DAYS, dataset="stocks", seed=1)
    write_minutes(
        db, "SPX", DAYS, dataset="indices", hours=(time(9, 30), time(16)), seed=2, keep_share=1.0
    )
    write_minutes(
        db,
        CALL,
        DAYS[2:],
        dataset="options",
        underlying="SPX",
        hours=(time(9, 30), time(16, 15)),
        seed=3,
        keep_share=0.5,
    )
    return database_url


def expected(db, start: date, end: date, timeframe: str, session: str, symbols=SYMBOLS):
    return reference_bars(stored_minutes(db, symbols, start, end), timeframe, session)


@pytest.mark.parametrize("session", ["regular", "extended", "all"])
@pytest.mark.parametrize("timeframe", ["1min", "5min", "15min", "30min", "1h", "1d"])
def test_each_timeframe_and_session_of_a_regular_day(url, db, timeframe, session):
    got = bars(
        SYMBOLS, REGULAR_DAY, REGULAR_DAY, timeframe=timeframe, session=session, database_url=url
    )
    want = expected(db, REGULAR_DAY, REGULAR_DAY, timeframe, session)
    pd.testing.assert_frame_equal(comparable(got), comparable(want))
    assert list(got.columns) == [f.name for f in BAR_SCHEMA]


def test_the_hourly_bucket_of_the_regular_session_starts_at_nine(url):
    got = bars("SPX", REGULAR_DAY, REGULAR_DAY, timeframe="1h", session="regular", database_url=url)
    assert got["timestamp"].iloc[0] == pd.Timestamp("2025-11-25 09:00", tz="America/New_York")
    assert got["timestamp"].iloc[-1] == pd.Timestamp("2025-11-25 15:00", tz="America/New_York")
    assert got["volume"].isna().all() and got["transactions"].isna().all()  # an index


@pytest.mark.parametrize("timeframe", ["1min", "30min", "1d"])
@pytest.mark.parametrize("session", ["regular", "extended", "all"])
def test_the_early_close_after_thanksgiving(url, db, timeframe, session):
    got = bars(
        SYMBOLS, EARLY_CLOSE, EARLY_CLOSE, timeframe=timeframe, session=session, database_url=url
    )
    pd.testing.assert_frame_equal(
        comparable(got), comparable(expected(db, EARLY_CLOSE, EARLY_CLOSE, timeframe, session))
    )
    if session == "regular" and timeframe == "1min":
        assert got["timestamp"].max() == pd.Timestamp("2025-11-28 12:59", tz="America/New_York")
        assert (got["symbol"] == "SPX").sum() == 210
    if session == "extended" and timeframe == "1min":
        spy = got[got["symbol"] == "SPY"]["timestamp"].dt.strftime("%H:%M")
        assert spy.between("13:00", "19:59").any() and not spy.between("09:30", "12:59").any()


@pytest.mark.parametrize("timeframe", ["5min", "1h", "1d"])
@pytest.mark.parametrize("session", ["regular", "all"])
def test_a_week_across_the_end_of_daylight_saving(url, db, timeframe, session):
    got = bars(
        SYMBOLS, DST_FRIDAY, DST_MONDAY, timeframe=timeframe, session=session, database_url=url
    )
    pd.testing.assert_frame_equal(
        comparable(got), comparable(expected(db, DST_FRIDAY, DST_MONDAY, timeframe, session))
    )
    spx = got[got["symbol"] == "SPX"]
    offsets = {str(t.utcoffset()) for t in spx["timestamp"]}
    assert offsets == {"-1 day, 20:00:00", "-1 day, 19:00:00"}  # EDT, then EST
    if session == "regular" and timeframe == "5min":
        firsts = spx.groupby(spx["timestamp"].dt.date)["timestamp"].min().dt.strftime("%H:%M")
        assert set(firsts) == {"09:30"}


def test_a_holiday_has_no_bar_and_alone_is_an_empty_range(url, db):
    got = bars(SYMBOLS, date(2025, 11, 26), EARLY_CLOSE, timeframe="1d", database_url=url)
    assert sorted({t.date() for t in got["timestamp"]}) == [date(2025, 11, 26), EARLY_CLOSE]
    assert (got["timestamp"].dt.strftime("%H:%M") == "00:00").all()
    with pytest.raises(ValueError, match="holds no NYSE session"):
        bars(SYMBOLS, HOLIDAY, HOLIDAY, database_url=url)


@pytest.mark.parametrize("session", ["regular", "all"])
def test_daily_bars_table_answers_like_the_minutes(url, db, session):
    from_minutes = bars(
        SYMBOLS, DAYS[0], DAYS[-1], timeframe="1d", session=session, database_url=url
    )
    for offset in range((DAYS[-1] - DAYS[0]).days + 1):
        build_day(db, DAYS[0] + timedelta(days=offset))
    # A change made to the table only shows if the read uses the table:
    db.execute("UPDATE daily_bars SET high = high + 1000 WHERE symbol = 'SPX'")
    from_table = bars(SYMBOLS, DAYS[0], DAYS[-1], timeframe="1d", session=session, database_url=url)
    assert (from_table["high"] - from_minutes["high"]).round(6).tolist() == [
        1000.0 if s == "SPX" else 0.0 for s in from_minutes["symbol"]
    ]
    db.execute("UPDATE daily_bars SET high = high - 1000 WHERE symbol = 'SPX'")
    again = bars(SYMBOLS, DAYS[0], DAYS[-1], timeframe="1d", session=session, database_url=url)
    pd.testing.assert_frame_equal(again, from_minutes)
    # A range with a day not built yet falls back to the minutes.
    db.execute("DELETE FROM daily_bars_days WHERE day = %s", (REGULAR_DAY,))
    db.execute("UPDATE daily_bars SET high = high + 1000")
    pd.testing.assert_frame_equal(
        bars(SYMBOLS, DAYS[0], DAYS[-1], timeframe="1d", session=session, database_url=url),
        from_minutes,
    )


def test_bars_arrow_is_the_same_table_without_pandas(url):
    table = bars_arrow("SPY,SPX", REGULAR_DAY, "2025-11-26", timeframe="15min", database_url=url)
    assert isinstance(table, pa.Table) and table.schema == BAR_SCHEMA
    frame = bars(
        ["SPX", "SPY"], REGULAR_DAY, date(2025, 11, 26), timeframe="15min", database_url=url
    )
    assert table.num_rows == len(frame)
    assert table.column("close").to_pylist() == frame["close"].tolist()


def test_the_database_comes_from_the_read_url(url, monkeypatch):
    monkeypatch.setenv("MARKET_DATA_READ_URL", url)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")
    assert len(bars("SPY", REGULAR_DAY, REGULAR_DAY)) > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": "NOPE"}, "no bars are stored for NOPE"),
        ({"start": "2025-11-26", "end": "2025-11-25"}, "the range is empty"),
        ({"start": "2025/11/25"}, "start must be a date or 'YYYY-MM-DD'"),
        ({"timeframe": "2min"}, "timeframe must be one of"),
        ({"session": "pre"}, "session must be one of"),
        ({"adjust": "dividends"}, "adjust must be one of"),
        ({"symbols": "SP;Y"}, "invalid symbol"),
        ({"symbols": []}, "no symbols given"),
    ],
)
def test_bad_requests_are_one_clear_value_error(url, kwargs, message):
    args = {"symbols": "SPY", "start": REGULAR_DAY, "end": REGULAR_DAY} | kwargs
    symbols, start, end = args.pop("symbols"), args.pop("start"), args.pop("end")
    with pytest.raises(ValueError, match=message) as raised:
        bars(symbols, start, end, database_url=url, **args)
    assert "\n" not in str(raised.value)


def test_option_bars_carry_expiration_right_and_strike(url, db):
    got = option_bars(
        "SPX", REGULAR_DAY, EARLY_CLOSE, timeframe="5min", session="regular", database_url=url
    )
    assert set(got["symbol"]) == {CALL}
    assert set(got["expiration"]) == {date(2025, 11, 28)}
    assert set(got["right"]) == {"call"} and set(got["strike"]) == {6000.0}
    plain = bars(
        CALL, REGULAR_DAY, EARLY_CLOSE, timeframe="5min", session="regular", database_url=url
    )
    pd.testing.assert_frame_equal(got[plain.columns], plain)
    want = expected(db, REGULAR_DAY, EARLY_CLOSE, "5min", "regular", symbols=[CALL])
    pd.testing.assert_frame_equal(comparable(plain), comparable(want))
    assert (
        len(
            option_bars(
                "SPX",
                REGULAR_DAY,
                EARLY_CLOSE,
                right="C",
                strike=6000,
                expiration="2025-11-28",
                database_url=url,
            )
        )
        > 0
    )
    with pytest.raises(ValueError, match="matches"):
        option_bars("SPX", REGULAR_DAY, EARLY_CLOSE, right="put", database_url=url)
    with pytest.raises(ValueError, match="no option bars are stored for QQQ"):
        option_bars("QQQ", REGULAR_DAY, EARLY_CLOSE, database_url=url)


@pytest.mark.parametrize("timeframe", ["5min", "1h", "1d"])
def test_a_month_read_in_two_halves_at_once_equals_the_resample(url, db, timeframe):
    # 29 days from before the DST change to after Thanksgiving: long enough for an
    # aggregated read to split its range over two connections.
    start, end = DST_FRIDAY, EARLY_CLOSE
    got = bars(SYMBOLS, start, end, timeframe=timeframe, session="all", database_url=url)
    want = expected(db, start, end, timeframe, "all")
    pd.testing.assert_frame_equal(comparable(got), comparable(want))
    assert (end - start).days + 1 >= PARALLEL_MIN_DAYS
