"""Black-76 on a forward: prices, implied volatility and greeks for whole columns at once.

Everything goes through the normalised time value of the out-of-the-money option (Jäckel,
"Let's Be Rational", 2015): with x = -|ln(F/K)| <= 0 and s = sigma*sqrt(T),

    b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2),  0 <= b < b_max = e^{x/2},

and price = D*(intrinsic + sqrt(F*K)*b) by put-call parity. So no price is the difference of two
nearly equal numbers, and b itself is evaluated in four regimes that each keep it to ~1e-14
relative (far out of the money, to the few 1e-14 its own condition number allows).
The implied volatility inverts b for s: a guess from the shape of b (convex below its inflection
point s_c = sqrt(2|x|), concave above), then third-order Householder steps on a transform of b
that is nearly linear in s in each zone, inside a bracket that falls back to bisection. Columns
are worked through in blocks of 32k rows, and each iteration only on the rows still unconverged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

# implied_volatility's notes (int8 codes)
NOTE_OK = 0
NOTE_BELOW_INTRINSIC = 1
NOTE_ABOVE_BOUND = 2

_SQRT2 = math.sqrt(2.0)
_SQRT3 = math.sqrt(3.0)
_TWO_PI = 2.0 * math.pi
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_SQRT_PI_OVER_2 = math.sqrt(0.5 * math.pi)
# Jäckel's lower map f(s) = this * |x| * N(-|x|/(sqrt(3) s))^3
_LOWER_MAP_SCALE = 2.0 * math.pi / math.sqrt(27.0)

# Regimes of b(x, s) in h = x/s, t = s/2 and d1 = h + t, after Jäckel's (his Taylor region is
# wider, t < 0.21, at 13th order; there the erfcx difference is as accurate and cheaper).
_ASYMPTOTIC_D1 = -10.0  # below: both Mills ratios by their asymptotic series (erfcx would cancel)
_ASYMPTOTIC_TERMS = 18  # the 18th term of the Mills series at z = 10 is 2e-16 of the first
_TAYLOR_T = 0.05  # below, or below |h|/40: Taylor series in t to 9th order
_TAYLOR_H_OVER_T = 40.0
_TAYLOR_ORDER = 9
_DIRECT_D1 = 0.85  # above: N(d1), N(d2) directly; in between: the difference of two erfcx

# Rational cubic control parameter range: above -1 (a pole), and "infinite" = linear.
_MIN_CONTROL = -(1.0 - math.sqrt(np.finfo(float).eps))
_MAX_CONTROL = 2.0 / np.finfo(float).eps ** 2
# The zone ends come from formulas good to ~1e-9 near the money; a bracket that tight could
# exclude a root sitting on a zone end, so the brackets are widened by this factor.
_WIDEN = 1.0 + 1e-6

# Rows per pass: the solver makes hundreds of elementwise passes, fast while they stay in cache.
_BLOCK = 1 << 15

_MAX_ITERATIONS = 100
# A step this small (relative) ends a row: Householder's third-order method leaves an error of
# about the step's fourth power, ~1e-16 (measured: iv within 2e-14 of a solve to 1e-9 steps).
_STEP_TOLERANCE = 1e-4

StepFn = Callable[..., tuple[np.ndarray, np.ndarray]]


def black_price(
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    discount: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> np.ndarray:
    """Black-76 price: discount*(F N(d1) - K N(d2)) for calls, discount*(K N(-d2) - F N(-d1)) for puts.

    Accurate to ~1e-14 relative also far out of the money: the time value comes from b(x, s) and
    the intrinsic value is added for options in the money. sigma = 0 (or t = 0) gives the
    discounted intrinsic value; negative sigma or t gives NaN.
    """
    shape, columns = _flatten(forward, strike, t_years, discount, sigma, is_call)
    price = np.empty(columns[0].size)
    _by_blocks(_black_price_block, [price], columns)
    return price.reshape(shape)


def implied_volatility(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    discount: ArrayLike,
    is_call: ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    """(iv, note): the sigma with black_price(...) == price, and an int8 note per row.

    NOTE_BELOW_INTRINSIC where price < discount*max(F-K, 0) (calls; K-F for puts) and
    NOTE_ABOVE_BOUND where price >= discount*F (calls; discount*K for puts), both with iv NaN.
    NaN inputs, t <= 0 or non-positive F, K, discount give NaN with NOTE_OK: the caller knows why.
    A price exactly at the discounted intrinsic value gives 0.0 (so does a time value too small to
    be a normal float in units of discount*sqrt(F*K)). Elsewhere the iv reprices to ~1e-13
    relative or better, and is as exact as the price determines it.
    """
    shape, columns = _flatten(price, forward, strike, t_years, discount, is_call)
    iv = np.empty(columns[0].size)
    note = np.empty(columns[0].size, dtype=np.int8)
    _by_blocks(_implied_volatility_block, [iv, note], columns)
    return iv.reshape(shape), note.reshape(shape)


_GREEKS = ("delta", "gamma", "vega", "theta", "rho")


def greeks(
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
    underlying_price: ArrayLike,
) -> dict[str, np.ndarray]:
    """Black-76 greeks on F with D = e^{-rT}, in the project's conventions (docs/contracts.md §11).

    delta, gamma: d/dS with F/S fixed; vega per volatility point; theta per calendar day at fixed
    S, r and implied carry q = r - ln(F/S)/T; rho per rate point with F fixed. delta, gamma and
    theta are NaN where S is; everything is NaN where sigma is NaN or t <= 0. At sigma = 0 the
    limits: d1 = +-inf by the sign of ln(F/K) (0 at the money), gamma = vega = 0.
    """
    shape, columns = _flatten(forward, strike, t_years, rate, sigma, is_call, underlying_price)
    out = {name: np.empty(columns[0].size) for name in _GREEKS}
    _by_blocks(_greeks_block, list(out.values()), columns)
    return {name: values.reshape(shape) for name, values in out.items()}


def _flatten(*arrays: ArrayLike) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """The inputs broadcast to one shape, as 1-d columns (float64, bool for is_call): views of
    the callers' arrays where possible, so nothing below writes into them."""
    broadcast = np.broadcast_arrays(*(np.asarray(a) for a in arrays))
    columns = [
        np.ravel(a).astype(bool if a.dtype == bool else np.float64, copy=False) for a in broadcast
    ]
    return broadcast[0].shape, columns


def _by_blocks(
    block_fn: Callable[..., tuple[np.ndarray, ...]],
    outputs: list[np.ndarray],
    columns: list[np.ndarray],
) -> None:
    """Run block_fn on successive _BLOCK-row slices of the columns into the outputs' slices.

    Many elementwise passes over a few 32k-row columns stay in the CPU cache; over whole
    columns of a million rows each pass goes to memory and the whole runs ~1.5x slower.
    """
    with np.errstate(all="ignore"):
        for start in range(0, columns[0].size, _BLOCK):
            rows = slice(start, start + _BLOCK)
            for output, result in zip(outputs, block_fn(*(c[rows] for c in columns)), strict=True):
                output[rows] = result


def _black_price_block(
    f: np.ndarray, k: np.ndarray, t: np.ndarray, d: np.ndarray, vol: np.ndarray, call: np.ndarray
) -> tuple[np.ndarray]:
    return (_price(f, k, _log_moneyness(f, k), vol * np.sqrt(t), d, call),)


def _implied_volatility_block(
    p: np.ndarray, f: np.ndarray, k: np.ndarray, t: np.ndarray, d: np.ndarray, call: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    positive = (f > 0) & (k > 0) & (t > 0) & (d > 0)
    finite = np.isfinite(f) & np.isfinite(k) & np.isfinite(t) & np.isfinite(d)
    defined = ~np.isnan(p) & positive & finite
    intrinsic = d * np.maximum(np.where(call, f - k, k - f), 0.0)
    bound = d * np.where(call, f, k)
    above = defined & (p >= bound)
    below = defined & (p < intrinsic)
    note = np.full(p.shape, NOTE_OK, dtype=np.int8)
    np.copyto(note, NOTE_ABOVE_BOUND, where=above)
    np.copyto(note, NOTE_BELOW_INTRINSIC, where=below)
    scale = d * np.sqrt(f) * np.sqrt(k)
    beta = (p - intrinsic) / scale  # the out-of-the-money option's b
    beta_gap = (bound - p) / scale  # b_max - beta, without cancellation
    between = defined & ~above & ~below
    iv = np.full(p.shape, np.nan)
    iv[between & (beta == 0)] = 0.0  # at the intrinsic value, or a time value that underflows
    rows = np.flatnonzero(between & (beta > 0))
    x = -np.abs(_log_moneyness(f[rows], k[rows]))
    iv[rows] = _normalised_implied_s(beta[rows], beta_gap[rows], x) / np.sqrt(t[rows])
    return iv, note


def _greeks_block(
    f: np.ndarray,
    k: np.ndarray,
    t: np.ndarray,
    r: np.ndarray,
    vol: np.ndarray,
    call: np.ndarray,
    spot: np.ndarray,
) -> tuple[np.ndarray, ...]:
    sign = np.where(call, 1.0, -1.0)
    d = np.exp(-r * t)
    sqrt_t = np.sqrt(t)
    s = vol * sqrt_t
    x = _log_moneyness(f, k)
    d1 = x / s + 0.5 * s
    flat = s == 0
    if flat.any():
        d1[flat] = np.where(x[flat] == 0, 0.0, np.copysign(np.inf, x[flat]))
    d_pdf = d * np.exp(-0.5 * d1 * d1) / _SQRT_2PI
    cdf1 = special.ndtr(sign * d1)  # N(d1) for calls, N(-d1) for puts
    cdf2 = special.ndtr(sign * (d1 - s))
    f_over_s = f / spot
    carry = r - np.log(f_over_s) / t
    delta = sign * d * cdf1 * f_over_s
    gamma = d_pdf * f_over_s * f_over_s / (f * s)
    vega = d_pdf * f * sqrt_t / 100.0
    theta = (
        sign * d * (carry * f * cdf1 - r * k * cdf2) - d_pdf * f * vol / (2.0 * sqrt_t)
    ) / 365.0
    rho = -t * _price(f, k, x, s, d, call) / 100.0
    gamma[flat] = 0.0
    vega[flat] = 0.0
    out = (delta, gamma, vega, theta, rho)
    expired = ~(t > 0)
    if expired.any():
        for values in out:
            values[expired] = np.nan
    return out


def _log_moneyness(forward: np.ndarray, strike: np.ndarray) -> np.ndarray:
    """ln(F/K), near the money from the exact difference F - K (an ulp of F/K would move an
    at-the-money price by ~F*eps/2, a visible error when the price is a 1e-4 of F)."""
    x: np.ndarray = np.log1p((forward - strike) / strike)  # F - K is exact for K/2 <= F <= 2K
    far = forward < 0.5 * strike  # where log1p's argument approaches -1
    if far.any():
        x[far] = np.log(forward[far] / strike[far])
    return x


def _price(
    forward: np.ndarray,
    strike: np.ndarray,
    x: np.ndarray,
    s: np.ndarray,
    discount: np.ndarray,
    is_call: np.ndarray,
) -> np.ndarray:
    """discount*(intrinsic + sqrt(F K) b(-|x|, s)) for x = ln(F/K), s = sigma sqrt(T)."""
    e, f = _normalised_otm(-np.abs(x), s)
    intrinsic = np.maximum(np.where(is_call, forward - strike, strike - forward), 0.0)
    return cast(
        np.ndarray, discount * (intrinsic + np.sqrt(forward) * np.sqrt(strike) * np.exp(e) * f)
    )


def _normalised_otm(x: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(e, f) with b(x, s) = exp(e)*f for x <= 0, s >= 0 (NaN for s < 0).

    e = -(h^2 + t^2)/2 (h = x/s, t = s/2) except where b is computed directly (e = 0), so that
    ln b = e + ln f stays finite where b itself underflows.
    """
    h = x / s
    t = 0.5 * s
    d1 = h + t
    e = -0.5 * (h * h + t * t)
    f = np.empty_like(e)
    asymptotic = d1 < _ASYMPTOTIC_D1
    taylor = ~asymptotic & ((t < _TAYLOR_T) | (t * _TAYLOR_H_OVER_T < -h))
    direct = d1 > _DIRECT_D1
    for region, series in (
        (asymptotic, _asymptotic_series),
        (taylor, _taylor_series),
        (~(asymptotic | taylor | direct), _erfcx_difference),
    ):
        i = np.flatnonzero(region)
        if i.size:
            f[i] = series(h[i], t[i])
    i = np.flatnonzero(direct)
    if i.size:
        e[i] = 0.0
        f[i] = _otm_direct(x[i], s[i])
    degenerate = ~(s > 0)
    if degenerate.any():
        e[degenerate] = 0.0
        f[degenerate] = np.where(s[degenerate] == 0, 0.0, np.nan)
    return e, f


def _otm_direct(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """b(x, s) as the plain difference of the two N terms: exact where b is not small."""
    d1 = x / s + 0.5 * s
    return cast(
        np.ndarray, np.exp(0.5 * x) * special.ndtr(d1) - np.exp(-0.5 * x) * special.ndtr(d1 - s)
    )


def _otm_gap(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """b_max - b(x, s) = e^{x/2} N(-d1) + e^{-x/2} N(d2): a sum, accurate however close b is to b_max."""
    d1 = x / s + 0.5 * s
    return cast(
        np.ndarray, np.exp(0.5 * x) * special.ndtr(-d1) + np.exp(-0.5 * x) * special.ndtr(d1 - s)
    )


def _erfcx_difference(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """b*e^{(h^2+t^2)/2} = (erfcx(-(h+t)/sqrt2) - erfcx(-(h-t)/sqrt2))/2: one exponential, and
    outside the Taylor region the two terms differ by 5% or more (at most ~5 bits cancel)."""
    return cast(
        np.ndarray, 0.5 * (special.erfcx(-(h + t) / _SQRT2) - special.erfcx(-(h - t) / _SQRT2))
    )


def _taylor_series(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """b*e^{(h^2+t^2)/2} = (Y(h+t) - Y(h-t))/sqrt(2pi) with Y = N/n, by Taylor in t.

    Y' = 1 + hY gives Y^(n+1) = h*Y^(n) + n*Y^(n-1); only odd orders survive the difference. Used
    where t < 0.05 or t < |h|/40, so the first omitted term (t^11) is below 1e-16 of the sum.
    """
    previous = _SQRT_PI_OVER_2 * special.erfcx(-h / _SQRT2)
    current = 1.0 + h * previous
    odd = [current]
    for n in range(1, _TAYLOR_ORDER):
        previous, current = current, h * current + n * previous
        if n % 2 == 0:
            odd.append(current)
    w = t * t
    total = odd[-1] * (1.0 / math.factorial(_TAYLOR_ORDER))
    for order in range(_TAYLOR_ORDER - 2, 0, -2):
        total *= w
        total += odd[order // 2] * (1.0 / math.factorial(order))
    return cast(np.ndarray, (2.0 / _SQRT_2PI) * t * total)


def _asymptotic_series(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """b*e^{(h^2+t^2)/2} = (R(c-t) - R(c+t))/sqrt(2pi) for c = -h, t with c - t > 10, R the Mills
    ratio, from R(z) ~ sum_k (-1)^k (2k-1)!! z^{-(2k+1)}.

    Each difference (c-t)^{-n} - (c+t)^{-n} comes from a recursion of positive terms only, so
    nothing cancels even when t << c.
    """
    c = -h
    low = 1.0 / (c - t)
    high = 1.0 / (c + t)
    low2 = low * low
    high2 = high * high
    difference = 2.0 * t * low * high  # n = 1
    power = high  # (c+t)^{-n}
    step = 4.0 * c * t * low2 * high2  # (c-t)^{-2} - (c+t)^{-2}
    total = difference.copy()
    coefficient = 1.0
    for k in range(1, _ASYMPTOTIC_TERMS):
        difference = low2 * difference + step * power
        power = high2 * power
        coefficient *= -(2 * k - 1)
        total += coefficient * difference
    return cast(np.ndarray, total / _SQRT_2PI)


def _vega_exponent(h: np.ndarray, s: np.ndarray) -> np.ndarray:
    """ln(db/ds) + ln(sqrt(2pi)) = -(h^2 + t^2)/2 with h = x/s, t = s/2."""
    return cast(np.ndarray, -0.5 * (h * h + 0.25 * s * s))


def _normalised_implied_s(beta: np.ndarray, beta_gap: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The s with b(x, s) = beta, for x <= 0 and 0 < beta; beta_gap = b_max - beta > 0.

    Jäckel's four zones, split by the inflection point s_c = sqrt(2|x|) and the points s_l < s_c
    < s_h where the tangent at s_c reaches 0 and b_max, each with its initial guess (a rational
    cubic, shape-preserving, through the zone's ends) and the objective that is closest to linear
    there. The zone ends only steer the guess, so they come from the cheap direct formulas.
    """
    s = np.empty_like(beta)
    b_max = np.exp(0.5 * x)
    s_c = np.sqrt(-2.0 * x)
    b_c = 0.5 * b_max - special.ndtr(-s_c) / b_max  # d1 = 0 at s_c
    v_c = b_max / _SQRT_2PI  # h^2 + t^2 = |x| at s_c
    low = beta < b_c
    i = np.flatnonzero(low)
    if i.size:
        s[i] = _below_inflection(beta[i], x[i], s_c[i], b_c[i], v_c[i])
    i = np.flatnonzero(~low)
    if i.size:
        s[i] = _above_inflection(beta[i], beta_gap[i], x[i], s_c[i], b_c[i], v_c[i], b_max[i])
    return s


def _below_inflection(
    beta: np.ndarray, x: np.ndarray, s_c: np.ndarray, b_c: np.ndarray, v_c: np.ndarray
) -> np.ndarray:
    """Zones (0, s_l): Jäckel's lower map f = 2pi/sqrt27 |x| N(-|x|/(sqrt3 s))^3, which tends
    to b as s -> 0, interpolated in beta and inverted; objective 1/ln b. (s_l, s_c): a rational
    cubic in beta; objective b."""
    s = np.empty_like(beta)
    s_l = np.maximum(s_c - b_c / v_c, 1e-6 * s_c)
    b_l = _otm_direct(x, s_l)
    v_l = np.exp(_vega_exponent(x / s_l, s_l)) / _SQRT_2PI
    lowest = beta < b_l
    j = np.flatnonzero(lowest)
    if j.size:
        xj, bj, sl, bl = x[j], beta[j], s_l[j], b_l[j]
        ax = -xj
        z = ax / (_SQRT3 * sl)
        y = z * z
        cdf = special.ndtr(-z)
        f_l = _LOWER_MAP_SCALE * ax * cdf**3
        df = _TWO_PI * y * cdf * cdf * np.exp(y + 0.125 * sl * sl)
        d2f = (
            (math.pi / 6.0)
            * y
            / (sl * sl * sl)
            * cdf
            * (
                8.0 * _SQRT3 * sl * ax
                + (3.0 * sl * sl * (sl * sl - 8.0) - 8.0 * ax * ax)
                * cdf
                / (np.exp(-0.5 * y) / _SQRT_2PI)
            )
            * np.exp(2.0 * y + 0.25 * sl * sl)
        )
        tau = bj / bl
        zero = np.zeros_like(bj)
        one = np.ones_like(bj)
        r = _convex_control(bl, zero, f_l, one, df, d2f, at_right=True)
        f = _rational_cubic(tau, 1.0 - tau, bl, zero, f_l, one, df, r)
        f = np.where(f > 0, f, (f_l * tau + bl * (1.0 - tau)) * tau)
        guess = ax / (-_SQRT3 * special.ndtri(np.cbrt(f / (_LOWER_MAP_SCALE * ax))))
        s[j] = _householder(_lower_step, guess, zero, sl * _WIDEN, xj, np.log(bj))
    j = np.flatnonzero(~lowest)
    if j.size:
        bl, bc, sl, sc = b_l[j], b_c[j], s_l[j], s_c[j]
        width = bc - bl
        tau = (beta[j] - bl) / width
        d_l, d_r = 1.0 / v_l[j], 1.0 / v_c[j]
        r = _convex_control(width, sl, sc, d_l, d_r, np.zeros_like(width), at_right=True)
        guess = _rational_cubic(tau, 1.0 - tau, width, sl, sc, d_l, d_r, r)
        s[j] = _householder(_middle_step, guess, sl / _WIDEN, sc * _WIDEN, x[j], beta[j])
    return s


def _above_inflection(
    beta: np.ndarray,
    beta_gap: np.ndarray,
    x: np.ndarray,
    s_c: np.ndarray,
    b_c: np.ndarray,
    v_c: np.ndarray,
    b_max: np.ndarray,
) -> np.ndarray:
    """Zones (s_c, s_h): a rational cubic in beta; objective b. (s_h, inf): Jäckel's upper map
    f = N(-s/2), interpolated in beta and inverted; objective ln(b_max - b) where beta > b_max/2."""
    s = np.empty_like(beta)
    s_h = s_c + (b_max - b_c) / v_c
    gap_h = _otm_gap(x, s_h)
    v_h = np.exp(_vega_exponent(x / s_h, s_h)) / _SQRT_2PI
    highest = beta_gap < gap_h
    j = np.flatnonzero(~highest)
    if j.size:
        bc, sc, sh = b_c[j], s_c[j], s_h[j]
        width = b_max[j] - gap_h[j] - bc
        tau = (beta[j] - bc) / width
        d_l, d_r = 1.0 / v_c[j], 1.0 / v_h[j]
        r = _convex_control(width, sc, sh, d_l, d_r, np.zeros_like(width), at_right=False)
        guess = _rational_cubic(tau, 1.0 - tau, width, sc, sh, d_l, d_r, r)
        s[j] = _householder(_middle_step, guess, sc / _WIDEN, sh * _WIDEN, x[j], beta[j])
    j = np.flatnonzero(highest)
    if j.size:
        xj, sh, gh = x[j], s_h[j], gap_h[j]
        w = (xj / sh) ** 2
        f_h = special.ndtr(-0.5 * sh)
        df = -0.5 * np.exp(0.5 * w)
        d2f = _SQRT_PI_OVER_2 * np.exp(w + 0.125 * sh * sh) * w / sh
        half = np.full_like(sh, -0.5)
        zero = np.zeros_like(sh)
        tau_gap = beta_gap[j] / gh  # 1 - tau, exact near b_max
        r = _convex_control(gh, f_h, zero, df, half, d2f, at_right=False)
        f = _rational_cubic(1.0 - tau_gap, tau_gap, gh, f_h, zero, df, half, r)
        f = np.where(f > 0, f, (f_h * tau_gap + 0.5 * gh * (1.0 - tau_gap)) * tau_gap)
        guess = -2.0 * special.ndtri(f)
        # b_max - b <= 2 e^{|x|/2} N(-d1) once d1 >= 0: the s where that reaches beta_gap is too high.
        d1 = -special.ndtri(0.5 * beta_gap[j] * np.exp(0.5 * xj))
        hi = np.maximum(d1 + np.sqrt(d1 * d1 - 2.0 * xj), sh) * _WIDEN
        lo = sh / _WIDEN
        upper = beta[j] > 0.5 * b_max[j]
        u = np.flatnonzero(upper)
        if u.size:
            s[j[u]] = _householder(
                _upper_step, guess[u], lo[u], hi[u], xj[u], np.log(beta_gap[j[u]])
            )
        m = np.flatnonzero(~upper)
        if m.size:
            s[j[m]] = _householder(_middle_step, guess[m], lo[m], hi[m], xj[m], beta[j[m]])
    return s


def _rational_cubic(
    tau: np.ndarray,
    one_minus_tau: np.ndarray,
    width: np.ndarray,
    y_l: np.ndarray,
    y_r: np.ndarray,
    d_l: np.ndarray,
    d_r: np.ndarray,
    r: np.ndarray,
) -> np.ndarray:
    """Delbourgo-Gregory rational cubic through (0, y_l) and (width, y_r) with slopes d_l, d_r, at
    the fraction tau of the interval; r = 3 is the cubic Hermite, r -> inf the straight line."""
    t, u = tau, one_minus_tau
    numerator = (
        y_r * t * t * t
        + (r * y_r - width * d_r) * t * t * u
        + (r * y_l + width * d_l) * t * u * u
        + y_l * u * u * u
    )
    return cast(np.ndarray, numerator / (1.0 + (r - 3.0) * t * u))


def _convex_control(
    width: np.ndarray,
    y_l: np.ndarray,
    y_r: np.ndarray,
    d_l: np.ndarray,
    d_r: np.ndarray,
    second: np.ndarray,
    *,
    at_right: bool,
) -> np.ndarray:
    """The control r that fits the second derivative at one end, raised to the least r that keeps
    the interpolant monotone and convex or concave like the data (Delbourgo-Gregory (3.8), (3.18))."""
    slope = (y_r - y_l) / width
    numerator = 0.5 * width * second + (d_r - d_l)
    r = numerator / ((d_r - slope) if at_right else (slope - d_l))
    r = np.where(numerator == 0, 0.0, r)
    monotonic = (d_l * slope >= 0) & (d_r * slope >= 0)
    shaped = ((d_l <= slope) & (slope <= d_r)) | ((d_l >= slope) & (slope >= d_r))
    r_monotonic = np.where(monotonic, (d_r + d_l) / slope, _MIN_CONTROL)
    r_shaped = np.where(
        shaped,
        np.fmax(np.abs((d_r - d_l) / (d_r - slope)), np.abs((d_r - d_l) / (slope - d_l))),
        _MIN_CONTROL,
    )
    r_min = np.fmax(np.fmax(r_monotonic, r_shaped), _MIN_CONTROL)
    return np.fmin(np.fmax(r, r_min), _MAX_CONTROL)


def _householder(
    step: StepFn, s: np.ndarray, lo: np.ndarray, hi: np.ndarray, *data: np.ndarray
) -> np.ndarray:
    """Iterate s += step(s, *data) inside the bracket (lo, hi), bisecting whenever a step leaves it,
    on a shrinking set of rows: converged ones are written out and dropped after each iteration.

    step returns (ds, excess): the Householder step and the objective's sign, > 0 above the root.
    """
    out = np.empty_like(s)
    rows = np.arange(s.size)
    inside = (s > lo) & (s < hi)
    s = np.where(inside, s, _bisect(lo, hi))
    for _ in range(_MAX_ITERATIONS):
        ds, excess = step(s, *data)
        hi = np.where(excess > 0, s, hi)
        lo = np.where(excess < 0, s, lo)
        new = s + ds
        converged = np.abs(ds) <= _STEP_TOLERANCE * s
        new = np.where(converged | ((new > lo) & (new < hi)), np.clip(new, lo, hi), _bisect(lo, hi))
        done = converged | (hi - lo <= 4e-16 * lo)
        out[rows[done]] = new[done]
        keep = np.flatnonzero(~done)
        if keep.size == 0:
            return out
        rows, s, lo, hi = rows[keep], new[keep], lo[keep], hi[keep]
        data = tuple(a[keep] for a in data)
    out[rows] = s
    return out


def _bisect(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return cast(np.ndarray, 0.5 * (lo + hi))


def _derivative_ratios(h: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """b''/b' and b'''/b' (derivatives in s, h = x/s), for Householder's third-order step."""
    h_over_s = h / s
    halley = h * h_over_s - 0.25 * s
    return halley, halley * halley - 3.0 * h_over_s * h_over_s - 0.25


def _householder_step(newton: np.ndarray, halley: np.ndarray, hh3: np.ndarray) -> np.ndarray:
    """Third-order Householder step from the Newton step -g/g', g''/g' and g'''/g'."""
    return cast(
        np.ndarray,
        newton * (1.0 + 0.5 * halley * newton) / (1.0 + newton * (halley + hh3 * newton / 6.0)),
    )


def _lower_step(s: np.ndarray, x: np.ndarray, ln_beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Objective 1/ln b - 1/ln beta: near-linear in s where b vanishes like e^{-x^2/(2s^2)}."""
    e, f = _normalised_otm(x, s)  # below s_c, e is ln(b' sqrt(2pi)): b'/b = 1/(sqrt(2pi) f)
    ln_b = e + np.log(f)
    b_prime_over_b = 1.0 / (_SQRT_2PI * f)
    b_halley, b_hh3 = _derivative_ratios(x / s, s)
    inv = 1.0 / ln_b
    newton = (ln_beta - ln_b) * ln_b / ln_beta / b_prime_over_b
    halley = b_halley - b_prime_over_b * (1.0 + 2.0 * inv)
    hh3 = (
        b_hh3
        + 2.0 * b_prime_over_b * b_prime_over_b * (1.0 + 3.0 * inv * (1.0 + inv))
        - 3.0 * b_halley * b_prime_over_b * (1.0 + 2.0 * inv)
    )
    return _householder_step(newton, halley, hh3), ln_b - ln_beta


def _middle_step(s: np.ndarray, x: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Objective b - beta, around the inflection point where b is closest to linear."""
    e, f = _normalised_otm(x, s)
    b = np.exp(e) * f
    h = x / s
    vega = np.exp(_vega_exponent(h, s)) / _SQRT_2PI
    halley, hh3 = _derivative_ratios(h, s)
    return _householder_step((beta - b) / vega, halley, hh3), b - beta


def _upper_step(s: np.ndarray, x: np.ndarray, ln_gap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Objective ln(b_max - beta) - ln(b_max - b): near-linear where b approaches b_max."""
    gap = _otm_gap(x, s)
    h = x / s
    b_halley, b_hh3 = _derivative_ratios(h, s)
    g_prime = np.exp(_vega_exponent(h, s)) / (_SQRT_2PI * gap)
    excess = ln_gap - np.log(gap)
    halley = b_halley + g_prime
    hh3 = b_hh3 + g_prime * (2.0 * g_prime + 3.0 * b_halley)
    return _householder_step(-excess / g_prime, halley, hh3), excess
