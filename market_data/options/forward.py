"""The forward a trader would use: from put-call parity, per settlement and bucket.

Cboe's VIX method: among the strikes where both the call and the put traded in the
bucket, take K* with the smallest |C - P| (ties: the lower strike), and
F = K* + e^{rT}(C - P). Near the money the two prices are the most liquid and the
least sensitive to a wrong rate or dividend, so this forward carries the market's own
carry (dividends, borrow) that an underlying price times e^{rT} misses. Where no
strike has both, the underlying's price times e^{rT} stands in (docs/contracts.md §11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np


@dataclass(frozen=True)
class ParityPairs:
    """Every (settlement group, bucket, strike) where a call and a put both traded, in
    (group, bucket, strike) order; ``bucket_id`` numbers the distinct (group, bucket)."""

    bucket_id: np.ndarray
    strike: np.ndarray
    call: np.ndarray
    put: np.ndarray
    t_years: np.ndarray

    def implied_forwards(self, rate: float) -> np.ndarray:
        """K + e^{rT}(C - P) at each pair's own strike."""
        return cast(np.ndarray, self.strike + np.exp(rate * self.t_years) * (self.call - self.put))


def bucket_ids(group: np.ndarray, bucket: np.ndarray) -> tuple[np.ndarray, int]:
    """A dense id per distinct (group, bucket) of each row, and how many there are."""
    group, bucket = np.asarray(group, np.int64), np.asarray(bucket, np.int64)
    if not group.size:
        return np.zeros(0, np.int64), 0
    offset = bucket - bucket.min()
    # One integer per pair (bucket offsets of years of milliseconds times thousands of
    # groups stay far below 2**63), so one sort of int64 numbers the pairs.
    _, inverse = np.unique(group * (int(offset.max()) + 1) + offset, return_inverse=True)
    return inverse.ravel(), int(inverse.max()) + 1


def parity_pairs(
    bucket_id: np.ndarray,
    strike: np.ndarray,
    is_call: np.ndarray,
    price: np.ndarray,
    t_years: np.ndarray,
) -> ParityPairs:
    """Pairs up each bucket's call and put of the same strike (one bar per contract and
    bucket, so a pair is a put followed by a call in (bucket, strike, right) order)."""
    order = np.lexsort((is_call, strike, bucket_id))
    b, k, c, p = bucket_id[order], strike[order], is_call[order], price[order]
    put_then_call = (b[:-1] == b[1:]) & (k[:-1] == k[1:]) & ~c[:-1] & c[1:]
    put_then_call &= np.isfinite(p[:-1]) & np.isfinite(p[1:])
    first = np.flatnonzero(put_then_call)
    return ParityPairs(
        bucket_id=b[first],
        strike=k[first],
        call=p[first + 1],
        put=p[first],
        t_years=t_years[order][first],
    )


def parity_forward(
    bucket_id: np.ndarray,
    buckets: int,
    strike: np.ndarray,
    is_call: np.ndarray,
    price: np.ndarray,
    t_years: np.ndarray,
    underlying_price: np.ndarray,
    rate: float,
) -> np.ndarray:
    """The forward of every row's (settlement group, bucket): from parity where a pair
    traded, else the underlying price x e^{rT} (NaN where that is missing too)."""
    pairs = parity_pairs(bucket_id, strike, is_call, price, t_years)
    forward_of_bucket = np.full(buckets, np.nan)
    if pairs.strike.size:
        # Smallest |C - P| first, then the lower strike: the first pair of each bucket.
        best = np.lexsort((pairs.strike, np.abs(pairs.call - pairs.put), pairs.bucket_id))
        ids, first = np.unique(pairs.bucket_id[best], return_index=True)
        forward_of_bucket[ids] = pairs.implied_forwards(rate)[best][first]
    forward: np.ndarray = forward_of_bucket[bucket_id]
    missing = np.isnan(forward)
    forward[missing] = underlying_price[missing] * np.exp(rate * t_years[missing])
    return forward
