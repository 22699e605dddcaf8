"""The asset graph: per dataset a raw day file and its bars, then ``historical_bars``.

The asset functions are thin: for each day of the run they call the plain steps of
``market_data.pipeline`` and report what happened. Runs may cover one day or a
range of days, which are handled side by side, each loaded on its own
(``defs/day_runs.py`` says what a failed day does to the others).
"""

import time
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import psycopg
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from market_data.calendar import session
from market_data.datasets import DATASETS, UTC_DATASETS, Dataset
from market_data.defs.checks import FailedRunChecks, evaluations_of_a_failed_run, judging
from market_data.defs.day_runs import for_each_day, raise_failures, run_days
from market_data.defs.pair_checks import pair_evaluations_of_a_failed_run
from market_data.defs.partitions import (
    backfill_policy,
    daily_partitions,
    partitions_for,
    utc_daily_partitions,
)
from market_data.defs.resources import (
    BarStoreResource,
    FlatFilesResource,
    PipelineSettingsResource,
    RestApiResource,
    WarehouseResource,
)
from market_data.defs.run_symbols import run_symbols
from market_data.pipeline import build_bars, land_day_file, load_bars
from market_data.reports.plots import (
    calendar_days,
    coverage_heatmap_png,
    png_markdown,
    price_chart_png,
)
from market_data.reports.quality import coverage_shares, day_closes
from market_data.run_tags import FETCH_TAG
from market_data.warehouse.load import LoadResult

# Stale when nothing was loaded between the close and 19:00 ET on a weekday: the daily
# 17:00 run loads the day (from REST until its file is out).
LATEST_SESSION_BY_EVENING = FreshnessPolicy.cron(
    deadline_cron="0 19 * * 1-5", lower_bound_delta=timedelta(hours=3), timezone="America/New_York"
)


def skipped(context: AssetExecutionContext, dataset: Dataset) -> MaterializeResult[Any]:
    """A dataset none of the run's symbols is in: nothing fetched, parsed or replaced."""
    reason = f"no symbol of this run is in {dataset.name}"
    context.log.info(f"{reason}: not fetched, not parsed, its stored bars left as they are")
    return MaterializeResult(
        metadata={**_days_metadata(run_days(context)), "skipped": MetadataValue.text(reason)}
    )


def _days_metadata(days: Iterable[date]) -> dict[str, MetadataValue]:
    days = sorted(days)
    if not days:
        return {"days": MetadataValue.int(0)}
    span = days[0].isoformat() if len(days) == 1 else f"{days[0]} … {days[-1]}"
    return {"days": MetadataValue.int(len(days)), "partition_span": MetadataValue.text(span)}


def _phase_metadata(phases: Iterable[dict[str, float]]) -> dict[str, MetadataValue]:
    """Seconds per phase (HEAD, GET, write, decompress, scan …) summed over the run's days:
    where a download's time went."""
    totals: dict[str, float] = {}
    for day in phases:
        for phase, seconds in day.items():
            totals[phase] = totals.get(phase, 0.0) + seconds
    return {f"seconds_{k}": MetadataValue.float(round(v, 3)) for k, v in sorted(totals.items())}


def build_dataset_assets(dataset: Dataset) -> list[AssetsDefinition]:
    """The two assets of one dataset, made from its description (no per-dataset code)."""

    @asset(
        name=f"{dataset.name}_day_file",
        group_name="raw_files",
        partitions_def=partitions_for(dataset),
        backfill_policy=backfill_policy(),
        kinds={"s3", "csv"},
        description=(
            f"The {dataset.prefix}/{dataset.table} day file, landed locally with a manifest "
            f"(key, size, ETag). {dataset.description}"
        ),
    )
    def day_file(
        context: AssetExecutionContext,
        flat_files: FlatFilesResource,
        warehouse: WarehouseResource,
        rest_api: RestApiResource,
        pipeline_settings: PipelineSettingsResource,
    ) -> MaterializeResult[Any]:
        fetch_all = context.run.tags.get(FETCH_TAG) == "all"
        symbols = run_symbols(context, warehouse)
        if not fetch_all and not symbols.selected_underlyings(dataset):
            # An options day file is the largest of all: not fetched while nobody reads it.
            return skipped(context, dataset)
        client = flat_files.get_client()
        landing_root = flat_files.landing_root()
        policy = rest_api.policy()
        plan = symbols.parse_plan(dataset, warehouse)  # scanned as the bytes arrive
        outcomes = for_each_day(
            context,
            f"{dataset.name} day file",
            lambda day: land_day_file(
                dataset,
                day,
                client,
                flat_files.bucket,
                landing_root,
                policy,
                scan_for=plan.line_prefixes(day),
            ),
            lambda r: (
                r[1].reason
                if r[0].missing
                else f"{r[0].size:,} bytes, {'downloaded' if r[0].downloaded else 'unchanged'}"
            ),
            workers=pipeline_settings.download_workers,
        )
        landed = outcomes.done
        files = [f for _, (f, _) in landed]
        metadata = {
            **outcomes.metadata(),
            **_days_metadata(d for d, _ in landed),
            "source": MetadataValue.text(flat_files.describe()),
            "files_present": MetadataValue.int(sum(not f.missing for f in files)),
            "files_missing": MetadataValue.int(sum(f.missing for f in files)),
            "files_downloaded": MetadataValue.int(sum(f.downloaded for f in files)),
            "bytes": MetadataValue.int(sum(f.size for f in files)),
            "seconds": MetadataValue.float(round(sum(f.seconds for f in files), 3)),
            **_phase_metadata(f.phases for f in files),
        }
        if len(landed) == 1:
            only, choice = landed[0][1]
            metadata["key"] = MetadataValue.text(only.key)
            metadata["source_choice"] = MetadataValue.text(choice.reason)
            if only.path is not None:
                metadata["path"] = MetadataValue.path(str(only.path))
                metadata["etag"] = MetadataValue.text(only.etag or "")
        return MaterializeResult(metadata=metadata)

    @asset(
        name=f"{dataset.name}_bars",
        deps=[day_file],
        group_name="bars",
        partitions_def=partitions_for(dataset),
        backfill_policy=backfill_policy(),
        kinds={"parquet"},
        description=(
            f"{dataset.name} 1-minute bars of the watchlist's symbols, parsed from the day file "
            "and stored as Parquet; rows failing the row checks are quarantined beside them."
        ),
    )
    def bars(
        context: AssetExecutionContext,
        flat_files: FlatFilesResource,
        warehouse: WarehouseResource,
        bar_store: BarStoreResource,
        rest_api: RestApiResource,
        pipeline_settings: PipelineSettingsResource,
    ) -> MaterializeResult[Any]:
        plan = run_symbols(context, warehouse).parse_plan(dataset, warehouse)
        underlyings = plan.underlyings
        if not underlyings:
            return skipped(context, dataset)
        store = bar_store.store()
        landing_root = flat_files.landing_root()
        rest_client = rest_api.client()
        outcomes = for_each_day(
            context,
            f"{dataset.name} bars",
            lambda day: build_bars(
                dataset,
                day,
                landing_root,
                underlyings,
                store,
                rest_client,
                renames=plan.renames(day),
            ),
            lambda b: (
                f"{b.choice.source}: {b.parsed.rows_read:,} rows read, {b.parsed.rows_kept:,} kept"
            ),
            workers=pipeline_settings.day_workers,
            upstream=[day_file.key],
        )
        built = outcomes.done
        parsed = [b.parsed for _, b in built]
        metadata = {
            **outcomes.metadata(),
            **_days_metadata(d for d, _ in built),
            "rows_read": MetadataValue.int(sum(p.rows_read for p in parsed)),
            "rows_kept": MetadataValue.int(sum(p.rows_kept for p in parsed)),
            "rows_quarantined": MetadataValue.int(sum(p.rows_quarantined for p in parsed)),
            "duplicates_dropped": MetadataValue.int(sum(p.duplicates_dropped for p in parsed)),
            "underlyings": MetadataValue.text(", ".join(sorted(underlyings)) or "(none)"),
            "symbols_with_bars": MetadataValue.int(len({s for p in parsed for s in p.symbols})),
            "seconds": MetadataValue.float(round(sum(p.seconds for p in parsed), 3)),
            "seconds_parquet": MetadataValue.float(
                round(sum(b.store_seconds for _, b in built), 3)
            ),
            # Days whose file was decompressed while it downloaded, and not read again here.
            "days_scanned_in_download": MetadataValue.int(
                sum(p.scanned_in_download for p in parsed)
            ),
        }
        sources = sorted({b.choice.source for _, b in built})
        metadata["source"] = MetadataValue.text(", ".join(sources))
        if len(built) == 1:
            metadata["path"] = MetadataValue.path(str(built[0][1].path))
            if built[0][1].parsed.rows_quarantined:
                quarantine = store.quarantine_path(dataset.name, built[0][0])
                metadata["quarantine_path"] = MetadataValue.path(str(quarantine))
            metadata["source_choice"] = MetadataValue.text(built[0][1].choice.reason)
        return MaterializeResult(metadata=metadata)

    return [day_file, bars]


# Each dataset's two assets, named here so that a search for an asset key finds its definition.
indices_day_file, indices_bars = build_dataset_assets(DATASETS["indices"])
options_day_file, options_bars = build_dataset_assets(DATASETS["options"])
stocks_day_file, stocks_bars = build_dataset_assets(DATASETS["stocks"])
DATASET_ASSETS = [
    indices_day_file,
    indices_bars,
    options_day_file,
    options_bars,
    stocks_day_file,
    stocks_bars,
]
crypto_day_file, crypto_bars = build_dataset_assets(UTC_DATASETS["crypto"])
forex_day_file, forex_bars = build_dataset_assets(UTC_DATASETS["forex"])
UTC_DATASET_ASSETS = [crypto_day_file, crypto_bars, forex_day_file, forex_bars]


def coverage_metadata(
    conn: psycopg.Connection, days: list[date], symbols: list[str]
) -> dict[str, MetadataValue]:
    """The run's days by the indices and stocks it loaded, as a heatmap; a one-day run also
    charts each symbol's day, so a glance at the UI shows a gap or a jump. Attached once
    per run (``charts_once``)."""
    if not symbols or not days:
        return {}
    span = calendar_days(min(days), max(days))
    heatmap = coverage_heatmap_png(symbols, span, coverage_shares(conn, span, symbols))
    caption = f"rows: {', '.join(symbols)}; columns: {span[0]} … {span[-1]}"
    metadata: dict[str, MetadataValue] = {
        "coverage_heatmap": MetadataValue.md(png_markdown(heatmap, "coverage", caption))
    }
    closes = day_closes(conn, days[0], symbols) if len(days) == 1 else {}
    if any(len(starts) for starts, _ in closes.values()):
        chart = price_chart_png(days[0], closes, session(days[0]))
        metadata["price_chart"] = MetadataValue.md(png_markdown(chart, f"close {days[0]}"))
    return metadata


def charts_once(
    charts: dict[str, MetadataValue], days: list[date]
) -> tuple[date | None, dict[str, MetadataValue]]:
    """Where a run's charts go, and what the run's other days show instead.

    Dagster copies a range step's metadata into every day's materialization: the heatmap
    (tens of KB) would be stored once per day. It goes on the last day's materialization
    alone (the asset's latest, which its overview shows); each other day names that day."""
    if not charts or not days:
        return None, {}
    first, last = min(days), max(days)
    if first == last:
        return last, {}
    where = f"with {last}, the last day of this run ({first} … {last})"
    return last, {name: MetadataValue.text(where) for name in charts}


@asset(
    name="historical_bars",
    deps=[indices_bars, options_bars, stocks_bars],
    group_name="warehouse",
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy(),
    kinds={"postgres"},
    freshness_policy=LATEST_SESSION_BY_EVENING,
    description=(
        "Every dataset's bars of the day in PostgreSQL's historical_bars, replaced in one "
        "transaction per day: the run's symbols' rows of that day deleted, their bars copied in."
    ),
)
def historical_bars(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    bar_store: BarStoreResource,
    pipeline_settings: PipelineSettingsResource,
) -> MaterializeResult[Any]:
    return load_run_days(
        context,
        warehouse,
        bar_store,
        list(DATASETS.values()),
        upstream=[indices_bars.key, options_bars.key, stocks_bars.key],
        failed_run_checks=evaluations_of_a_failed_run,
        missing_tolerance=pipeline_settings.stock_missing_tolerance,
        with_charts=True,
    )


@asset(
    name="historical_bars_utc",
    deps=[crypto_bars, forex_bars],
    group_name="warehouse",
    partitions_def=utc_daily_partitions,
    backfill_policy=backfill_policy(),
    kinds={"postgres"},
    description=(
        "The crypto and forex bars of a UTC day in PostgreSQL's historical_bars (the same "
        "table), replaced in one transaction per UTC day, so that a partition is one file."
    ),
)
def historical_bars_utc(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    bar_store: BarStoreResource,
    pipeline_settings: PipelineSettingsResource,
) -> MaterializeResult[Any]:
    return load_run_days(
        context,
        warehouse,
        bar_store,
        list(UTC_DATASETS.values()),
        upstream=[crypto_bars.key, forex_bars.key],
        failed_run_checks=pair_evaluations_of_a_failed_run,
        missing_tolerance=pipeline_settings.pair_missing_tolerance,
    )


def load_run_days(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    bar_store: BarStoreResource,
    datasets: list[Dataset],
    *,
    upstream: list[AssetKey],
    failed_run_checks: FailedRunChecks,
    missing_tolerance: float,
    with_charts: bool = False,
) -> MaterializeResult[Any]:
    """Load each day of the run from its datasets' stored bars into ``historical_bars``,
    the run's symbols only; a day whose steps failed is left as it was and named."""
    store = bar_store.store()
    label = context.asset_key.to_user_string()
    # Only the run's symbols are replaced: a run for a new symbol leaves the others' rows be.
    symbols = run_symbols(context, warehouse)
    selected = {d.name: symbols.selected_underlyings(d) for d in datasets}
    describe = describe_load
    if not any(selected.values()):
        # Not "no session": none of the run's symbols (the watchlist's) is in these datasets.
        def describe(result: LoadResult) -> str:
            names = ", ".join(d.name for d in datasets)
            return f"no symbol of this run is in {names}: nothing to load"

    with warehouse.connection() as conn:
        outcomes = for_each_day(
            context,
            label,
            lambda day: load_bars(conn, day, datasets, store, selected),
            describe,
            upstream=upstream,
            final=True,
        )
        loaded = outcomes.done
        charts: dict[str, MetadataValue] = {}
        timing: dict[str, MetadataValue] = {}
        if with_charts:
            started = time.perf_counter()
            charted = sorted(selected["indices"] | selected["stocks"])
            charts = coverage_metadata(conn, [d for d, _ in loaded], charted)
            timing["seconds_charts"] = MetadataValue.float(round(time.perf_counter() - started, 3))
        charts_day, elsewhere = charts_once(charts, [d for d, _ in loaded])
        if outcomes.failed:
            # Dagster marks a range step's partitions all at once, so a run that loaded
            # some days records each of them itself, then fails naming the others.
            for day, result in loaded:
                context.log_event(
                    AssetMaterialization(
                        asset_key=context.asset_key,
                        partition=day.isoformat(),
                        metadata={
                            **load_metadata([(day, result)]),
                            **(charts if day == charts_day else elsewhere),
                        },
                    )
                )
            for evaluation in failed_run_checks(
                conn, store, [d for d, _ in loaded], outcomes.failed, missing_tolerance
            ):
                context.log_event(judging(context.instance, evaluation))
            raise_failures(label, outcomes)
    if charts_day is not None:
        context.add_asset_metadata(charts, partition_key=charts_day.isoformat())
    return MaterializeResult(metadata={**load_metadata(loaded), **elsewhere, **timing})


def describe_load(result: LoadResult) -> str:
    """A day's line in the run's log: what was loaded from where, or that there was no
    session (no file and no REST day: nothing to load, nothing replaced)."""
    if not result.sources and not result.rows_copied and not result.rows_deleted:
        return "no session (weekend or holiday): nothing to load"
    return (
        f"{result.rows_copied:,} rows loaded from {'+'.join(result.sources) or '-'}, "
        f"{result.rows_deleted:,} replaced, "
        f"{result.rows_copied / max(result.seconds, 1e-6):,.0f} rows/s"
    )


def load_metadata(loaded: list[tuple[date, LoadResult]]) -> dict[str, MetadataValue]:
    results = [r for _, r in loaded]
    seconds = sum(r.seconds for r in results)
    rows = sum(r.rows_copied for r in results)
    return {
        **_days_metadata(d for d, _ in loaded),
        "rows_loaded": MetadataValue.int(rows),
        "rows_replaced": MetadataValue.int(sum(r.rows_deleted for r in results)),
        "source": MetadataValue.text(
            ", ".join(sorted({s for r in results for s in r.sources})) or "(no rows)"
        ),
        "seconds": MetadataValue.float(round(seconds, 3)),
        "rows_per_second": MetadataValue.int(int(rows / seconds) if seconds else 0),
    }
