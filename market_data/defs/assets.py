"""The asset graph: per dataset a raw day file and its bars, then ``historical_bars``.

The asset functions are thin: for each day of the run they call the plain steps of
``market_data.pipeline`` and report what happened. Runs may cover one day or a
range of days, which are handled side by side, each loaded on its own.
"""

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from market_data import settings
from market_data.calendar import parse_day
from market_data.datasets import DATASETS, Dataset
from market_data.defs.partitions import backfill_policy, daily_partitions
from market_data.defs.resources import (
    BarStoreResource,
    FlatFilesResource,
    RestApiResource,
    WarehouseResource,
)
from market_data.heatmap import coverage_png
from market_data.pipeline import build_bars, land_day_file, load_bars
from market_data.quality import coverage_shares, heatmap_markdown
from market_data.warehouse.watchlist import Watchlist, read_watchlist

# Stale when nothing was loaded between the close and 19:00 ET on a weekday: the daily
# 17:00 run loads the day (from REST until its file is out).
LATEST_SESSION_BY_EVENING = FreshnessPolicy.cron(
    deadline_cron="0 19 * * 1-5", lower_bound_delta=timedelta(hours=3), timezone="America/New_York"
)

# A run tagged with symbols loads only those (the watchlist sensor, ``market-data backfill``).
SYMBOLS_TAG = "market_data/symbols"
# A run tagged ``market_data/fetch: all`` lands every dataset's files, watched or not
# (``market-data download``).
FETCH_TAG = "market_data/fetch"

T = TypeVar("T")


def run_days(context: AssetExecutionContext) -> list[date]:
    return [parse_day(key) for key in context.partition_keys]


class PartitionFailed(RuntimeError):
    """One day of a run failed; the message names the step and the day."""


def for_each_day(
    context: AssetExecutionContext,
    label: str,
    step: Callable[[date], T],
    describe: Callable[[T], str],
    workers: int = 1,
) -> list[tuple[date, T]]:
    """Run ``step`` for every day of the run, ``workers`` days at a time, logging ``[i/n]``.

    Each day stands alone (its own file, its own transaction), so days run side by side.
    A failure stops the days not started yet; the days under way finish, and the error
    names every day that failed.
    """
    days = run_days(context)

    def timed(day: date) -> tuple[T, float]:
        started = time.perf_counter()
        return step(day), time.perf_counter() - started

    results: dict[date, T] = {}
    failures: list[tuple[date, Exception]] = []
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(days))))
    try:
        futures = {pool.submit(timed, day): day for day in days}
        for i, future in enumerate(as_completed(futures), start=1):
            day = futures[future]
            if future.cancelled():
                continue
            try:
                result, seconds = future.result()
            except Exception as error:
                context.log.error(f"[{i}/{len(days)}] {label} {day} failed: {error}")
                failures.append((day, error))
                pool.shutdown(wait=False, cancel_futures=True)
                continue
            # Logged from the run's own thread, in the order days finish.
            context.log.info(
                f"[{i}/{len(days)}] {label} {day}: {describe(result)} ({seconds:.2f}s)"
            )
            results[day] = result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if failures:
        raise_failures(label, sorted(failures, key=lambda f: f[0]))
    return [(day, results[day]) for day in days]


def raise_failures(label: str, failures: list[tuple[date, Exception]]) -> None:
    """One failed day re-raises its own error (naming the day); several are summed up."""
    day, first = failures[0]
    if len(failures) == 1:
        if day.isoformat() in str(first):
            raise first  # the message names the day already
        raise PartitionFailed(f"{label} {day}: {first}") from first
    listed = "; ".join(f"{d}: {e}" for d, e in failures)
    raise PartitionFailed(f"{label}: {len(failures)} days failed: {listed}") from first


@dataclass(frozen=True)
class RunSymbols:
    """The watchlist, and the symbols this run loads: all of it, or those of its symbols tag."""

    watchlist: Watchlist
    selected: Watchlist

    def selected_underlyings(self, dataset: Dataset) -> frozenset[str]:
        return dataset.underlyings(self.selected.entries)

    def parsed_underlyings(self, dataset: Dataset) -> frozenset[str]:
        """What a day file is parsed for: every watched underlying of the dataset, so the
        stored bars stay whole when a run loads a few symbols; nothing if it loads none."""
        selected = self.selected_underlyings(dataset)
        return selected | dataset.underlyings(self.watchlist.entries) if selected else selected


def run_symbols(context: AssetExecutionContext, warehouse: WarehouseResource) -> RunSymbols:
    with warehouse.connection() as conn:
        watchlist = read_watchlist(conn)
    if watchlist.invalid:
        context.log.warning(f"skipping invalid watchlist symbols: {', '.join(watchlist.invalid)}")
    tagged = context.run.tags.get(SYMBOLS_TAG)
    if not tagged:
        return RunSymbols(watchlist, watchlist)
    return RunSymbols(
        watchlist, watchlist.restricted_to([s for s in tagged.split(",") if s.strip()])
    )


def skipped(context: AssetExecutionContext, dataset: Dataset) -> MaterializeResult:
    """A dataset none of the run's symbols is in: nothing fetched, parsed or replaced."""
    reason = f"no symbol of this run is in {dataset.name}"
    context.log.info(f"{reason}: not fetched, not parsed, its stored bars left as they are")
    return MaterializeResult(
        metadata={**_days_metadata(run_days(context)), "skipped": MetadataValue.text(reason)}
    )


def _days_metadata(days: Iterable[date]) -> dict[str, MetadataValue]:
    days = sorted(days)
    span = days[0].isoformat() if len(days) == 1 else f"{days[0]} … {days[-1]}"
    return {"days": MetadataValue.int(len(days)), "partition_span": MetadataValue.text(span)}


def build_dataset_assets(dataset: Dataset) -> list[AssetsDefinition]:
    """The two assets of one dataset, made from its description (no per-dataset code)."""

    @asset(
        name=f"{dataset.name}_day_file",
        group_name="raw_files",
        partitions_def=daily_partitions,
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
    ) -> MaterializeResult:
        fetch_all = context.run.tags.get(FETCH_TAG) == "all"
        if not fetch_all and not run_symbols(context, warehouse).selected_underlyings(dataset):
            # An options day file is the largest of all: not fetched while nobody reads it.
            return skipped(context, dataset)
        client = flat_files.get_client()
        landing_root = flat_files.landing_root()
        policy = rest_api.policy()
        landed = for_each_day(
            context,
            f"{dataset.name} day file",
            lambda day: land_day_file(
                dataset, day, client, flat_files.bucket, landing_root, policy
            ),
            lambda r: (
                r[1].reason
                if r[0].missing
                else f"{r[0].size:,} bytes, {'downloaded' if r[0].downloaded else 'unchanged'}"
            ),
            workers=settings.day_workers(),
        )
        files = [f for _, (f, _) in landed]
        metadata = {
            **_days_metadata(d for d, _ in landed),
            "source": MetadataValue.text(flat_files.describe()),
            "files_present": MetadataValue.int(sum(not f.missing for f in files)),
            "files_missing": MetadataValue.int(sum(f.missing for f in files)),
            "files_downloaded": MetadataValue.int(sum(f.downloaded for f in files)),
            "bytes": MetadataValue.int(sum(f.size for f in files)),
            "seconds": MetadataValue.float(round(sum(f.seconds for f in files), 3)),
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
        partitions_def=daily_partitions,
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
    ) -> MaterializeResult:
        underlyings = run_symbols(context, warehouse).parsed_underlyings(dataset)
        if not underlyings:
            return skipped(context, dataset)
        store = bar_store.store()
        landing_root = flat_files.landing_root()
        policy, rest_client = rest_api.policy(), rest_api.client()
        built = for_each_day(
            context,
            f"{dataset.name} bars",
            lambda day: build_bars(
                dataset, day, landing_root, underlyings, store, policy, rest_client
            ),
            lambda b: (
                f"{b.choice.source}: {b.parsed.rows_read:,} rows read, {b.parsed.rows_kept:,} kept"
            ),
            workers=settings.day_workers(),
        )
        parsed = [b.parsed for _, b in built]
        metadata = {
            **_days_metadata(d for d, _ in built),
            "rows_read": MetadataValue.int(sum(p.rows_read for p in parsed)),
            "rows_kept": MetadataValue.int(sum(p.rows_kept for p in parsed)),
            "rows_quarantined": MetadataValue.int(sum(p.rows_quarantined for p in parsed)),
            "duplicates_dropped": MetadataValue.int(sum(p.duplicates_dropped for p in parsed)),
            "underlyings": MetadataValue.text(", ".join(sorted(underlyings)) or "(none)"),
            "symbols_with_bars": MetadataValue.int(len({s for p in parsed for s in p.symbols})),
            "seconds": MetadataValue.float(round(sum(p.seconds for p in parsed), 3)),
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


DATASET_ASSETS = [a for dataset in DATASETS.values() for a in build_dataset_assets(dataset)]


def coverage_metadata(conn, days: list[date], symbols: list[str]) -> dict[str, MetadataValue]:
    """The run's days by the indices and stocks it loaded, as a heatmap."""
    if not symbols:
        return {}
    png = coverage_png(coverage_shares(conn, days, symbols))
    return {"coverage_heatmap": MetadataValue.md(heatmap_markdown(png, symbols, days))}


@asset(
    name="historical_bars",
    deps=[f"{name}_bars" for name in DATASETS],
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
    context: AssetExecutionContext, warehouse: WarehouseResource, bar_store: BarStoreResource
) -> MaterializeResult:
    store = bar_store.store()
    datasets = list(DATASETS.values())
    # Only the run's symbols are replaced: a run for a new symbol leaves the others' rows be.
    symbols = run_symbols(context, warehouse)
    selected = {d.name: symbols.selected_underlyings(d) for d in datasets}
    with warehouse.connection() as conn:
        loaded = for_each_day(
            context,
            "historical_bars",
            lambda day: load_bars(conn, day, datasets, store, selected),
            lambda r: (
                f"{r.rows_copied:,} rows loaded from {'+'.join(r.sources) or '-'}, "
                f"{r.rows_deleted:,} replaced, {r.rows_copied / max(r.seconds, 1e-6):,.0f} rows/s"
            ),
        )
        charted = sorted(selected["indices"] | selected["stocks"])
        heatmap = coverage_metadata(conn, [d for d, _ in loaded], charted)
    results = [r for _, r in loaded]
    seconds = sum(r.seconds for r in results)
    rows = sum(r.rows_copied for r in results)
    return MaterializeResult(
        metadata={
            **_days_metadata(d for d, _ in loaded),
            "rows_loaded": MetadataValue.int(rows),
            "rows_replaced": MetadataValue.int(sum(r.rows_deleted for r in results)),
            "source": MetadataValue.text(
                ", ".join(sorted({s for r in results for s in r.sources})) or "(no rows)"
            ),
            "seconds": MetadataValue.float(round(seconds, 3)),
            "rows_per_second": MetadataValue.int(int(rows / seconds) if seconds else 0),
            **heatmap,
        }
    )
