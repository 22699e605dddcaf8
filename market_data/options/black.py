"""Black-76 on a forward: prices, implied volatility and greeks for whole columns at once.

Everything goes through the normalised time value of the out-of-the-money option (Jäckel,
"Let's Be Rational", 2015): with x = -|ln(F/K)| <= 0 and s = sigma*sqrt(T),

    b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2),  0 <= b < b_max = e^{x/2},

and price = D*(intrinsic + sqrt(F*K)*b) by put-call parity. So no price is the difference of two
nearly equal numbers, and b itself is evaluated in four regimes that each keep it to a few ulps.
The implied volatility inverts b for s: a guess from the shape of b (convex below its inflection
point s_c = sqrt(2|x|), concave above), then third-order Householder steps on a transform of b
that is nearly linear in s in each zone, inside a bracket that falls back to bisection.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import special

NOTE_OK = 0
NOTE_BELOW_INTRINSIC = 1
NOTE_ABOVE_BOUND = 2

_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_SQRT_PI_OVER_2 = math.sqrt(0.5 * math.pi)
_LOWER_MAP_SCALE = (
    2.0 * math.pi / math.sqrt(27.0)
)  # Jäckel's lower map f = this*|x|*N(-|x|/(sqrt3 s))^3

# Regimes of b(x, s), in h = x/s, t = s/2 and d1 = h + t (Jäckel's thresholds):
_ASYMPTOTIC_D1 = -10.0  # below: both Mills ratios by their asymptotic series (erfcx would cancel)
_SMALL_T = 0.21  # below (2*eps^(1/16)): Taylor series in t, exact to 13th order
_CDF_D1 = 0.85  # above: N(d1), N(d2) directly; in between: the difference of two erfcx
_ASYMPTOTIC_TERMS = 18  # the 18th term of the Mills series at z = 10 is 2e-16 of the first
_TAYLOR_ORDER = 13

_MAX_ITERATIONS = 100
# A Householder step this small means the next iterate is at machine precision (third order).
_STEP_TOLERANCE = 1e-7

StepFn = Callable[..., tuple[np.ndarray, np.ndarray]]


def black_price(
    forward: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    discount: np.ndarray,
    sigma: np.ndarray,
    is_call: np.ndarray,
) -> np.ndarray:
    """Black-76 price: discount*(F N(d1) - K N(d2)) for calls, discount*(K N(-d2) - F N(-d1)) for puts.

    Accurate to ~1e-14 relative also far out of the money: the time value comes from b(x, s) and
    the intrinsic value is added for options in the money. sigma = 0 (or t = 0) gives the
    discounted intrinsic value; negative sigma or t gives NaN.
    """
    shape, (f, k, t, d, vol), call = _flatten(forward, strike, t_years, discount, sigma, is_call)
    with np.errstate(all="ignore"):
        return _price(f, k, t, d, vol, call).reshape(shape)


def implied_volatility(
    price: np.ndarray,
    forward: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    discount: np.ndarray,
    is_call: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(iv, note): the sigma with black_price(...) == price, and an int8 note per row.

    NOTE_BELOW_INTRINSIC where price < discount*max(F-K, 0) (calls; K-F for puts) and
    NOTE_ABOVE_BOUND where price >= discount*F (calls; discount*K for puts), both with iv NaN.
    NaN inputs, t <= 0 or non-positive F, K, discount give NaN with NOTE_OK: the caller knows why.
    A price exactly at the discounted intrinsic value gives 0.0. Elsewhere the iv reprices to
    ~1e-14 relative wherever the price determines it.
    """
    shape, (p, f, k, t, d), call = _flatten(price, forward, strike, t_years, discount, is_call)
    iv = np.full(p.shape, np.nan)
    note = np.zeros(p.shape, dtype=np.int8)
    with np.errstate(all="ignore"):
        positive = (f > 0) & (k > 0) & (t > 0) & (d > 0)
        finite = np.isfinite(f) & np.isfinite(k) & np.isfinite(t) & np.isfinite(d)
        defined = ~np.isnan(p) & positive & finite
        intrinsic = d * np.maximum(np.where(call, f - k, k - f), 0.0)
        bound = d * np.where(call, f, k)
        above = defined & (p >= bound)
        below = defined & (p < intrinsic)
        note[above] = NOTE_ABOVE_BOUND
        note[below] = NOTE_BELOW_INTRINSIC
        at_intrinsic = defined & (p == intrinsic)
        iv[at_intrinsic] = 0.0
        rows = np.flatnonzero(defined & (p > intrinsic) & (p < bound))
        p, f, k, t, d = p[rows], f[rows], k[rows], t[rows], d[rows]
        scale = d * np.sqrt(f) * np.sqrt(k)
        beta = (p - intrinsic[rows]) / scale  # the out-of-the-money option's b
        beta_gap = (bound[rows] - p) / scale  # b_max - beta, without cancellation
        x = -np.abs(_log_moneyness(f, k))
        iv[rows] = _normalised_implied_s(beta, beta_gap, x) / np.sqrt(t)
    return iv.reshape(shape), note.reshape(shape)


def greeks(
    forward: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    rate: np.ndarray,
    sigma: np.ndarray,
    is_call: np.ndarray,
    underlying_price: np.ndarray,
) -> dict[str, np.ndarray]:
    """Black-76 greeks on F with D = e^{-rT}, in the project's conventions (DESIGN.md section 11).

    delta, gamma: d/dS with F/S fixed; vega per volatility point; theta per calendar day at fixed
    S, r and implied carry q = r - ln(F/S)/T; rho per rate point with F fixed. delta, gamma and
    theta are NaN where S is; everything is NaN where sigma is NaN or t <= 0. At sigma = 0 the
    limits: d1 = +-inf by the sign of ln(F/K) (0 at the money), gamma = vega = 0.
    """
    shape, (f, k, t, r, vol, spot), call = _flatten(
        forward, strike, t_years, rate, sigma, underlying_price, is_call
    )
    with np.errstate(all="ignore"):
        sign = np.where(call, 1.0, -1.0)
        d = np.exp(-r * t)
        sqrt_t = np.sqrt(t)
        s = vol * sqrt_t
        x = _log_moneyness(f, k)
        d1 = x / s + 0.5 * s
        flat = s == 0
        if flat.any():
            d1[flat] = np.where(x[flat] == 0, 0.0, np.copysign(np.inf, x[flat]))
        pdf = np.exp(-0.5 * d1 * d1) / _SQRT_2PI
        cdf1 = special.ndtr(sign * d1)  # N(d1) for calls, N(-d1) for puts
        cdf2 = special.ndtr(sign * (d1 - s))
        f_over_s = f / spot
        carry = r - np.log(f_over_s) / t
        df_pdf = d * f * pdf
        delta = sign * d * cdf1 * f_over_s
        gamma = d * pdf * f_over_s * f_over_s / (f * s)
        vega = df_pdf * sqrt_t / 100.0
        theta = (
            -df_pdf * vol / (2.0 * sqrt_t) + sign * d * (carry * f * cdf1 - r * k * cdf2)
        ) / 365.0
        rho = -t * _price(f, k, t, d, vol, call) / 100.0
        gamma[flat] = 0.0
        vega[flat] = 0.0
        expired = ~(t > 0)
        out = {"delta": delta, "gamma": gamma, "vega": vega, "theta": theta, "rho": rho}
        for values in out.values():
            values[expired] = np.nan
    return {name: values.reshape(shape) for name, values in out.items()}


def _flatten(*arrays: np.ndarray) -> tuple[tuple[int, ...], list[np.ndarray], np.ndarray]:
    """Broadcast the inputs (the last one is is_call) to one shape; 1-d float64 copies or views."""
    broadcast = np.broadcast_arrays(*(np.asarray(a) for a in arrays))
    floats = [np.ravel(a).astype(np.float64, copy=False) for a in broadcast[:-1]]
    return broadcast[0].shape, floats, np.ravel(broadcast[-1]).astype(bool, copy=False)


def _log_moneyness(forward: np.ndarray, strike: np.ndarray) -> np.ndarray:
    """ln(F/K), near the money from the exact difference F - K (an ulp of F/K would move an
    at-the-money price by ~F*eps/2, a visible error when the price is a 1e-4 of F)."""
    near = np.abs(forward - strike) < 0.5 * strike
    return np.where(near, np.log1p((forward - strike) / strike), np.log(forward / strike))


def _price(
    forward: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    discount: np.ndarray,
    sigma: np.ndarray,
    is_call: np.ndarray,
) -> np.ndarray:
    scale, gap = _normalised_otm(-np.abs(_log_moneyness(forward, strike)), sigma * np.sqrt(t_years))
    intrinsic = np.maximum(np.where(is_call, forward - strike, strike - forward), 0.0)
    return discount * (intrinsic + np.sqrt(forward) * np.sqrt(strike) * np.exp(scale) * gap)


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
    taylor = (t < _SMALL_T) & ~asymptotic
    direct = d1 > _CDF_D1
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
        f[i] = np.exp(0.5 * x[i]) * special.ndtr(d1[i]) - np.exp(-0.5 * x[i]) * special.ndtr(
            d1[i] - s[i]
        )
    degenerate = ~(s > 0)
    if degenerate.any():
        e[degenerate] = 0.0
        f[degenerate] = np.where(s[degenerate] == 0, 0.0, np.nan)
    return e, f


def _erfcx_difference(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """b*e^{(h^2+t^2)/2} = (erfcx(-(h+t)/sqrt2) - erfcx(-(h-t)/sqrt2))/2: one exponential instead
    of four, and the two terms differ by at least a factor ~1.04 here."""
    return 0.5 * (special.erfcx(-(h + t) / _SQRT2) - special.erfcx(-(h - t) / _SQRT2))


def _taylor_series(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """b*e^{(h^2+t^2)/2} = (Y(h+t) - Y(h-t))/sqrt(2pi) with Y = N/n, by Taylor in t (t < 0.21).

    Y' = 1 + hY gives Y^(n+1) = h*Y^(n) + n*Y^(n-1); only odd orders survive the difference.
    """
    previous = _SQRT_PI_OVER_2 * special.erfcx(-h / _SQRT2)
    current = 1.0 + h * previous
    odd = [current]
    for n in range(1, _TAYLOR_ORDER):
        previous, current = current, h * current + n * previous
        if n % 2 == 0:
            odd.append(current)
    w = t * t
    total = odd[-1] / math.factorial(_TAYLOR_ORDER)
    for order in range(_TAYLOR_ORDER - 2, 0, -2):
        total = odd[order // 2] / math.factorial(order) + w * total
    return (2.0 / _SQRT_2PI) * t * total


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
    return total / _SQRT_2PI


def _otm_gap(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """b_max - b(x, s) = e^{x/2} N(-d1) + e^{-x/2} N(d2): a sum, accurate however close b is to b_max."""
    d1 = x / s + 0.5 * s
    return np.exp(0.5 * x) * special.ndtr(-d1) + np.exp(-0.5 * x) * special.ndtr(d1 - s)


def _vega_exponent(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """ln(db/ds) + ln(sqrt(2pi)) = -(h^2 + t^2)/2."""
    h = x / s
    return -0.5 * (h * h + 0.25 * s * s)


def _normalised_implied_s(beta: np.ndarray, beta_gap: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The s with b(x, s) = beta, for x <= 0 and 0 < beta; beta_gap = b_max - beta > 0.

    Four zones split by the inflection point s_c = sqrt(2|x|) and the points s_l < s_c < s_h where
    the tangent at s_c reaches 0 and b_max: below s_l the guess inverts Jäckel's lower map and the
    objective is 1/ln b; between s_l and s_h a cubic in beta (clipped between secant and tangent)
    and b itself; above s_h the upper map N(-s/2) and ln(b_max - b) (while beta > b_max/2).
    """
    s = np.empty_like(beta)
    b_max = np.exp(0.5 * x)
    s_c = np.sqrt(-2.0 * x)
    e, f = _normalised_otm(x, s_c)
    b_c = np.exp(e) * f
    v_c = b_max / _SQRT_2PI  # h^2 + t^2 = |x| at s_c
    low = beta < b_c

    # Below the inflection point: the bracket is (0, s_l) or (s_l, s_c).
    i = np.flatnonzero(low)
    xi, bi, vci, sci, bci = x[i], beta[i], v_c[i], s_c[i], b_c[i]
    s_l = np.maximum(sci - bci / vci, 1e-3 * sci)
    e, f = _normalised_otm(xi, s_l)
    b_l = np.exp(e) * f
    v_l = np.exp(_vega_exponent(xi, s_l)) / _SQRT_2PI
    lowest = bi < b_l
    j = np.flatnonzero(lowest)
    if j.size:
        xj, bj, slj, blj = xi[j], bi[j], s_l[j], b_l[j]
        ax = -xj
        f_l = _LOWER_MAP_SCALE * ax * special.ndtr(-ax / (math.sqrt(3.0) * slj)) ** 3
        ratio = bj / blj
        f_guess = bj * (1.0 + (f_l / blj - 1.0) * ratio)  # f(0)=0, f'(0)=1, f(b_l)=f_l
        guess = ax / (-math.sqrt(3.0) * special.ndtri(np.cbrt(f_guess / (_LOWER_MAP_SCALE * ax))))
        s[i[j]] = _householder(_lower_step, guess, np.zeros_like(slj), slj, xj, np.log(bj))
    j = np.flatnonzero(~lowest)
    if j.size:
        guess = _middle_guess(bi[j], b_l[j], bci[j], s_l[j], sci[j], v_l[j], vci[j], concave=True)
        s[i[j]] = _householder(_middle_step, guess, s_l[j], sci[j], xi[j], bi[j])

    # Above the inflection point: the bracket is (s_c, s_h) or (s_h, inf).
    i = np.flatnonzero(~low)
    xi, bi, gi, vci, sci, bci, bmi = x[i], beta[i], beta_gap[i], v_c[i], s_c[i], b_c[i], b_max[i]
    s_h = sci + (bmi - bci) / vci
    gap_h = _otm_gap(xi, s_h)
    highest = gi < gap_h
    j = np.flatnonzero(~highest)
    if j.size:
        b_h = bmi[j] - gap_h[j]
        v_h = np.exp(_vega_exponent(xi[j], s_h[j])) / _SQRT_2PI
        guess = _middle_guess(bi[j], bci[j], b_h, sci[j], s_h[j], vci[j], v_h, concave=False)
        s[i[j]] = _householder(_middle_step, guess, sci[j], s_h[j], xi[j], bi[j])
    j = np.flatnonzero(highest)
    if j.size:
        tau = gi[j] / gap_h[j]  # 1 at s_h, 0 at b_max
        f_h = special.ndtr(-0.5 * s_h[j])
        f_guess = (f_h * tau + 0.5 * gap_h[j] * (1.0 - tau)) * tau  # f(b_h)=f_h, f'(b_max)=-1/2
        guess = -2.0 * special.ndtri(f_guess)
        upper = bi[j] > 0.5 * bmi[j]
        hi = np.full(j.size, np.inf)
        u = np.flatnonzero(upper)
        if u.size:
            s[i[j[u]]] = _householder(
                _upper_step, guess[u], s_h[j[u]], hi[u], xi[j[u]], np.log(gi[j[u]])
            )
        m = np.flatnonzero(~upper)
        if m.size:
            s[i[j[m]]] = _householder(_middle_step, guess[m], s_h[j[m]], hi[m], xi[j[m]], bi[j[m]])
    return s


def _middle_guess(
    beta: np.ndarray,
    b_0: np.ndarray,
    b_1: np.ndarray,
    s_0: np.ndarray,
    s_1: np.ndarray,
    v_0: np.ndarray,
    v_1: np.ndarray,
    *,
    concave: bool,
) -> np.ndarray:
    """Cubic Hermite interpolation of s(beta) on [b_0, b_1] with slopes 1/v, clipped between the
    secant and the tangent at s_c, which bound s(beta) (concave below s_c, convex above)."""
    width = b_1 - b_0
    tau = (beta - b_0) / width
    one = 1.0 - tau
    cubic = (
        (1.0 + 2.0 * tau) * one * one * s_0
        + tau * tau * (3.0 - 2.0 * tau) * s_1
        + tau * one * width * (one / v_0 - tau / v_1)
    )
    secant = s_0 + tau * (s_1 - s_0)
    if concave:  # tangent at the right end, s_c
        return np.clip(cubic, secant, s_1 - (b_1 - beta) / v_1)
    return np.clip(cubic, s_0 + (beta - b_0) / v_0, secant)


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
        accepted = (new > lo) & (new < hi)
        new = np.where(accepted, new, _bisect(lo, hi))
        done = (accepted & (np.abs(ds) <= _STEP_TOLERANCE * s)) | (hi - lo <= 4e-16 * lo)
        out[rows[done]] = new[done]
        keep = np.flatnonzero(~done)
        if keep.size == 0:
            return out
        rows, s, lo, hi = rows[keep], new[keep], lo[keep], hi[keep]
        data = tuple(a[keep] for a in data)
    out[rows] = s
    return out


def _bisect(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Midpoint of the bracket; doubling while it has no upper end."""
    return np.where(np.isfinite(hi), 0.5 * (lo + hi), 2.0 * lo)


def _derivative_ratios(x: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """b''/b' and b'''/b' (derivatives in s), for Householder's third-order step."""
    h = x / s
    h_over_s = h / s
    halley = h * h_over_s - 0.25 * s
    return halley, halley * halley - 3.0 * h_over_s * h_over_s - 0.25


def _householder_step(newton: np.ndarray, halley: np.ndarray, hh3: np.ndarray) -> np.ndarray:
    """Third-order Householder step from the Newton step -g/g', g''/g' and g'''/g'."""
    return newton * (1.0 + 0.5 * halley * newton) / (1.0 + newton * (halley + hh3 * newton / 6.0))


def _lower_step(s: np.ndarray, x: np.ndarray, ln_beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Objective 1/ln b - 1/ln beta: near-linear in s where b vanishes like e^{-x^2/(2s^2)}."""
    e, f = _normalised_otm(x, s)
    ln_b = e + np.log(f)
    b_prime_over_b = np.exp(_vega_exponent(x, s) - e) / (_SQRT_2PI * f)
    b_halley, b_hh3 = _derivative_ratios(x, s)
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
    vega = np.exp(_vega_exponent(x, s)) / _SQRT_2PI
    halley, hh3 = _derivative_ratios(x, s)
    return _householder_step((beta - b) / vega, halley, hh3), b - beta


def _upper_step(s: np.ndarray, x: np.ndarray, ln_gap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Objective ln(b_max - beta) - ln(b_max - b): near-linear where b approaches b_max."""
    gap = _otm_gap(x, s)
    b_halley, b_hh3 = _derivative_ratios(x, s)
    g_prime = np.exp(_vega_exponent(x, s)) / (_SQRT_2PI * gap)
    excess = ln_gap - np.log(gap)
    halley = b_halley + g_prime
    hh3 = b_hh3 + g_prime * (2.0 * g_prime + 3.0 * b_halley)
    return _householder_step(-excess / g_prime, halley, hh3), excess
