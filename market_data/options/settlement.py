"""When an option settles, and how long a bar leaves until then (docs/contracts.md §11).

Time to expiry runs to the exact settlement minute, so that a 0-DTE option late in the
day is priced with the minutes it really has left: the AM-settled monthlies of SPX, NDX
and RUT settle at the open of their expiration day, every other contract (SPXW, NDXP,
equity and ETF options) at 16:00 New York.
"""

from __future__ import annotations

from datetime import date, datetime, time

import numpy as np

from market_data.calendar import MS_PER_MINUTE, NEW_YORK

# Roots whose contracts settle on the expiration day's opening prints (SET/SOQ).
AM_SETTLED_ROOTS = frozenset({"SPX", "NDX", "RUT"})
AM_SETTLEMENT = time(9, 30)
PM_SETTLEMENT = time(16, 0)
MINUTES_PER_YEAR = 525_600  # ACT/365


def settlement_ms(root: str, expiration: date) -> int:
    """The settlement instant of a contract, epoch milliseconds."""
    at = AM_SETTLEMENT if root in AM_SETTLED_ROOTS else PM_SETTLEMENT
    return int(datetime.combine(expiration, at, tzinfo=NEW_YORK).timestamp() * 1000)


def years_until(end_ms: np.ndarray, settle_ms: np.ndarray) -> np.ndarray:
    """From each bar's end to its settlement, in minutes / 525,600; ≤ 0 once expired."""
    return (np.asarray(settle_ms, np.int64) - np.asarray(end_ms, np.int64)) / (
        MS_PER_MINUTE * MINUTES_PER_YEAR
    )
