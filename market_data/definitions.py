"""The one place where market-data's Dagster definitions are assembled."""

import gc

from dagster import Definitions

from market_data.defs.alert_sensors import ALERT_SENSORS, alert_channels_from_settings
from market_data.defs.assets import (
    DATASET_ASSETS,
    UTC_DATASET_ASSETS,
    historical_bars,
    historical_bars_utc,
)
from market_data.defs.checks import bar_sanity_check, missing_bars
from market_data.defs.corporate_actions import (
    CORPORATE_ACTIONS,
    corporate_actions_job,
    daily_corporate_actions,
)
from market_data.defs.daily_bars import daily_bars
from market_data.defs.executors import run_executor
from market_data.defs.jobs import (
    bars_job,
    day_files_job,
    historical_bars_job,
    historical_bars_utc_job,
    retention_job,
)
from market_data.defs.option_surface import option_iv_coverage, option_parity, option_surface
from market_data.defs.pair_checks import pair_bar_sanity, pair_missing_bars
from market_data.defs.resources import resources_from_settings
from market_data.defs.schedules import daily_after_close, daily_utc, weekly_bulk, weekly_retention
from market_data.defs.sensors import (
    flat_file_supersedes_rest,
    renamed_stock_reload,
    watchlist_backfill,
)
from market_data.settings import Settings

# Read once, when the code location loads; every resource is built from it.
config = Settings.from_env()

defs = Definitions(
    assets=[
        *DATASET_ASSETS,
        historical_bars,
        daily_bars,
        option_surface,
        *UTC_DATASET_ASSETS,
        historical_bars_utc,
        *CORPORATE_ACTIONS,
    ],
    asset_checks=[
        missing_bars,
        bar_sanity_check,
        option_parity,
        option_iv_coverage,
        pair_missing_bars,
        pair_bar_sanity,
    ],
    jobs=[
        historical_bars_job,
        historical_bars_utc_job,
        day_files_job,
        bars_job,
        retention_job,
        corporate_actions_job,
    ],
    schedules=[
        daily_after_close,
        weekly_bulk,
        weekly_retention,
        daily_utc,
        daily_corporate_actions,
    ],
    sensors=[watchlist_backfill, flat_file_supersedes_rest, renamed_stock_reload, *ALERT_SENSORS],
    resources={
        **resources_from_settings(config),
        "alert_channels": alert_channels_from_settings(config),
    },
    executor=run_executor,
)

# What is loaded by now (Dagster, pandas, pyarrow, matplotlib, these definitions: some
# 300,000 objects) lives as long as the process. Frozen, it is out of the cyclic collector's
# reach: each full collection a run triggers walked all of it again, 0.15-0.7 s at a time,
# several times a run (docs/benchmark.md, "Where a downloaded day's time goes").
gc.freeze()
