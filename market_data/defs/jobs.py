"""Jobs: the whole chain, its layers on their own, and retention."""

from datetime import timedelta

from dagster import (
    AssetSelection,
    Config,
    MetadataValue,
    OpExecutionContext,
    Output,
    define_asset_job,
    job,
    op,
)

from market_data.calendar import NEW_YORK, day_window, today_in_new_york
from market_data.datasets import DATASETS
from market_data.day_files import prune_day_files
from market_data.defs.resources import BarStoreResource, FlatFilesResource, WarehouseResource
from market_data.errors import ConfigurationError
from market_data.warehouse.retention import (
    forget_pruned_partitions,
    prune_bars,
)

historical_bars_job = define_asset_job(
    name="historical_bars_job",
    # daily_bars and option_surface ride along: every run and schedule that loads a day
    # rebuilds its daily bars and its option surface.
    selection=(
        AssetSelection.assets("historical_bars").upstream()
        | AssetSelection.assets("daily_bars", "option_surface")
    ),
    description=(
        "Download, parse and load every dataset for the selected days, then daily bars and "
        "the option surface."
    ),
)

historical_bars_utc_job = define_asset_job(
    name="historical_bars_utc_job",
    selection=AssetSelection.assets("historical_bars_utc").upstream(),
    description="Download, parse and load the crypto and forex files of the selected UTC days.",
)

# A job's assets share one partitions definition: these two take the US datasets' days.
day_files_job = define_asset_job(
    name="day_files_job",
    selection=AssetSelection.assets(*(f"{name}_day_file" for name in DATASETS)),
    description="Download the day files only (market-data download).",
)

bars_job = define_asset_job(
    name="bars_job",
    selection=AssetSelection.assets(*(f"{name}_bars" for name in DATASETS)),
    description="Parse landed day files into bars only (market-data parse).",
)


class RetentionConfig(Config):
    days: int = 365


@op(description="Removes bars, landing files and Parquet older than the retention period.")
def prune_old_data(
    context: OpExecutionContext,
    config: RetentionConfig,
    warehouse: WarehouseResource,
    flat_files: FlatFilesResource,
    bar_store: BarStoreResource,
) -> Output[None]:
    if config.days < 1:
        raise ConfigurationError(f"retention of {config.days} days would remove everything")
    cutoff_day = today_in_new_york() - timedelta(days=config.days)
    cutoff_ms = day_window(cutoff_day).start_ms
    with warehouse.connection() as conn:
        bars = prune_bars(conn, cutoff_ms)
    landing = prune_day_files(flat_files.landing_root(), cutoff_day)
    parquet = bar_store.store().prune(cutoff_day)
    # The removed days' partitions are wiped, so the UI shows them as not materialized.
    wiped = forget_pruned_partitions(context.instance, cutoff_day)
    context.log.info(
        f"retention before {cutoff_day} ({NEW_YORK.key}): {bars.rows_deleted:,} bars removed, "
        f"{len(bars.partitions_dropped)} month partitions dropped, "
        f"{landing.files_removed + parquet.files_removed} files removed, "
        f"{sum(wiped.values())} asset partitions wiped"
    )
    return Output(
        None,
        metadata={
            "cutoff_day": MetadataValue.text(cutoff_day.isoformat()),
            "bars_removed": MetadataValue.int(bars.rows_deleted),
            "daily_bars_removed": MetadataValue.int(bars.daily_rows_deleted),
            "partitions_dropped": MetadataValue.text(", ".join(bars.partitions_dropped) or "-"),
            "landing_files_removed": MetadataValue.int(landing.files_removed),
            "parquet_files_removed": MetadataValue.int(parquet.files_removed),
            "bytes_freed": MetadataValue.int(landing.bytes_freed + parquet.bytes_freed),
            "partitions_wiped": MetadataValue.json(wiped),
        },
    )


@job(description="Retention: keeps a year (configurable) of bars, landing files and Parquet.")
def retention_job() -> None:
    prune_old_data()
