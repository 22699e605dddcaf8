"""The day's volatility surface in a few numbers per expiration, from the closing chain.

For each settlement (root and expiration) still alive at the session's close: the
parity forward from the contracts' last prices, how far the forwards implied by the
strikes around it disagree (a parity break means stale or wrong prices), the
at-the-money IV and the 25-delta put and call IVs, interpolated between listed strikes
from out-of-the-money options only (never extrapolated). Deltas here are forward deltas,
N(d1) and N(d1) - 1, the convention of volatility surfaces: no underlying price needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import ndtr

from market_data.options.black import implied_volatility
from market_data.options.forward import parity_pairs
from market_data.options.settlement import settlement_ms, years_until

# Strikes on each side of K* whose implied forwards must agree.
PARITY_NEIGHBOURS = 2
# How far apart those forwards may be, in ticks of the option's premium.
PARITY_TICKS = 5
# Within this share of the forward, a strike is near the money.
NEAR_MONEY = 0.02
WING_DELTA = 0.25


@dataclass(frozen=True)
class Smile:
    """One expiration's out-of-the-money IVs by log-moneyness ln(K/F), for the plot."""

    log_moneyness: np.ndarray
    iv: np.ndarray


@dataclass(frozen=True)
class ExpirySurface:
    root: str
    expiration: date
    t_years: float
    forward: float | None
    forward_source: str  # "parity", "underlying", or "none"
    parity_spread: float | None  # max - min of the implied forwards around K*
    parity_tolerance: float
    atm_iv: float | None
    put25_iv: float | None
    call25_iv: float | None
    contracts: int
    near_money: int
    near_money_solved: int
    smile: Smile

    @property
    def parity_broken(self) -> bool:
        return self.parity_spread is not None and self.parity_spread > self.parity_tolerance

    @property
    def solved_share(self) -> float | None:
        return self.near_money_solved / self.near_money if self.near_money else None


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _interpolate(x: np.ndarray, y: np.ndarray, at: float) -> float | None:
    """y at ``at``, linear between the nearest points on each side; None unless bracketed."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if not x.size or not (x.min() <= at <= x.max()):
        return None
    order = np.argsort(x, kind="stable")
    return float(np.interp(at, x[order], y[order]))


def _parity(
    strike: np.ndarray, is_call: np.ndarray, close: np.ndarray, t_years: float, rate: float
) -> tuple[float | None, float | None]:
    """(forward, spread of the implied forwards at the strikes around K*)."""
    same = np.zeros(strike.size, np.int64)
    pairs = parity_pairs(same, strike, is_call, close, np.full(strike.size, t_years))
    if not pairs.strike.size:
        return None, None
    implied = pairs.implied_forwards(rate)
    best = int(np.lexsort((pairs.strike, np.abs(pairs.call - pairs.put)))[0])
    around = implied[max(best - PARITY_NEIGHBOURS, 0) : best + PARITY_NEIGHBOURS + 1]
    spread = float(around.max() - around.min()) if around.size > 1 else None
    return float(implied[best]), spread


def expiry_surface(
    root: str,
    expiration: date,
    strike: np.ndarray,
    is_call: np.ndarray,
    close: np.ndarray,
    close_ms: int,
    underlying_price: float,
    rate: float,
    tick: float,
) -> ExpirySurface | None:
    """One settlement's numbers from its contracts' last prices at ``close_ms``; None
    once it has settled."""
    t_years = float(
        years_until(np.array([close_ms]), np.array([settlement_ms(root, expiration)]))[0]
    )
    if t_years <= 0:
        return None
    forward, spread = _parity(strike, is_call, close, t_years, rate)
    source = "parity"
    if forward is None:
        forward = underlying_price * np.exp(rate * t_years)
        source = "underlying" if np.isfinite(forward) else "none"
    discount = np.exp(-rate * t_years)
    f = np.full(strike.size, forward if source != "none" else np.nan)
    iv, _ = implied_volatility(close, f, strike, np.full(strike.size, t_years), discount, is_call)
    moneyness = np.log(strike / f)
    out_of_money = np.where(is_call, strike >= f, strike < f)
    smile_iv = np.where(out_of_money, iv, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):  # no IV: NaN deltas, left out
        d1 = -moneyness / (iv * np.sqrt(t_years)) + iv * np.sqrt(t_years) / 2
    delta = np.where(is_call, ndtr(d1), ndtr(d1) - 1)
    near = np.abs(strike / f - 1) <= NEAR_MONEY
    return ExpirySurface(
        root=root,
        expiration=expiration,
        t_years=t_years,
        forward=_number(forward) if source != "none" else None,
        forward_source=source,
        parity_spread=spread,
        parity_tolerance=PARITY_TICKS * tick,
        atm_iv=_interpolate(moneyness, smile_iv, 0.0),
        put25_iv=_interpolate(
            delta[~is_call & out_of_money], iv[~is_call & out_of_money], -WING_DELTA
        ),
        call25_iv=_interpolate(
            delta[is_call & out_of_money], iv[is_call & out_of_money], WING_DELTA
        ),
        contracts=int(strike.size),
        near_money=int(near.sum()),
        near_money_solved=int((near & np.isfinite(iv)).sum()),
        smile=Smile(moneyness[np.isfinite(smile_iv)], smile_iv[np.isfinite(smile_iv)]),
    )


def chain_surface(
    chain: pa.Table, close_ms: int, underlying_price: float, rate: float, tick: float
) -> list[ExpirySurface]:
    """Every live settlement of a closing chain (``option_chain`` columns), nearest first."""
    # An OCC ticker is O: + root + the 15 characters of expiration, right and strike.
    roots = [symbol[2:-15] for symbol in chain["symbol"].to_pylist()]
    expirations = chain["expiration"].to_pylist()
    strike = chain["strike"].to_numpy()
    is_call = np.asarray(pc.equal(chain["right"], "call"))
    close = chain["close"].to_numpy()
    settlements = list(zip(expirations, roots, strict=True))
    keys = {key: n for n, key in enumerate(sorted(set(settlements)))}
    group = np.array([keys[key] for key in settlements], np.int64)
    surfaces = []
    for (expiration, root), number in keys.items():
        rows = group == number
        surface = expiry_surface(
            root,
            expiration,
            strike[rows],
            is_call[rows],
            close[rows],
            close_ms,
            underlying_price,
            rate,
            tick,
        )
        if surface is not None:
            surfaces.append(surface)
    return surfaces
