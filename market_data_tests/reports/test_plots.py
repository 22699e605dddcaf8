"""The heatmap and price chart as PNGs: they decode, their size follows from what they show,
and a cell's colour is its coverage band."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from market_data.calendar import day_window, session
from market_data.options.surface import ExpirySurface, Smile
from market_data.reports.plots import (
    CHART_BOTTOM,
    CHART_TOP,
    CHART_WIDTH,
    HOLIDAY_COLOUR,
    HOLIDAY_HATCH_COLOUR,
    PRICE_CHART_LEFT,
    SURFACE_PANEL,
    SURFACE_TITLES,
    TERM_COLOURS,
    WEEKEND_COLOUR,
    HeatmapLayout,
    calendar_days,
    coverage_colour,
    coverage_heatmap_png,
    option_surface_png,
    price_chart_png,
    price_chart_size,
)


def decode(png: bytes) -> np.ndarray:
    """RGB floats, rows from the top, as a viewer shows the picture."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return imread(io.BytesIO(png), format="png")[:, :, :3]


def pixel(image: np.ndarray, x: float, y: float) -> tuple[float, ...]:
    return tuple(float(v) for v in image[int(y), int(x)])


def close_to(actual: tuple[float, ...], wanted: tuple[float, ...]) -> bool:
    return max(abs(a - w) for a, w in zip(actual, wanted, strict=True)) < 2 / 255


def shares_for(symbols: int, days: list[date], share: float = 1.0) -> list[list[float | None]]:
    return [[share if session(d) else None for d in days] for _ in range(symbols)]


@pytest.mark.parametrize(
    ("symbols", "first", "last"),
    [
        (1, date(2025, 11, 24), date(2025, 11, 28)),  # 5 days
        (4, date(2025, 10, 27), date(2025, 11, 30)),  # the demo's five weeks
        (50, date(2025, 1, 1), date(2025, 12, 31)),  # 250 sessions
    ],
)
def test_the_heatmap_size_follows_symbols_and_days(symbols, first, last):
    days = calendar_days(first, last)
    image = decode(
        coverage_heatmap_png([f"S{i}" for i in range(symbols)], days, shares_for(symbols, days))
    )
    layout = HeatmapLayout.for_grid(symbols, len(days))
    assert image.shape[:2] == (layout.height, layout.width)
    # Readable at both ends: cells at least 5 px wide and 14 px high, a picture a screen holds.
    assert layout.cell_width >= 5 and layout.cell_height >= 14
    assert layout.width <= 2000 and layout.height <= 1000


def test_each_cell_has_the_colour_of_its_coverage():
    symbols = ["SPX", "NDX", "SPY"]
    days = calendar_days(date(2025, 11, 24), date(2025, 11, 30))  # Thanksgiving, a weekend
    shares = shares_for(3, days)
    shares[0][2] = 0.846  # SPX Wednesday: an hour missing
    shares[1][0] = 0.0  # NDX Monday: nothing loaded
    shares[2][1] = 0.99  # SPY Tuesday: within the stocks' tolerance
    shares[2][4] = 0.4  # SPY Friday: most of the early close missing
    image = decode(coverage_heatmap_png(symbols, days, shares))
    layout = HeatmapLayout.for_grid(len(symbols), len(days))

    def colour(row: int, column: int) -> tuple[float, ...]:
        # Left of centre: a partial cell carries its percentage in the middle.
        left, top, right, bottom = layout.cell_box(row, column)
        return pixel(image, left + (right - left) * 0.15, (top + bottom) / 2)

    for row, column, share in [
        (0, 2, 0.846),
        (1, 0, 0.0),
        (2, 1, 0.99),
        (2, 4, 0.4),
        (0, 0, 1.0),
        (1, 4, 1.0),
    ]:
        assert close_to(colour(row, column), coverage_colour(share)), (row, column, share)
    assert coverage_colour(1.0) != coverage_colour(0.99) != coverage_colour(0.0)
    # The holiday and the weekend are neither missing (red) nor complete (green).
    weekend = colour(1, 5)
    assert close_to(weekend, to_rgb(WEEKEND_COLOUR))
    holiday = colour(1, 3)
    assert close_to(holiday, to_rgb(HOLIDAY_COLOUR)) or close_to(
        holiday, to_rgb(HOLIDAY_HATCH_COLOUR)
    )
    for share in (0.0, 0.5, 1.0):
        assert not close_to(weekend, coverage_colour(share))
        assert not close_to(holiday, coverage_colour(share))


def test_the_price_chart_has_a_panel_per_symbol_and_shades_the_session():
    day = date(2025, 11, 28)  # early close at 13:00
    window = day_window(day)
    starts = np.arange(window.start_ms + 4 * 3_600_000, window.start_ms + 20 * 3_600_000, 60_000)
    closes = {
        "SPX": (starts, 5900 + np.sin(np.arange(starts.size) / 50)),
        "QQQ": (np.array([], dtype=np.int64), np.array([])),
    }
    image = decode(price_chart_png(day, closes, session(day)))
    assert image.shape[:2] == price_chart_size(2)[::-1]
    assert price_chart_size(4)[1] > price_chart_size(2)[1]
    # The shaded session spans 09:30 to 13:00 on the 0..24 h axis.
    width = image.shape[1]
    left, right = PRICE_CHART_LEFT, width - 20
    hour = (right - left) / 24
    row = image[:, int(left + 11 * hour)]  # 11:00: inside the session
    assert any(close_to(tuple(float(v) for v in p), to_rgb("#dbe9f6")) for p in row)
    row = image[:, int(left + 14 * hour)]  # 14:00: after the early close
    assert not any(close_to(tuple(float(v) for v in p), to_rgb("#dbe9f6")) for p in row)


def test_a_long_symbol_beside_five_digit_prices_is_not_cut_off():
    day = date(2025, 11, 25)
    window = day_window(day)
    starts = np.arange(window.start_ms + 4 * 3_600_000, window.start_ms + 20 * 3_600_000, 60_000)
    ramp = np.linspace(0, 1, starts.size)
    closes = {"NVDA": (starts, 19_500 + 400 * ramp), "NDX": (starts, 19_900 - 300 * ramp)}
    image = decode(price_chart_png(day, closes, session(day)))
    # Nothing drawn in the leftmost pixels: the labels end inside the picture.
    assert (image[:, :6] > 0.9).all()


def _surface(expiration: date, atm: float, days: float) -> ExpirySurface:
    moneyness = np.linspace(-0.1, 0.1, 9)
    return ExpirySurface(
        root="SPY",
        expiration=expiration,
        t_years=days / 365,
        forward=600.0,
        forward_source="parity",
        parity_spread=0.01,
        parity_tolerance=0.05,
        atm_iv=atm,
        put25_iv=atm + 0.03,
        call25_iv=atm + 0.01,
        contracts=18,
        near_money=4,
        near_money_solved=4,
        smile=Smile(moneyness, atm + 2 * moneyness**2),
    )


def test_the_option_surface_draws_each_underlyings_term_structure_and_smile():
    surfaces = {
        "SPY": [_surface(date(2025, 11, 21), 0.16, 2), _surface(date(2025, 12, 19), 0.18, 30)],
        "QQQ": [],  # watched with options, but no IV: its panels say so
    }
    image = decode(option_surface_png(date(2025, 11, 19), surfaces))
    height, width = image.shape[:2]
    assert (width, height) == (
        CHART_WIDTH,
        CHART_TOP + SURFACE_TITLES + CHART_BOTTOM + 2 * SURFACE_PANEL,
    )
    # The ATM line's colour appears in the first underlying's term-structure panel only.
    atm = to_rgb(TERM_COLOURS["ATM"])
    top_left = image[CHART_TOP : CHART_TOP + SURFACE_PANEL, : width // 2, :3]
    bottom_left = image[
        height - CHART_BOTTOM - SURFACE_PANEL + 40 : height - CHART_BOTTOM, : width // 2, :3
    ]
    assert np.isclose(top_left, atm, atol=0.02).all(axis=-1).any()
    assert not np.isclose(bottom_left, atm, atol=0.02).all(axis=-1).any()


def test_the_price_chart_draws_a_flat_day_and_a_missing_symbol():
    day = date(2025, 11, 24)
    window = day_window(day)
    starts = np.arange(window.start_ms + 10 * 3_600_000, window.start_ms + 11 * 3_600_000, 60_000)
    closes = {
        "SPX": (starts, np.full(starts.size, 5900.0)),  # one price all hour: its band's middle
        "QQQ": (np.array([], dtype=np.int64), np.array([])),
    }
    image = decode(price_chart_png(day, closes, session(day)))
    assert image.shape[:2] == price_chart_size(2)[::-1]
