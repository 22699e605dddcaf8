"""``option_greeks`` and ``option_chain`` on a real database, against prices made with a
known forward and smile (``stored_options.py``)."""

from __future__ import annotations

from datetime import datetime, time

import numpy as np
import pandas as pd
import pytest

from market_data.calendar import NEW_YORK
from market_data.cli import main
from market_data.read import option_bars, option_chain, option_greeks
from market_data_tests.read.stored_options import (
    CARRY,
    DAY,
    FRIDAY,
    LONELY,
    RATE,
    STRIKES,
    expected_forward,
    settle_ms,
    smile,
    spot_at,
    write_option_day,
)


@pytest.fixture
def url(db, database_url) -> str:
    write_option_day(db)
    return database_url


def test_iv_and_forward_recover_the_prices_model(url):
    g = option_greeks("SPY", DAY, DAY, expiration=FRIDAY, rate=RATE, database_url=url)
    assert list(g.columns) == [
        "symbol",
        "timestamp",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "transactions",
        "expiration",
        "right",
        "strike",
        "underlying_price",
        "t_years",
        "rate",
        "forward",
        "iv",
        "delta",
        "gamma",
        "vega",
        "theta",
        "rho",
        "iv_note",
    ]
    plain = option_bars("SPY", DAY, DAY, expiration=FRIDAY, database_url=url)
    pd.testing.assert_frame_equal(g[plain.columns], plain)

    starts = g["timestamp"].map(lambda ts: int(ts.timestamp() * 1000))
    t = (settle_ms(FRIDAY) - (starts + 60_000)) / 60_000 / 525_600
    np.testing.assert_allclose(g["t_years"], t, rtol=1e-12)
    np.testing.assert_allclose(g["underlying_price"], starts.map(spot_at), rtol=1e-12)
    # Where a call and a put of a strike both traded, the forward is the model's to
    # rounding; the buckets where none did fall back to S e^{rT}, which misses the carry.
    model = np.array([expected_forward(s + 60_000, FRIDAY, s) for s in starts])
    both = g.groupby(["timestamp", "strike"])["right"].transform("nunique") == 2
    paired = both.groupby(g["timestamp"]).transform("any")
    assert 0.9 < paired.mean() < 1
    fallback = model[~paired] * np.exp(CARRY * g["t_years"][~paired])
    np.testing.assert_allclose(g["forward"][~paired], fallback, rtol=1e-12)
    np.testing.assert_allclose(g["forward"][paired], model[paired], rtol=1e-9)
    sigma = [smile(k, f) for k, f in zip(g["strike"], model, strict=True)]
    good = paired & (g["iv_note"] == "") & (g["symbol"] != LONELY)  # priced off the model
    assert good.mean() > 0.9
    np.testing.assert_allclose(g["iv"][good], np.array(sigma)[good], rtol=1e-7)
    assert (g["rate"] == RATE).all()
    calls = g[good & (g["right"] == "call")]
    assert ((calls["delta"] > 0) & (calls["delta"] < 1)).all()
    assert (g["gamma"][good] > 0).all() and (g["vega"][good] > 0).all()


def test_the_last_minutes_of_a_0dte_are_priced_and_expire_at_the_settlement(url):
    g = option_greeks(
        "SPY", DAY, DAY, expiration=DAY, session="regular", rate=RATE, database_url=url
    )
    local = g["timestamp"].dt.tz_convert(NEW_YORK)
    late = g[(local.dt.hour == 15) & (local.dt.minute >= 50) & (local.dt.minute < 59)]
    assert len(late) > 0
    minutes_left = 16 * 60 - (local[late.index].dt.hour * 60 + local[late.index].dt.minute + 1)
    np.testing.assert_allclose(late["t_years"], minutes_left / 525_600, rtol=1e-12)
    solved = late[late["iv_note"] == ""]
    assert len(solved) > 0 and solved["iv"].notna().all()
    last = g[(local.dt.hour == 15) & (local.dt.minute == 59)]
    assert len(last) > 0
    assert (last["iv_note"] == "expired").all() and last["iv"].isna().all()
    assert (last["t_years"] == 0).all() and last["forward"].isna().all()


def test_a_right_filter_keeps_the_forward_of_both_rights(url):
    both = option_greeks("SPY", DAY, DAY, expiration=FRIDAY, rate=RATE, database_url=url)
    calls = option_greeks(
        "SPY", DAY, DAY, expiration=FRIDAY, right="call", rate=RATE, database_url=url
    )
    assert set(calls["right"]) == {"call"}
    want = both[both["right"] == "call"].reset_index(drop=True)
    pd.testing.assert_frame_equal(calls, want)


def test_the_chain_takes_each_contracts_last_ended_bar_and_nothing_later(url):
    at = pd.Timestamp(datetime.combine(DAY, time(11, 0, 30)), tz=NEW_YORK)
    chain = option_chain("SPY", at.isoformat(), rate=RATE, database_url=url)
    g = option_greeks("SPY", DAY, DAY, rate=RATE, database_url=url)
    ended = g[g["timestamp"] + pd.Timedelta(minutes=1) <= at]
    want = ended.groupby("symbol").tail(1)
    want = want.sort_values(["expiration", "strike", "right"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(chain.reset_index(drop=True), want)
    # The bar of 11:00 ends at 11:01: not yet in a chain at 11:00:30, so the lonely
    # contract (one bar, at 11:00) is absent; at 11:01 it is there.
    assert LONELY not in set(chain["symbol"])
    later = option_chain("SPY", "2025-11-19 11:01", rate=RATE, database_url=url)
    assert LONELY in set(later["symbol"])
    assert (chain["timestamp"] + pd.Timedelta(minutes=1) <= at).all()


def test_five_minute_bars_use_the_underlyings_bucket_close(url):
    g = option_greeks(
        "SPY", DAY, DAY, expiration=FRIDAY, timeframe="5min", rate=RATE, database_url=url
    )
    starts = g["timestamp"].map(lambda ts: int(ts.timestamp() * 1000))
    # The underlying's 5-minute close is its last minute's: the one starting 4 minutes in.
    np.testing.assert_allclose(g["underlying_price"], (starts + 240_000).map(spot_at), rtol=1e-12)
    t = (settle_ms(FRIDAY) - (starts + 300_000)) / 60_000 / 525_600
    np.testing.assert_allclose(g["t_years"], t, rtol=1e-12)


def test_wrong_calls_are_one_clear_value_error(url):
    with pytest.raises(ValueError, match="no option bars are stored for QQQ"):
        option_greeks("QQQ", DAY, DAY, database_url=url)
    with pytest.raises(ValueError, match="right must be 'call' or 'put'"):
        option_greeks("SPY", DAY, DAY, right="straddle", database_url=url)
    with pytest.raises(ValueError, match="daily greeks are computed at the regular session"):
        option_greeks("SPY", DAY, DAY, timeframe="1d", database_url=url)
    with pytest.raises(ValueError, match="rate must be"):
        option_greeks("SPY", DAY, DAY, rate=4.0, database_url=url)
    with pytest.raises(ValueError, match="had ended by"):
        option_chain("SPY", "2025-11-19T09:30:00-05:00", database_url=url)
    with pytest.raises(ValueError, match="at must be a timestamp"):
        option_chain("SPY", "half past ten", database_url=url)


def test_the_command_line_writes_greeks_and_chains(url, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MARKET_DATA_READ_URL", url)
    monkeypatch.setenv("MARKET_DATA_RISK_FREE_RATE", str(RATE))
    code = main(
        [
            "greeks",
            "--underlying",
            "SPY",
            "--start",
            str(DAY),
            "--end",
            str(DAY),
            "--expiration",
            str(FRIDAY),
            "--right",
            "put",
            "--timeframe",
            "15min",
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == (
        "symbol,timestamp,open,high,low,close,volume,transactions,expiration,right,strike,"
        "underlying_price,t_years,rate,forward,iv,delta,gamma,vega,theta,rho,iv_note"
    )
    assert out[1].startswith("O:SPY251121P00570000,2025-11-19T09:30:00-05:00,")
    assert all(",put," in line for line in out[1:])
    target = tmp_path / "chain.parquet"
    code = main(
        [
            "chain",
            "--underlying",
            "SPY",
            "--at",
            "2025-11-19T15:30:00-05:00",
            "--format",
            "parquet",
            "--output",
            str(target),
        ]
    )
    assert code == 0
    chain = pd.read_parquet(target)
    assert len(chain) == 2 * 2 * len(STRIKES) + 1 and chain["iv"].notna().mean() > 0.9
    assert main(["chain", "--underlying", "QQQ", "--at", "2025-11-19T15:30"]) == 2
    assert "no option bars are stored for QQQ" in capsys.readouterr().err


def test_daily_bars_are_priced_at_the_regular_close(url):
    g = option_greeks(
        "SPY",
        DAY,
        DAY,
        expiration=FRIDAY,
        timeframe="1d",
        session="regular",
        rate=RATE,
        database_url=url,
    )
    assert len(g) == 2 * len(STRIKES) + 1  # every contract once, the lonely one included
    close = datetime.combine(DAY, time(16), tzinfo=NEW_YORK).timestamp() * 1000
    np.testing.assert_allclose(g["t_years"], (settle_ms(FRIDAY) - close) / 60_000 / 525_600)
    # The day's last regular minute, 15:59, gives the underlying's price.
    np.testing.assert_allclose(g["underlying_price"], spot_at(int(close) - 60_000), rtol=1e-12)
