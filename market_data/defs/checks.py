"""Asset checks on ``historical_bars``, one evaluation per day so the UI shows each partition.

In a run of several days, each day's evaluation is logged with its partition, and the
check's own result summarises the range.
"""

from collections.abc import Callable
from datetime import date
from typing import Any

import psycopg
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    MetadataValue,
    asset_check,
)

from market_data import settings
from market_data.calendar import DayWindow, parse_day, session
from market_data.dagster_internals import AssetCheckEvaluationTargetMaterializationData
from market_data.datasets import DATASETS
from market_data.defs.partitions import daily_partitions
from market_data.defs.resources import (
    BarStoreResource,
    PipelineSettingsResource,
    WarehouseResource,
)
from market_data.reports.quality import bar_sanity, session_coverage
from market_data.transform.bar_store import BarsNotBuilt, BarStore

CHECKED_ASSET = AssetKey("historical_bars")

# Below this share of the session a day is mostly missing: an error, not a warning.
ERROR_SHARE = 0.5

Evaluation = tuple[bool, AssetCheckSeverity, dict[str, Any]]
# Set on a run of one partition (a range run, even of one day, has range tags instead).
PARTITION_TAG = "dagster/partition"


# What a failing range run records for the checks of the days it did and did not load.
# (connection, bar store, days loaded, days failed and why, the missing-minutes tolerance)
FailedRunChecks = Callable[
    [Any, BarStore, list[date], dict[date, str], float], list[AssetCheckEvaluation]
]


def judging(instance: DagsterInstance, evaluation: AssetCheckEvaluation) -> AssetCheckEvaluation:
    """``evaluation`` naming the latest materialization of its partition, as Dagster's own
    check step does: the check's partitions tab counts only an evaluation that names it."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(
            asset_key=evaluation.asset_key, asset_partitions=[evaluation.partition or ""]
        ),
        limit=1,
    ).records
    if not records:
        return evaluation  # a day not loaded: nothing to judge but its absence
    latest = records[0]
    return AssetCheckEvaluation(
        asset_key=evaluation.asset_key,
        check_name=evaluation.check_name,
        passed=evaluation.passed,
        severity=evaluation.severity,
        metadata=evaluation.metadata,
        partition=evaluation.partition,
        target_materialization_data=AssetCheckEvaluationTargetMaterializationData(
            storage_id=latest.storage_id, run_id=latest.run_id, timestamp=latest.timestamp
        ),
    )


def per_day(
    context: AssetCheckExecutionContext, name: str, evaluate: Callable[[date], Evaluation]
) -> AssetCheckResult:
    """Evaluate ``name`` for each day of the run: one result in a one-partition run, else
    (a range, even of one day, whose result Dagster would store without its partition) one
    evaluation per partition and a summary."""
    days = [parse_day(k) for k in context.partition_keys]
    results = {day: evaluate(day) for day in days}
    if PARTITION_TAG in context.op_execution_context.run.tags:
        passed, severity, metadata = results[days[0]]
        return AssetCheckResult(passed=passed, severity=severity, metadata=metadata)
    for day, (passed, severity, metadata) in results.items():
        # Dagster records a check evaluation logged this way per partition, though the
        # method's annotation names only materializations and observations.
        evaluation = AssetCheckEvaluation(
            asset_key=context.check_specs[0].asset_key,
            check_name=name,
            passed=passed,
            severity=severity,
            metadata=metadata,
            partition=day.isoformat(),
        )
        context.op_execution_context.log_event(
            judging(context.instance, evaluation)  # type: ignore[arg-type]
        )
    failed = sorted(d.isoformat() for d, (passed, _, _) in results.items() if not passed)
    worst = max(
        (s for passed, s, _ in results.values() if not passed),
        key=lambda s: s == AssetCheckSeverity.ERROR,
        default=AssetCheckSeverity.WARN,
    )
    return AssetCheckResult(
        passed=not failed,
        severity=worst,
        metadata={"days": len(days), "days_failed": MetadataValue.text(", ".join(failed) or "-")},
    )


def missing_bars_on(
    day: date,
    conn: psycopg.Connection,
    underlyings: dict[str, frozenset[str]],
    stock_tolerance: float,
) -> Evaluation:
    """Regular-session bars of the day's indices and stocks against the calendar; a stock
    may lack ``stock_tolerance`` of the session's minutes."""
    regular = session(day)
    if regular is None:
        return (
            True,
            AssetCheckSeverity.WARN,
            {"session": "none (weekend or holiday): no bars expected"},
        )
    # A stock or ETF may lack a bar in a minute without trades: this share may be missing.
    tolerance = {"indices": 0.0, "stocks": stock_tolerance}
    problems, severity, checked = [], AssetCheckSeverity.WARN, 0
    for dataset, allowed in tolerance.items():
        symbols = sorted(underlyings.get(dataset, ()))
        checked += len(symbols)
        for c in session_coverage(conn, day, symbols):
            if 1 - c.share <= allowed:
                continue
            if c.share < ERROR_SHARE:
                severity = AssetCheckSeverity.ERROR
            problems.append(
                f"{c.symbol}: {c.expected - c.bars} of {c.expected} minutes missing"
                + (f" ({c.missing_text()})" if c.bars else " (no bars at all)")
            )
    metadata = {
        "session_minutes": regular.minutes,
        "early_close": regular.early_close,
        "symbols_checked": checked,
        "symbols_short": len(problems),
        "missing": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
    }
    return not problems, severity, metadata


def missing_bars_of(
    day: date, conn: psycopg.Connection, store: BarStore, stock_tolerance: float
) -> Evaluation:
    return missing_bars_on(day, conn, _underlyings(store, day), stock_tolerance)


def bar_sanity_of(
    day: date, conn: psycopg.Connection, window: DayWindow | None = None
) -> Evaluation:
    """OHLC sanity of the day's bars (a New York day unless ``window`` says otherwise)."""
    found = bar_sanity(conn, day, window)
    bad = {k: v for k, v in found.items() if k != "bars" and v}
    return not bad, AssetCheckSeverity.ERROR, {k: int(v) for k, v in found.items()}


def failed_run_evaluations(
    asset_key: AssetKey,
    loaded: list[date],
    failed: dict[date, str],
    missing_bars_of_day: Callable[[date], Evaluation],
    bar_sanity_of_day: Callable[[date], Evaluation],
) -> list[AssetCheckEvaluation]:
    """The checks' verdicts when a table asset fails part of a range: the check steps do
    not run after a failed step, so it records them itself. A day that could not be
    loaded fails ``missing_bars`` with the reason; a loaded day is checked as usual."""
    verdicts: list[tuple[str, date, Evaluation]] = []
    for day in loaded:
        verdicts.append(("missing_bars", day, missing_bars_of_day(day)))
        verdicts.append(("bar_sanity_check", day, bar_sanity_of_day(day)))
    for day, why in sorted(failed.items()):
        metadata = {"not_loaded": MetadataValue.text(why)}
        verdicts.append(("missing_bars", day, (False, AssetCheckSeverity.ERROR, metadata)))
    return [
        AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=name,
            passed=passed,
            severity=severity,
            metadata=metadata,
            partition=day.isoformat(),
        )
        for name, day, (passed, severity, metadata) in verdicts
    ]


def evaluations_of_a_failed_run(
    conn: Any, store: BarStore, loaded: list[date], failed: dict[date, str], tolerance: float
) -> list[AssetCheckEvaluation]:
    """``failed_run_evaluations`` of ``historical_bars``."""
    return failed_run_evaluations(
        CHECKED_ASSET,
        loaded,
        failed,
        lambda day: missing_bars_of(day, conn, store, tolerance),
        lambda day: bar_sanity_of(day, conn),
    )


def _underlyings(store: BarStore, day: date) -> dict[str, frozenset[str]]:
    """Whose bars the day was loaded for (options are exempt from completeness)."""
    found = {}
    for name in ("indices", "stocks"):
        try:
            found[name] = store.read(DATASETS[name].name, day).underlyings
        except BarsNotBuilt:
            found[name] = frozenset()
    return found


@asset_check(
    asset=CHECKED_ASSET,
    partitions_def=daily_partitions,
    description=(
        "Regular-session 1-minute bars per symbol against the NYSE calendar: 390 a day, 210 "
        "on an early close, none on a holiday. Indices must be complete; stocks may miss "
        f"MARKET_DATA_STOCK_MISSING_TOLERANCE ({settings.DEFAULT_STOCK_MISSING_TOLERANCE:.0%} unless "
        "set: minutes without trades); options are exempt. WARN for a "
        f"shortfall, ERROR below {ERROR_SHARE:.0%} of the session."
    ),
)
def missing_bars(
    context: AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    bar_store: BarStoreResource,
    pipeline_settings: PipelineSettingsResource,
) -> AssetCheckResult:
    store, tolerance = bar_store.store(), pipeline_settings.stock_missing_tolerance
    with warehouse.connection() as conn:
        return per_day(
            context, "missing_bars", lambda day: missing_bars_of(day, conn, store, tolerance)
        )


@asset_check(
    asset=CHECKED_ASSET,
    partitions_def=daily_partitions,
    description=(
        "OHLC sanity of the day's bars: low <= open, close <= high; volume >= 0; bar start "
        "on a whole minute. Duplicates cannot exist: (symbol, timeframe, timestamp) is the key."
    ),
)
def bar_sanity_check(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    with warehouse.connection() as conn:
        return per_day(context, "bar_sanity_check", lambda day: bar_sanity_of(day, conn))
