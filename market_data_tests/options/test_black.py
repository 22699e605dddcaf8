"""Black-76 prices, implied volatility and greeks: against vollib (an independent implementation
of Jäckel's "Let's Be Rational" and of the analytic greeks), against finite differences of our own
prices, and on the edges (no-arbitrage bounds, the last minutes of a 0-DTE option, whole columns)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, getcontext, localcontext

import numpy as np
import pytest
from vollib.black import black as vollib_black
from vollib.black.greeks.analytical import rho as vollib_black_rho
from vollib.black.greeks.analytical import vega as vollib_black_vega
from vollib.black.implied_volatility import implied_volatility as lbr_iv
from vollib.black_scholes_merton.greeks import analytical as bsm

from market_data.options.black import (
    NOTE_ABOVE_BOUND,
    NOTE_BELOW_INTRINSIC,
    NOTE_OK,
    black_price,
    greeks,
    implied_volatility,
)

MINUTE = 1.0 / 525_600
STRIKE = 4096.0
# F/K runs over dyadic fractions, so F/K is exact in floating point and vollib's ln(F/K) is as
# exact as ours: an ulp of F/K alone moves a 1-minute at-the-money price by ~1e-12 relative.
RATIOS = (1 / 16, 5 / 8, 3 / 4, 7 / 8, 15 / 16, 63 / 64, 255 / 256, 1.0)
RATIOS = (*RATIOS, *(1 / m for m in RATIOS[-2:0:-1]), 13 / 8, 16.0)  # ln F/K in -0.5..0.5, +-2.8
TIMES = (MINUTE, 10 * MINUTE, 60 * MINUTE, 1 / 365, 7 / 365, 1 / 12, 1.0, 2.0)
SIGMAS = (0.05, 0.15, 0.3, 0.8, 2.0)
RATES = (-0.005, 0.0, 0.04, 0.08)


@dataclass(frozen=True)
class Grid:
    forward: np.ndarray
    strike: np.ndarray
    t: np.ndarray
    rate: np.ndarray
    sigma: np.ndarray
    is_call: np.ndarray
    price: np.ndarray  # vollib's discounted Black price
    lbr: np.ndarray  # vollib's implied volatility of that price (NaN where it raises)
    raw_vega: np.ndarray  # vollib's dprice/dsigma

    @property
    def discount(self) -> np.ndarray:
        return np.exp(-self.rate * self.t)

    @property
    def time_value(self) -> np.ndarray:
        intrinsic = np.where(self.is_call, self.forward - self.strike, self.strike - self.forward)
        return self.price - self.discount * np.maximum(intrinsic, 0.0)


def _flag(is_call: bool) -> str:
    return "c" if is_call else "p"


def _lbr(price: float, f: float, k: float, r: float, t: float, flag: str) -> float:
    try:
        return float(lbr_iv(price, f, k, r, t, flag))
    except Exception:  # vollib raises below intrinsic and above the maximum
        return float("nan")


@pytest.fixture(scope="module")
def grid() -> Grid:
    rows = list(itertools.product(RATIOS, TIMES, SIGMAS, RATES, (True, False)))
    ratio, t, sigma, rate, is_call = (np.array(c) for c in zip(*rows, strict=True))
    forward = STRIKE * ratio
    strike = np.full_like(forward, STRIKE)
    price = np.array(
        [
            vollib_black(_flag(c), f, STRIKE, tt, r, v)
            for f, tt, r, v, c in zip(forward, t, rate, sigma, is_call, strict=True)
        ]
    )
    lbr = np.array(
        [
            _lbr(p, f, STRIKE, r, tt, _flag(c))
            for p, f, tt, r, c in zip(price, forward, t, rate, is_call, strict=True)
        ]
    )
    raw_vega = 100.0 * np.array(
        [
            vollib_black_vega(_flag(c), f, STRIKE, tt, r, v)
            for f, tt, r, v, c in zip(forward, t, rate, sigma, is_call, strict=True)
        ]
    )
    return Grid(forward, strike, t, rate, sigma, is_call.astype(bool), price, lbr, raw_vega)


def _determined(g: Grid) -> np.ndarray:
    """Grid points whose volatility the price determines to better than 1e-9 relative.

    A time value below 1e-12*F is at most the last few digits of the price (or underflows to
    nothing); and deep in the money a price's last bit can still move sigma by more than 1e-9
    (vega negligible against the price): both only have to reprice (test 2).
    """
    price_ulps = 4 * np.finfo(float).eps * g.price
    return (g.time_value > 1e-12 * g.forward) & (price_ulps < 1e-9 * g.sigma * g.raw_vega)


def test_implied_volatility_matches_the_true_sigma_and_lets_be_rational(grid: Grid) -> None:
    iv, note = implied_volatility(
        grid.price, grid.forward, grid.strike, grid.t, grid.discount, grid.is_call
    )
    assert (note == NOTE_OK).all()
    determined = _determined(grid)
    assert determined.sum() > 0.4 * grid.price.size  # the rest has (next to) no time value
    for column in (grid.forward / grid.strike, grid.t, grid.sigma, grid.rate, grid.is_call):
        assert set(np.unique(column[determined])) == set(np.unique(column))
    np.testing.assert_allclose(iv[determined], grid.sigma[determined], rtol=1e-8, atol=0)
    np.testing.assert_allclose(iv[determined], grid.lbr[determined], rtol=1e-8, atol=0)


def test_prices_match_vollib_and_every_iv_reprices(grid: Grid) -> None:
    ours = black_price(grid.forward, grid.strike, grid.t, grid.discount, grid.sigma, grid.is_call)
    visible = grid.price > 1e-8 * grid.forward
    assert visible.sum() > 0.6 * grid.price.size
    np.testing.assert_allclose(ours[visible], grid.price[visible], rtol=1e-12, atol=0)

    iv, _ = implied_volatility(
        grid.price, grid.forward, grid.strike, grid.t, grid.discount, grid.is_call
    )
    assert np.isfinite(iv).all()
    assert ((iv == 0) == (grid.time_value == 0)).all()  # no time value: exactly 0, else solved
    repriced = black_price(grid.forward, grid.strike, grid.t, grid.discount, iv, grid.is_call)
    np.testing.assert_allclose(repriced, grid.price, rtol=1e-10, atol=0)


PI = Decimal(
    "3.1415926535897932384626433832795028841971693993751058209749445923078164062862089986280348"
    "2534211706798214808651328230664709384460955058223172535940812848111745028410270193852110555"
)


def _decimal_cdf(z: Decimal) -> Decimal:
    """N(z) by its Taylor series, in the current decimal context (digits enough to cancel)."""
    total = term = z
    half_z2 = z * z / 2
    tiny = Decimal(10) ** -(3 * getcontext().prec // 2)
    n = 0
    while True:
        n += 1
        term = -term * half_z2 / n
        total += term / (2 * n + 1)
        if n > half_z2 and abs(term) < tiny:
            return Decimal("0.5") + total / (2 * PI).sqrt()


def _decimal_black(f: float, k: float, t: float, d: float, v: float, is_call: bool) -> float:
    """Black-76 from the textbook formula, exactly on the given doubles, to ~40 digits."""
    forward, strike, discount, s = Decimal(f), Decimal(k), Decimal(d), Decimal(v)
    with localcontext() as ctx:
        ctx.prec = 40
        d1_estimate = float(((forward / strike).ln()) / (s * Decimal(t).sqrt()))
        ctx.prec = 60 + int(d1_estimate**2)  # the series' terms peak near e^(d1^2/2)
        s *= Decimal(t).sqrt()
        d1 = ((forward / strike).ln() + s * s / 2) / s
        d2 = d1 - s
        if is_call:
            return float(discount * (forward * _decimal_cdf(d1) - strike * _decimal_cdf(d2)))
        return float(discount * (strike * _decimal_cdf(-d2) - forward * _decimal_cdf(-d1)))


@pytest.mark.parametrize(
    ("f", "k", "t", "sigma", "is_call"),
    [
        (4097.3, 4096.9, MINUTE, 0.1, True),  # 1 minute, at the money: ln(F/K) needs F - K
        (4097.3, 4096.9, MINUTE, 0.1, False),
        (5000.0, 5003.0, 5 * MINUTE, 0.12, False),
        (100.0, 140.0, 1 / 365, 0.3, True),  # 3e-103: the asymptotic series
        (100.0, 103.0, 7 / 365, 0.2, True),
        (100.0, 250.0, 1 / 12, 0.9, True),
        (100.0, 60.0, 0.5, 0.25, False),
        (100.0, 60.0, 0.5, 0.25, True),  # in the money: intrinsic plus the put's time value
        (100.0, 100.0, 2.0, 1.5, True),
    ],
)
def test_prices_match_a_high_precision_reference(
    f: float, k: float, t: float, sigma: float, is_call: bool
) -> None:
    d = float(np.exp(-0.04 * t))
    ours = black_price(f, k, t, d, sigma, is_call)
    # 1e-13: far out of the money the price's own condition number (~(d1)^2 ulps) is ~5e-14.
    np.testing.assert_allclose(ours, _decimal_black(f, k, t, d, sigma, is_call), rtol=1e-13)


def _greek_grid() -> dict[str, np.ndarray]:
    rows = list(
        itertools.product(
            (3 / 4, 15 / 16, 255 / 256, 1.0, 257 / 256, 17 / 16, 5 / 4),
            (MINUTE, 60 * MINUTE, 1 / 365, 1 / 12, 1.0),
            (0.05, 0.3, 2.0),
            (-0.005, 0.04),
            (True, False),
        )
    )
    ratio, t, sigma, rate, is_call = (np.array(c) for c in zip(*rows, strict=True))
    forward = STRIKE * ratio
    # An underlying a little off the forward, so the implied carry q = r - ln(F/S)/T is not r.
    spot = forward * np.exp(-(rate - 0.013) * t) * (1 + 1e-4 * np.sign(ratio - 1))
    return {
        "forward": forward,
        "strike": np.full_like(forward, STRIKE),
        "t": t,
        "rate": rate,
        "sigma": sigma,
        "is_call": is_call.astype(bool),
        "spot": spot,
    }


def _ours(g: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return greeks(g["forward"], g["strike"], g["t"], g["rate"], g["sigma"], g["is_call"], g["spot"])


def test_greeks_match_vollib() -> None:
    """vollib's Black-Scholes-Merton on S with q = r - ln(F/S)/T has the same d1 as Black-76 on F,
    and its delta, gamma, theta are ours (fixed S, r, q); its vega is per 1% and its theta per
    day (/365) like ours. Its BSM rho holds S, not F, so rho comes from vollib's Black rho."""
    g = _greek_grid()
    ours = _ours(g)
    carry = g["rate"] - np.log(g["forward"] / g["spot"]) / g["t"]
    theirs: dict[str, list[float]] = {name: [] for name in ours}
    for i in range(g["t"].size):
        flag = _flag(bool(g["is_call"][i]))
        s, k, t, r, v = (g[n][i] for n in ("spot", "strike", "t", "rate", "sigma"))
        q = carry[i]
        for name in ("delta", "gamma", "vega", "theta"):
            theirs[name].append(getattr(bsm, name)(flag, s, k, t, r, v, q))
        theirs["rho"].append(vollib_black_rho(flag, g["forward"][i], k, t, r, v))
    # Absolute floors far below a unit of each greek: where one is ~0 (far from the money in
    # minutes), the two sides differ by the rounding of ln(S/K) + (r - q)T against ln(F/K).
    floors = {"delta": 1e-12, "gamma": 1e-15, "vega": 1e-12, "theta": 1e-10, "rho": 1e-12}
    for name, floor in floors.items():
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-9, atol=floor, err_msg=name)


def _differences(fn: Callable[[float], np.ndarray], h: float) -> tuple[np.ndarray, np.ndarray]:
    """(f'(0), f''(0)) from central differences at h and h/2, Richardson-extrapolated (error h^4)."""
    f0 = fn(0.0)
    first = [(fn(u) - fn(-u)) / (2 * u) for u in (h, h / 2)]
    second = [(fn(u) - 2 * f0 + fn(-u)) / (u * u) for u in (h, h / 2)]
    return (4 * first[1] - first[0]) / 3, (4 * second[1] - second[0]) / 3


def test_greeks_match_finite_differences_of_the_price() -> None:
    """Each greek against Richardson-extrapolated central differences of black_price in its
    variable (log S in steps of 1e-2 sigma*sqrt(T), sigma and T by 1e-2 relative, r by 1e-3),
    compared in units that make each greek O(1) at the money."""
    g = _greek_grid()
    f, k, t, r, v, call, spot = (
        g[n] for n in ("forward", "strike", "t", "rate", "sigma", "is_call", "spot")
    )
    ours = _ours(g)
    carry = r - np.log(f / spot) / t
    s = v * np.sqrt(t)
    unit = f * np.exp(-r * t)  # D*F

    def price(spot_: np.ndarray, t_: np.ndarray = t, v_: np.ndarray = v, r_: np.ndarray = r):
        return black_price(spot_ * np.exp((r_ - carry) * t_), k, t_, np.exp(-r_ * t_), v_, call)

    # In log-spot u: dP/dS = P_u/S, d2P/dS2 = (P_uu - P_u)/S^2, with F/S fixed.
    p_u, p_uu = _differences(lambda u: price(spot * np.exp(u * s)), 1e-2)
    p_u, p_uu = p_u / s, p_uu / (s * s)
    vega, _ = _differences(lambda u: price(spot, v_=v * (1 + u)), 1e-2)
    # rho holds F, so the forward does not move with r here.
    rho, _ = _differences(lambda u: black_price(f, k, t, np.exp(-(r + u) * t), v, call), 1e-3)
    theta, _ = _differences(lambda u: price(spot, t_=t * (1 + u)), 1e-2)
    # (greek, its difference, a unit making it O(1) at the money, floor: a second difference of a
    # deep in-the-money price, near linear in S, is its rounding over u^2 ~ 1e-7 in these units)
    checks = {
        "delta": (ours["delta"], p_u / spot, 1.0, 1e-8),
        "gamma": (ours["gamma"], (p_uu - p_u) / spot**2, spot**2 * s / unit, 1e-6),
        "vega": (ours["vega"], vega / v / 100, 100 / (unit * np.sqrt(t)), 1e-8),
        "rho": (ours["rho"], rho / 100, 100 / (unit * t), 1e-8),
        "theta": (ours["theta"], -theta / t / 365, 365 * np.sqrt(t) / unit, 1e-8),
    }
    for name, (greek, difference, scale, floor) in checks.items():
        np.testing.assert_allclose(
            greek * scale, difference * scale, rtol=1e-6, atol=floor, err_msg=name
        )


def test_no_arbitrage_bounds_give_notes_never_clipped_numbers() -> None:
    f = np.array([100.0, 100.0, 90.0, 110.0, 100.0, 100.0, 90.0, 110.0])
    k = np.array([90.0, 110.0, 100.0, 100.0, 90.0, 110.0, 100.0, 100.0])
    call = np.array([True, True, False, False] * 2)
    t, d = np.full(8, 0.25), np.full(8, np.exp(-0.04 * 0.25))
    intrinsic = d * np.maximum(np.where(call, f - k, k - f), 0.0)
    bound = d * np.where(call, f, k)

    below = np.nextafter(intrinsic, -np.inf)
    iv, note = implied_volatility(below, f, k, t, d, call)
    assert np.isnan(iv).all() and (note == NOTE_BELOW_INTRINSIC).all()

    for price in (bound, np.nextafter(bound, np.inf), bound * 1.5):
        iv, note = implied_volatility(price, f, k, t, d, call)
        assert np.isnan(iv).all() and (note == NOTE_ABOVE_BOUND).all()

    iv, note = implied_volatility(intrinsic, f, k, t, d, call)
    assert (iv == 0.0).all() and (note == NOTE_OK).all()

    # Just inside the bounds: a real (small or huge) volatility that reprices.
    for price in (intrinsic + 1e-6 * bound, bound * (1 - 1e-9)):
        iv, note = implied_volatility(price, f, k, t, d, call)
        assert (note == NOTE_OK).all() and (iv > 0).all() and np.isfinite(iv).all()
        np.testing.assert_allclose(black_price(f, k, t, d, iv, call), price, rtol=1e-10)

    args = [np.full(5, a) for a in (5.0, 100.0, 100.0, 0.25, 0.99)]
    for i in range(5):
        with_nan = [a.copy() for a in args]
        with_nan[i][2] = np.nan
        iv, note = implied_volatility(*with_nan, np.ones(5, dtype=bool))
        assert np.isnan(iv[2]) and note[2] == NOTE_OK and np.isfinite(iv[[0, 1, 3, 4]]).all()
    for t_years in (0.0, -1.0):
        iv, note = implied_volatility(5.0, 100.0, 100.0, t_years, 1.0, True)
        assert np.isnan(iv) and note == NOTE_OK


@pytest.mark.parametrize("minutes", [1, 2, 5])
def test_zero_dte_in_its_last_minutes_converges_and_reprices(minutes: int) -> None:
    t = minutes * MINUTE
    ratio = np.array([0.98, 0.99, 0.997, 0.999, 0.9999, 1.0, 1.0001, 1.001, 1.003, 1.01, 1.02])
    sigma = np.array([0.08, 0.15, 0.3, 0.6, 1.2])
    r, v, call = (a.ravel() for a in np.meshgrid(ratio, sigma, [True, False], indexing="ij"))
    f = 5000.0 * r
    k = np.full_like(f, 5000.0)
    d = np.exp(-0.04 * t)
    price = black_price(f, k, t, d, v, call)
    iv, note = implied_volatility(price, f, k, t, d, call)
    assert (note == NOTE_OK).all() and np.isfinite(iv).all()
    np.testing.assert_allclose(black_price(f, k, t, d, iv, call), price, rtol=1e-10, atol=0)
    time_value = price - d * np.maximum(np.where(call, f - k, k - f), 0.0)
    determined = time_value > 1e-12 * f
    assert determined.mean() > 0.4
    np.testing.assert_allclose(iv[determined], v[determined], rtol=1e-8)


def _random_rows(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Mixed options as a chain has them, plus some no one can solve."""
    rng = np.random.default_rng(seed)
    t = np.exp(rng.uniform(np.log(MINUTE), np.log(3.0), n))
    sigma = np.exp(rng.uniform(np.log(0.005), np.log(5.0), n))
    x = rng.normal(0.0, 1.0, n) * 1.5 * sigma * np.sqrt(t) + rng.normal(0.0, 0.05, n)
    f = rng.uniform(5.0, 5000.0, n)
    k = f * np.exp(-np.clip(x, -3, 3))
    d = np.exp(-rng.uniform(-0.01, 0.1, n) * t)
    call = rng.random(n) < 0.5
    price = black_price(f, k, t, d, sigma, call)
    price = np.where(rng.random(n) < 0.02, price * rng.uniform(0.0, 3.0, n), price)  # out of bounds
    price[rng.random(n) < 0.005] = np.nan
    return price, f, k, t, d, call


def test_a_large_column_solves_each_row_as_it_would_alone() -> None:
    price, f, k, t, d, call = _random_rows(200_000, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN, zero and out-of-bound rows raise no numpy warning
        iv, note = implied_volatility(price, f, k, t, d, call)
        repriced = black_price(f, k, t, d, iv, call)
        greeks(f, k, t, -np.log(d) / t, iv, call, f * 0.999)
    solved = np.isfinite(iv) & (iv > 0)
    assert solved.mean() > 0.6
    visible = solved & (price > 1e-300)  # a subnormal price has too few digits to reprice
    np.testing.assert_allclose(repriced[visible], price[visible], rtol=1e-10, atol=0)

    sample = np.random.default_rng(8).choice(price.size, 50, replace=False)
    for i in sample:
        alone, alone_note = implied_volatility(price[i], f[i], k[i], t[i], d[i], call[i])
        assert alone.shape == () and alone_note == note[i]
        np.testing.assert_allclose(alone, iv[i], rtol=1e-14, atol=0)


def test_broadcasting_shapes_and_read_only_inputs() -> None:
    f = np.array([[100.0], [101.0], [99.0]])
    k = np.array([95.0, 100.0, 105.0, 110.0])
    call = np.array([True, False, True, False])
    for column in (f, k, call):
        column.flags.writeable = False  # any write into an input raises
    args = (f, k, 0.1, 0.995, 0.25, call)
    price = black_price(*args)
    assert price.shape == (3, 4) and price.dtype == np.float64
    iv, note = implied_volatility(price, f, k, 0.1, 0.995, call)
    assert iv.shape == (3, 4) and note.shape == (3, 4) and note.dtype == np.int8
    np.testing.assert_allclose(iv, 0.25, rtol=1e-12)
    out = greeks(f, k, 0.1, -np.log(0.995) / 0.1, iv, call, 100.0)
    assert all(v.shape == (3, 4) and v.dtype == np.float64 for v in out.values())
    assert black_price(100.0, 95.0, 0.1, 0.995, 0.25, True).shape == ()

    # Same-shape contiguous columns reach the code as views, not copies.
    columns = [np.ascontiguousarray(np.broadcast_to(a, (3, 4))) for a in (price, f, k, call)]
    for column in columns:
        column.flags.writeable = False
    price_, f_, k_, call_ = columns
    iv, _ = implied_volatility(price_, f_, k_, np.full((3, 4), 0.1), 0.995, call_)
    np.testing.assert_allclose(iv, 0.25, rtol=1e-12)
    greeks(f_, k_, 0.1, 0.05, iv, call_, f_)


def test_greek_limits_and_missing_inputs() -> None:
    f, k = np.array([110.0, 90.0, 100.0]), 100.0
    flat = greeks(f, k, 0.5, 0.04, 0.0, True, 100.0)
    d = np.exp(-0.02)
    np.testing.assert_allclose(flat["delta"], d * np.array([1.0, 0.0, 0.5]) * f / 100.0)
    assert (flat["gamma"] == 0).all() and (flat["vega"] == 0).all()
    assert all(np.isfinite(v).all() for v in flat.values())
    np.testing.assert_allclose(flat["rho"], -0.5 * d * np.maximum(f - k, 0.0) / 100.0)

    no_spot = greeks(f, k, 0.5, 0.04, 0.2, True, np.nan)
    assert all(np.isnan(no_spot[n]).all() for n in ("delta", "gamma", "theta"))
    assert all(np.isfinite(no_spot[n]).all() for n in ("vega", "rho"))
    no_sigma = greeks(f, k, 0.5, 0.04, np.nan, True, 100.0)
    assert all(np.isnan(v).all() for v in no_sigma.values())
    expired = greeks(f, k, 0.0, 0.04, 0.2, True, 100.0)
    assert all(np.isnan(v).all() for v in expired.values())
