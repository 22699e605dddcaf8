"""The parity forward (Cboe's choice of strike) and the settlement minute."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from market_data.calendar import NEW_YORK
from market_data.options.forward import bucket_ids, parity_forward
from market_data.options.settlement import settlement_ms, years_until


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).timestamp() * 1000)


@pytest.mark.parametrize(
    ("root", "settles"),
    [
        ("SPX", "2025-11-21 09:30"),  # AM-settled monthly: the open
        ("NDX", "2025-11-21 09:30"),
        ("RUT", "2025-11-21 09:30"),
        ("SPXW", "2025-11-21 16:00"),
        ("NDXP", "2025-11-21 16:00"),
        ("SPY", "2025-11-21 16:00"),
        ("AAPL", "2025-11-21 16:00"),
    ],
)
def test_each_root_settles_at_its_minute(root, settles):
    assert settlement_ms(root, date(2025, 11, 21)) == ms(settles)


def test_time_runs_from_the_bars_end_to_the_minute():
    settle = settlement_ms("SPXW", date(2025, 11, 21))
    ends = np.array([ms("2025-11-21 15:58"), ms("2025-11-21 16:00"), ms("2025-11-20 16:00")])
    np.testing.assert_allclose(
        years_until(ends, np.full(3, settle)), [2 / 525_600, 0.0, 1440 / 525_600]
    )
    # Across the end of daylight saving time a day has 25 hours.
    longer = years_until(
        np.array([ms("2025-11-01 16:00")]), settlement_ms("SPY", date(2025, 11, 2))
    )
    assert longer[0] == pytest.approx(25 * 60 / 525_600)


def forwards(strike, is_call, price, t, spot, rate, bucket=None, group=None):
    n = len(strike)
    ids, count = bucket_ids(
        np.zeros(n, np.int64) if group is None else np.asarray(group),
        np.zeros(n, np.int64) if bucket is None else np.asarray(bucket),
    )
    return parity_forward(
        ids,
        count,
        np.asarray(strike, float),
        np.asarray(is_call),
        np.asarray(price, float),
        np.full(n, t),
        np.full(n, spot, dtype=float),
        rate,
    )


def test_the_strike_where_call_and_put_are_closest_gives_the_forward():
    # 100: C - P = 2.0; 105: C - P = -0.5 (the closest); 110 has only a call.
    strike = [100, 100, 105, 105, 110]
    is_call = [True, False, True, False, True]
    price = [5.0, 3.0, 2.5, 3.0, 1.0]
    f = forwards(strike, is_call, price, t=0.5, spot=104.0, rate=0.04)
    assert f == pytest.approx(np.full(5, 105 + np.exp(0.02) * -0.5))


def test_ties_take_the_lower_strike_and_a_bucket_without_pairs_the_underlying():
    strike = [100, 100, 105, 105, 100, 105]
    is_call = [True, False, True, False, True, False]
    price = [3.0, 2.0, 2.0, 3.0, 3.0, 2.0]  # |C - P| = 1 at both strikes
    bucket = [0, 0, 0, 0, 60_000, 60_000]  # the second bucket: a call and a put, not paired
    f = forwards(strike, is_call, price, t=0.25, spot=101.0, rate=0.05, bucket=bucket)
    np.testing.assert_allclose(f[:4], 100 + np.exp(0.0125) * 1.0)
    np.testing.assert_allclose(f[4:], 101 * np.exp(0.0125))


def test_settlements_do_not_share_a_forward():
    # The same strikes under two roots (e.g. SPX and SPXW): each pairs only with its own.
    strike = [100, 100, 100, 100]
    is_call = [True, False, True, False]
    price = [4.0, 3.0, 6.0, 2.0]
    f = forwards(strike, is_call, price, t=0.1, spot=99.0, rate=0.0, group=[0, 0, 1, 1])
    np.testing.assert_allclose(f, [101, 101, 104, 104])


def test_no_pair_and_no_underlying_price_leaves_no_forward():
    f = forwards([100], [True], [2.0], t=0.1, spot=np.nan, rate=0.04)
    assert np.isnan(f).all()
