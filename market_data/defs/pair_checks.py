"""Asset checks on ``historical_bars_utc``: crypto and currency pairs against their own
markets' hours, one evaluation per UTC day.

Crypto trades every minute of every day; forex from Sunday 17:00 to Friday 17:00 New
York, judged within the first and last minute the day's pairs have, so a holiday is
measured by what the market published (``quality.pair_minutes``). A pair may lack
``MARKET_DATA_PAIR_MISSING_TOLERANCE`` of its minutes (thin pairs skip minutes without
trades); one with no bar at all is an error.
"""

from datetime import date
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from market_data import settings
from market_data.calendar import UTC, utc_day_window
from market_data.datasets import UTC_DATASETS
from market_data.defs.checks import Evaluation, bar_sanity_of, failed_run_evaluations, per_day
from market_data.defs.partitions import utc_daily_partitions
from market_data.defs.resources import (
    BarStoreResource,
    PipelineSettingsResource,
    WarehouseResource,
)
from market_data.reports.quality import minute_coverage, pair_minutes
from market_data.transform.bar_store import BarsNotBuilt, BarStore

CHECKED_ASSET = AssetKey("historical_bars_utc")


def pair_missing_bars_on(
    day: date, conn: Any, underlyings: dict[str, frozenset[str]], tolerance: float
) -> Evaluation:
    """Each watched pair's bars of the UTC day against its market's minutes; a pair may
    lack ``tolerance`` of them (thin pairs skip minutes)."""
    problems, severity, checked, expected = [], AssetCheckSeverity.WARN, 0, {}
    for market, pairs in underlyings.items():
        symbols = sorted(pairs)
        if not symbols:
            continue
        ranges = pair_minutes(conn, day, market, symbols)
        expected[market] = sum(b - a for a, b in ranges) // 60_000
        checked += len(symbols)
        for c in minute_coverage(conn, day, symbols, ranges):
            if not c.expected or 1 - c.share <= tolerance:
                continue
            if not c.bars:
                severity = AssetCheckSeverity.ERROR
            problems.append(
                f"{c.symbol}: {c.expected - c.bars} of {c.expected} minutes missing"
                + (f" ({c.missing_text(UTC)} UTC)" if c.bars else " (no bars at all)")
            )
    metadata = {
        **{f"{market}_minutes_expected": minutes for market, minutes in expected.items()},
        "symbols_checked": checked,
        "symbols_short": len(problems),
        "missing": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
    }
    return not problems, severity, metadata


def _underlyings(store: BarStore, day: date) -> dict[str, frozenset[str]]:
    """Whose bars each market's day was loaded for."""
    found: dict[str, frozenset[str]] = {}
    for name, dataset in UTC_DATASETS.items():
        try:
            found[dataset.loads] = store.read(name, day).underlyings
        except BarsNotBuilt:
            found[dataset.loads] = frozenset()
    return found


def pair_missing_bars_of(day: date, conn: Any, store: BarStore, tolerance: float) -> Evaluation:
    return pair_missing_bars_on(day, conn, _underlyings(store, day), tolerance)


def pair_bar_sanity_of(day: date, conn: Any) -> Evaluation:
    return bar_sanity_of(day, conn, utc_day_window(day))


def pair_evaluations_of_a_failed_run(
    conn: Any, store: BarStore, loaded: list[date], failed: dict[date, str], tolerance: float
) -> list[AssetCheckEvaluation]:
    """``checks.failed_run_evaluations`` of ``historical_bars_utc``."""
    return failed_run_evaluations(
        CHECKED_ASSET,
        loaded,
        failed,
        lambda day: pair_missing_bars_of(day, conn, store, tolerance),
        lambda day: pair_bar_sanity_of(day, conn),
    )


@asset_check(
    asset=CHECKED_ASSET,
    name="missing_bars",
    partitions_def=utc_daily_partitions,
    description=(
        "1-minute bars per crypto or currency pair against its market's minutes of the UTC "
        "day: crypto 1,440; forex its Sunday-to-Friday hours within the day's published "
        f"span (holidays). A pair may miss MARKET_DATA_PAIR_MISSING_TOLERANCE "
        f"({settings.DEFAULT_PAIR_MISSING_TOLERANCE:.0%} unless set); none at all is an ERROR."
    ),
)
def pair_missing_bars(
    context: AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    bar_store: BarStoreResource,
    pipeline_settings: PipelineSettingsResource,
) -> AssetCheckResult:
    store, tolerance = bar_store.store(), pipeline_settings.pair_missing_tolerance
    with warehouse.connection() as conn:
        return per_day(
            context, "missing_bars", lambda day: pair_missing_bars_of(day, conn, store, tolerance)
        )


@asset_check(
    asset=CHECKED_ASSET,
    name="bar_sanity_check",
    partitions_def=utc_daily_partitions,
    description="OHLC sanity of the UTC day's bars: low <= open, close <= high; volume >= 0.",
)
def pair_bar_sanity(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    with warehouse.connection() as conn:
        return per_day(context, "bar_sanity_check", lambda day: pair_bar_sanity_of(day, conn))
