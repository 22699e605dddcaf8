"""A day of SPY minutes and SPY option minutes priced with a known forward and smile by
the plain Black-76 formula written out here (no project code), stored in
``historical_bars``: what the option analytics must recover."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

import numpy as np

from market_data.calendar import NEW_YORK, day_window
from market_data.warehouse.load import ensure_month_partitions

DAY = date(2025, 11, 19)  # a Wednesday, regular session 09:30-16:00
FRIDAY = date(2025, 11, 21)
RATE, CARRY = 0.04, 0.013  # the forward carries a dividend yield the rate alone misses
SPOT0 = 590.0
STRIKES = np.arange(570.0, 611.0, 5.0)
LONELY = "O:SPY251121C00625000"  # trades once, at 11:00


def smile(strike: float, forward: float) -> float:
    return 0.18 + 0.6 * math.log(strike / forward) ** 2


def black(forward: float, strike: float, t: float, sigma: float, call: bool) -> float:
    """Black-76, written out: discount · (F N(d1) - K N(d2)), put by parity."""
    n = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
    d1 = (math.log(forward / strike) + sigma**2 * t / 2) / (sigma * math.sqrt(t))
    d2 = d1 - sigma * math.sqrt(t)
    value = forward * n(d1) - strike * n(d2) if call else strike * n(-d2) - forward * n(-d1)
    return math.exp(-RATE * t) * value


def settle_ms(expiration: date) -> int:
    return int(datetime.combine(expiration, time(16), tzinfo=NEW_YORK).timestamp() * 1000)


def minute_starts(day: date, first: time, last: time) -> list[int]:
    start = datetime.combine(day, first, tzinfo=NEW_YORK)
    count = int((datetime.combine(day, last) - datetime.combine(day, first)).total_seconds() // 60)
    return [int((start + timedelta(minutes=i)).timestamp() * 1000) for i in range(count)]


def spot_at(ms: int) -> float:
    return SPOT0 + 3 * math.sin(ms / 3.6e6)


def ticker(expiration: date, call: bool, strike: float) -> str:
    return f"O:SPY{expiration:%y%m%d}{'C' if call else 'P'}{round(strike * 1000):08d}"


def write(db, rows: list[tuple]) -> None:
    ensure_month_partitions(db, day_window(DAY))
    with (
        db.cursor() as cur,
        cur.copy(
            'COPY historical_bars (symbol, timeframe, "timestamp", open, high, low, close,'
            " volume, transactions, source, dataset, underlying) FROM STDIN"
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def write_option_day(db) -> None:
    """SPY every regular minute; its options on DAY, each trading in about 70 % of them."""
    rng = np.random.default_rng(7)
    minutes = minute_starts(DAY, time(9, 30), time(16))
    stock = [
        (
            "SPY",
            "1m",
            ms,
            spot_at(ms),
            spot_at(ms) + 0.05,
            spot_at(ms) - 0.05,
            spot_at(ms),
            1000.0,
            10,
            "flat_file",
            "stocks",
            "SPY",
        )
        for ms in minutes
    ]
    options = []
    for expiration in (DAY, FRIDAY):
        for strike in STRIKES:
            for call in (True, False):
                for ms in minutes:
                    # The last minute trades in full, so that the close's parity is exact.
                    if rng.random() > 0.7 and ms != minutes[-1]:
                        continue
                    t = (settle_ms(expiration) - (ms + 60_000)) / 60_000 / 525_600
                    if t <= 0:
                        price = max(spot_at(ms) - strike if call else strike - spot_at(ms), 0.01)
                    else:
                        forward = spot_at(ms) * math.exp((RATE - CARRY) * t)
                        price = black(forward, strike, t, smile(strike, forward), call)
                    options.append(
                        (
                            ticker(expiration, call, strike),
                            "1m",
                            ms,
                            price,
                            price,
                            price,
                            price,
                            5.0,
                            1,
                            "flat_file",
                            "options",
                            "SPY",
                        )
                    )
    eleven = minutes[90]
    options.append(
        (LONELY, "1m", eleven, 0.5, 0.5, 0.5, 0.5, 1.0, 1, "flat_file", "options", "SPY")
    )
    write(db, stock + options)


def expected_forward(ms_end: int, expiration: date, bucket_ms: int) -> float:
    t = (settle_ms(expiration) - ms_end) / 60_000 / 525_600
    return spot_at(bucket_ms) * math.exp((RATE - CARRY) * t)
