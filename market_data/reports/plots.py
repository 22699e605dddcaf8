"""The pictures people judge the data by: a coverage heatmap and a day's price chart, as PNG.

Drawn with matplotlib's Agg canvas on a ``Figure`` of its own (no pyplot, no display,
no global state), so assets can draw from worker threads and the tests can check pixels.
Each picture's size follows from what it shows (``HeatmapLayout``, ``price_chart_size``),
never from a tight bounding box, so a reader knows where a cell is.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import NullLocator
from PIL import Image

from market_data.calendar import MS_PER_MINUTE, NEW_YORK, Session

if TYPE_CHECKING:
    from market_data.options.surface import ExpirySurface

DPI = 100
TITLE_SIZE = 11
LABEL_SIZE = 8

# Coverage bands: under half a session is an error in ``verify``; 98 % is the stocks'
# default tolerance (MARKET_DATA_STOCK_MISSING_TOLERANCE); only 100 % is complete.
COVERAGE_BANDS: tuple[tuple[float, str, str], ...] = (
    # (lower bound of the band, colour, legend text)
    (0.0, "#b2182b", "< 50 %"),
    (0.5, "#f46d43", "50-90 %"),
    (0.9, "#fee08b", "90-98 %"),
    (0.98, "#a6d96a", "98-99.9 %"),
    (1.0, "#1a9850", "100 %"),
)
WEEKEND_COLOUR = "#f0f0f0"
HOLIDAY_COLOUR = "#d9d9d9"
HOLIDAY_HATCH_COLOUR = "#8c8c8c"
SESSION_SHADE = "#dbe9f6"
CLOSE_LINE = "#1f4e79"


def coverage_colour(share: float) -> tuple[float, float, float]:
    """The heatmap's colour for a share of expected minutes (RGB, 0..1)."""
    share = min(max(share, 0.0), 1.0)
    colour = COVERAGE_BANDS[0][1]
    for lower, band_colour, _ in COVERAGE_BANDS:
        if share >= lower:
            colour = band_colour
    return to_rgb(colour)


def _coverage_scale() -> tuple[ListedColormap, BoundaryNorm]:
    # 100 % gets a band of its own, just wide enough to hold 1.0 and nothing below it.
    bounds = [lower for lower, _, _ in COVERAGE_BANDS[:-1]] + [1.0 - 1e-9, 1.0 + 1e-9]
    cmap = ListedColormap([colour for _, colour, _ in COVERAGE_BANDS])
    return cmap, BoundaryNorm(bounds, cmap.N)


@dataclass(frozen=True)
class HeatmapLayout:
    """Where everything goes, in pixels from the top left, for ``symbols`` x ``days`` cells.

    Cells shrink as days and symbols grow (60 down to 5 px wide, 28 down to 14 px
    high), so 5 days and 250 days are both readable; the grid is never narrower than
    the legend beneath it.
    """

    symbols: int
    days: int
    grid_width: int
    grid_height: int

    LEFT = 90  # symbol labels
    RIGHT = 24
    TOP = 64  # title and subtitle
    BOTTOM = 150  # date labels, then the colour legend
    MIN_GRID_WIDTH = 560

    @classmethod
    def for_grid(cls, symbols: int, days: int) -> HeatmapLayout:
        symbols, days = max(symbols, 1), max(days, 1)
        cell_width = min(max(1000 / days, 5.0), 60.0)
        cell_height = min(max(560 / symbols, 14.0), 28.0)
        return cls(
            symbols,
            days,
            grid_width=max(round(days * cell_width), cls.MIN_GRID_WIDTH),
            grid_height=round(symbols * cell_height),
        )

    @property
    def width(self) -> int:
        return self.LEFT + self.grid_width + self.RIGHT

    @property
    def height(self) -> int:
        return self.TOP + self.grid_height + self.BOTTOM

    @property
    def cell_width(self) -> float:
        return self.grid_width / self.days

    @property
    def cell_height(self) -> float:
        return self.grid_height / self.symbols

    def cell_box(self, row: int, column: int) -> tuple[float, float, float, float]:
        """The cell of symbol ``row`` and day ``column``: left, top, right, bottom (px)."""
        left = self.LEFT + column * self.cell_width
        top = self.TOP + row * self.cell_height
        return left, top, left + self.cell_width, top + self.cell_height

    def fraction(
        self, left: float, top: float, width: float, height: float
    ) -> tuple[float, float, float, float]:
        """A pixel box as the figure fractions matplotlib places axes with."""
        return (
            left / self.width,
            1 - (top + height) / self.height,
            width / self.width,
            height / self.height,
        )


def _png(figure: Figure) -> bytes:
    """The figure as an RGB PNG at zlib level 3: half the encoding time of matplotlib's
    RGBA at level 6 and 10 % fewer bytes, for pictures drawn in every run (the figures are
    opaque, so the alpha channel carried nothing). Every pixel is kept: a palette would
    shift the coverage colours or cost more than it saves."""
    canvas = FigureCanvasAgg(figure)
    # matplotlib's Agg canvas methods have no annotations (the library's own gap).
    canvas.draw()  # type: ignore[no-untyped-call]
    rgba = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
    pixels = Image.frombuffer("RGBA", canvas.get_width_height(), rgba)
    buffer = io.BytesIO()
    pixels.convert("RGB").save(buffer, format="png", compress_level=3)
    return buffer.getvalue()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _date_ticks(days: Sequence[date], cell_width: float) -> list[int]:
    """Every day while a rotated label fits a cell; otherwise Mondays, every few weeks."""
    if cell_width >= 12:
        return list(range(len(days)))
    every_weeks = max(1, math.ceil(12 / (7 * cell_width)))
    mondays = [i for i, d in enumerate(days) if d.weekday() == 0]
    return mondays[::every_weeks]


def coverage_heatmap_png(
    symbols: Sequence[str], days: Sequence[date], shares: Sequence[Sequence[float | None]]
) -> bytes:
    """Symbols down, calendar days across; colour = share of the session's expected minutes.

    ``shares[i][j]`` is symbol i on day j, None where no session was expected: those
    columns are drawn as weekends (plain grey) or holidays (hatched grey), so they
    never read as missing data.
    """
    layout = HeatmapLayout.for_grid(len(symbols), len(days))
    figure = Figure(figsize=(layout.width / DPI, layout.height / DPI), dpi=DPI)
    ax = figure.add_axes(
        layout.fraction(layout.LEFT, layout.TOP, layout.grid_width, layout.grid_height)
    )
    values = np.array(
        [[np.nan if s is None else min(max(s, 0.0), 1.0) for s in row] for row in shares],
        dtype=float,
    ).reshape(len(symbols), len(days))
    cmap, norm = _coverage_scale()
    grid_lines = layout.cell_width >= 8 and layout.cell_height >= 8
    ax.pcolormesh(
        np.ma.masked_invalid(values),
        cmap=cmap,
        norm=norm,
        edgecolors="white" if grid_lines else "none",
        linewidth=1 if grid_lines else 0,
    )
    for column, day in enumerate(days):
        if not np.isnan(values[:, column]).all():
            continue
        weekend = day.weekday() >= 5
        ax.add_patch(
            Rectangle(
                (column, 0),
                1,
                len(symbols),
                facecolor=WEEKEND_COLOUR if weekend else HOLIDAY_COLOUR,
                edgecolor=HOLIDAY_HATCH_COLOUR,
                hatch=None if weekend else "///",
                linewidth=0,
            )
        )
    if layout.cell_width >= 34 and layout.cell_height >= 20:
        for (row, column), share in np.ndenumerate(values):
            if not np.isnan(share) and share < 1:
                ax.text(
                    column + 0.5,
                    row + 0.5,
                    f"{math.floor(share * 100)}%",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="#222222",
                )
    ax.set_xlim(0, len(days))
    ax.set_ylim(len(symbols), 0)  # first symbol on top
    ax.set_yticks([i + 0.5 for i in range(len(symbols))], list(symbols))
    ax.tick_params(axis="y", length=0, labelsize=9 if layout.cell_height >= 20 else 7)
    ticks = _date_ticks(days, layout.cell_width)
    ax.set_xticks([i + 0.5 for i in ticks], [days[i].strftime("%a %m-%d") for i in ticks])
    ax.tick_params(axis="x", labelsize=LABEL_SIZE, labelrotation=90, length=2)
    for side in ax.spines.values():
        side.set_visible(False)

    sessions = int((~np.isnan(values)).any(axis=0).sum())
    span = f"{days[0]} … {days[-1]}" if days else "no days"
    figure.text(
        layout.LEFT / layout.width,
        1 - 22 / layout.height,
        f"Coverage of regular-session minutes, {span}",
        fontsize=TITLE_SIZE,
        weight="bold",
    )
    figure.text(
        layout.LEFT / layout.width,
        1 - 42 / layout.height,
        f"{_count(len(symbols), 'symbol')} x {_count(len(days), 'day')} "
        f"({_count(sessions, 'session')}); "
        "colour: share of the session's expected 1-minute bars",
        fontsize=LABEL_SIZE,
        color="#555555",
    )

    legend_top = layout.TOP + layout.grid_height + 92
    bar = figure.add_axes(layout.fraction(layout.LEFT, legend_top, 300, 12))
    bar.imshow(
        np.arange(len(COVERAGE_BANDS))[np.newaxis, :],
        cmap=cmap,
        aspect="auto",
        norm=BoundaryNorm(np.arange(len(COVERAGE_BANDS) + 1) - 0.5, cmap.N),
    )
    bar.set_xticks(range(len(COVERAGE_BANDS)), [text for _, _, text in COVERAGE_BANDS])
    bar.set_yticks([])
    bar.tick_params(axis="x", labelsize=7, length=0)
    bar.set_title("share of expected minutes", fontsize=LABEL_SIZE, loc="left")
    figure.legend(
        handles=[
            Patch(facecolor=WEEKEND_COLOUR, edgecolor="#bbbbbb", label="weekend"),
            Patch(
                facecolor=HOLIDAY_COLOUR,
                edgecolor=HOLIDAY_HATCH_COLOUR,
                hatch="///",
                label="market holiday",
            ),
        ],
        loc="upper left",
        bbox_to_anchor=((layout.LEFT + 330) / layout.width, 1 - (legend_top - 14) / layout.height),
        fontsize=LABEL_SIZE,
        frameon=False,
        title="no session expected",
        title_fontsize=LABEL_SIZE,
        ncols=2,
    )
    return _png(figure)


def write_coverage_heatmap(
    path: Path,
    symbols: Sequence[str],
    days: Sequence[date],
    shares: Sequence[Sequence[float | None]],
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(coverage_heatmap_png(symbols, days, shares))
    return path


# The price chart: one panel per symbol, stacked, since their prices differ in scale.
CHART_WIDTH = 900
CHART_TOP = 56
CHART_BOTTOM = 40
CHART_PANEL = 110
CHART_GAP_MINUTES = 5


def price_chart_size(symbols: int) -> tuple[int, int]:
    """Width and height in pixels of a day's chart of ``symbols`` symbols."""
    return CHART_WIDTH, CHART_TOP + CHART_BOTTOM + CHART_PANEL * max(symbols, 1)


def _new_york_hours(timestamps_ms: np.ndarray) -> np.ndarray:
    """Hours since New York midnight (wall clock), so 09:30 is 9.5 on any DST day."""
    local = pd.to_datetime(timestamps_ms, unit="ms", utc=True).tz_convert(NEW_YORK)
    return np.asarray(local.hour + local.minute / 60 + local.second / 3600, dtype=float)


def _broken_at_gaps(starts_ms: np.ndarray, closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hours and closes with a NaN where more than a few minutes are missing, so a gap
    shows as a gap instead of a straight line across it (a stock's quiet minute does not)."""
    gaps = np.flatnonzero(np.diff(starts_ms) > CHART_GAP_MINUTES * MS_PER_MINUTE) + 1
    hours = np.insert(_new_york_hours(starts_ms), gaps, np.nan)
    return hours, np.insert(closes, gaps, np.nan)


# Room left of the bands for a symbol's name (NVDA, X:BTCUSD).
PRICE_CHART_LEFT = 80


def price_chart_png(
    day: date,
    closes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    regular: Session | None,
) -> bytes:
    """Each symbol's close by minute over the New York day, its regular session shaded.

    ``closes`` maps a symbol to (bar starts in epoch ms, closes); a symbol without bars
    gets an empty panel that says so, since a missing symbol is what one looks for.

    The panels are bands of one axes, each scaled to its symbol's own low and high (written
    at its left): ten axes of their own, with their ticks, took most of a one-day run's
    data work to draw (0.3 s against 0.05 s).
    """
    symbols = list(closes) or ["(no symbols)"]
    width, height = price_chart_size(len(symbols))
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    ax = figure.add_axes(
        (
            PRICE_CHART_LEFT / width,
            CHART_BOTTOM / height,
            1 - (PRICE_CHART_LEFT + 20) / width,
            1 - (CHART_TOP + CHART_BOTTOM) / height,
        )
    )
    if regular is None:
        shaded = "no regular session (weekend or holiday)"
    else:
        opens_closes = _new_york_hours(np.array([regular.open_ms, regular.close_ms]))
        hours = (float(opens_closes[0]), float(opens_closes[1]))
        ax.axvspan(*hours, color=SESSION_SHADE, linewidth=0)
        closing = f"{int(hours[1]):02d}:{round(hours[1] % 1 * 60):02d}"
        shaded = f"shaded: regular session 09:30-{closing}" + (
            " (early close)" if regular.early_close else ""
        )
    n = len(symbols)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    label = {"fontsize": 7, "color": "#555555", "ha": "left"}
    for i, symbol in enumerate(symbols):
        bottom = n - 1 - i  # the first symbol on top; each band 1 high, 10 % margin each side
        ax.text(-0.012, (bottom + 0.5) / n, symbol, transform=ax.transAxes, fontsize=9,
                ha="right", va="center")  # fmt: skip
        starts, values = closes.get(symbol, (np.array([]), np.array([])))
        if not len(starts):
            ax.text(12, bottom + 0.5, "no bars", ha="center", va="center", color="#b2182b")
            continue
        hours_, prices = _broken_at_gaps(np.asarray(starts), np.asarray(values, dtype=float))
        low, high = float(np.nanmin(prices)), float(np.nanmax(prices))
        span = high - low
        scaled = np.full_like(prices, 0.5) if span == 0 else 0.1 + 0.8 * (prices - low) / span
        xs += [hours_, np.array([np.nan])]
        ys += [bottom + scaled, np.array([np.nan])]
        ax.text(0.15, bottom + 0.9, f"{high:,.2f}", va="top", **label)  # type: ignore[arg-type]
        ax.text(0.15, bottom + 0.1, f"{low:,.2f}", va="bottom", **label)  # type: ignore[arg-type]
    if xs:  # every symbol's line, one artist
        ax.plot(np.concatenate(xs), np.concatenate(ys), color=CLOSE_LINE, linewidth=0.9)
    ax.hlines(range(1, n), 0, 24, color="#bbbbbb", linewidth=0.8)
    ax.set_ylim(0, n)
    ax.yaxis.set_major_locator(NullLocator())
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 2), [f"{h:02d}:00" for h in range(0, 25, 2)])
    ax.tick_params(labelsize=7)
    ax.set_xlabel("New York time", fontsize=LABEL_SIZE)
    figure.text(
        PRICE_CHART_LEFT / width,
        1 - 22 / height,
        f"{', '.join(closes) or 'No symbols'} on {day:%a %Y-%m-%d}: close by minute",
        fontsize=TITLE_SIZE,
        weight="bold",
    )
    figure.text(
        PRICE_CHART_LEFT / width, 1 - 40 / height, shaded, fontsize=LABEL_SIZE, color="#555555"
    )
    return _png(figure)


def png_markdown(png: bytes, alt: str, caption: str = "") -> str:
    """A PNG inline in Dagster's markdown metadata (a data URI), with a caption for text readers."""
    encoded = base64.b64encode(png).decode()
    return f"![{alt}](data:image/png;base64,{encoded})" + (f"\n\n{caption}" if caption else "")


def calendar_days(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``: the heatmap's columns, weekends included."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


SURFACE_PANEL = 260  # pixels per underlying
SURFACE_TITLES = 24  # pixels for the panels' titles below the figure's
SMILE_EXPIRATIONS = 4  # the nearest expirations drawn in the smile panel
TERM_COLOURS = {"ATM": "#1f4e79", "25-delta put": "#b2182b", "25-delta call": "#1a9850"}


def option_surface_png(day: date, surfaces: Mapping[str, Sequence[ExpirySurface]]) -> bytes:
    """Per underlying: the IV term structure (ATM, 25-delta put and call by days to
    expiry) and the smile (out-of-the-money IV by log-moneyness) of the nearest
    expirations, at the session's close of ``day``."""
    underlyings = list(surfaces) or ["(no underlying with options)"]
    top = CHART_TOP + SURFACE_TITLES  # the panels have titles of their own
    width, height = CHART_WIDTH, top + CHART_BOTTOM + SURFACE_PANEL * len(underlyings)
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    figure.subplots_adjust(
        left=70 / width,
        right=1 - 20 / width,
        top=1 - top / height,
        bottom=CHART_BOTTOM / height,
        hspace=0.45,
        wspace=0.25,
    )
    axes = figure.subplots(len(underlyings), 2, squeeze=False)
    for (term, smile), underlying in zip(axes, underlyings, strict=True):
        expiries = list(surfaces.get(underlying, ()))
        days = np.array([s.t_years * 365 for s in expiries])
        for label, values in (
            ("ATM", [s.atm_iv for s in expiries]),
            ("25-delta put", [s.put25_iv for s in expiries]),
            ("25-delta call", [s.call25_iv for s in expiries]),
        ):
            iv = np.array([np.nan if v is None else 100 * v for v in values], dtype=float)
            if np.isfinite(iv).any():
                term.plot(
                    days,
                    iv,
                    marker="o",
                    markersize=3,
                    linewidth=1,
                    label=label,
                    color=TERM_COLOURS[label],
                )
        term.set_title(f"{underlying}: term structure", fontsize=9, loc="left")
        term.set_xlabel("days to settlement", fontsize=LABEL_SIZE)
        term.set_ylabel("IV %", fontsize=LABEL_SIZE)
        for expiry in [e for e in expiries if e.smile.iv.size][:SMILE_EXPIRATIONS]:
            order = np.argsort(expiry.smile.log_moneyness)
            smile.plot(
                expiry.smile.log_moneyness[order],
                100 * expiry.smile.iv[order],
                marker=".",
                markersize=3,
                linewidth=0.9,
                label=f"{expiry.root} {expiry.expiration:%Y-%m-%d}",
            )
        smile.set_title(f"{underlying}: smile, nearest expirations", fontsize=9, loc="left")
        smile.set_xlabel("ln(K / F)", fontsize=LABEL_SIZE)
        for ax in (term, smile):
            ax.tick_params(labelsize=7)
            ax.grid(color="#e6e6e6", linewidth=0.6)
            if ax.lines:
                ax.legend(fontsize=7, frameon=False)
            else:
                ax.text(
                    0.5,
                    0.5,
                    "no implied volatility",
                    ha="center",
                    va="center",
                    color="#b2182b",
                    transform=ax.transAxes,
                )
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
    figure.text(
        70 / width,
        1 - 22 / height,
        f"Implied volatility at the close of {day:%a %Y-%m-%d}",
        fontsize=TITLE_SIZE,
        weight="bold",
    )
    figure.text(
        70 / width,
        1 - 40 / height,
        "out-of-the-money options; forward from put-call parity; 25-delta = forward delta",
        fontsize=LABEL_SIZE,
        color="#555555",
    )
    return _png(figure)
