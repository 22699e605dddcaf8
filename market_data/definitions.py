"""The one place where market-data's Dagster definitions are assembled."""

from __future__ import annotations

from dagster import Definitions

from market_data.defs.assets import DATASET_ASSETS, historical_bars
from market_data.defs.jobs import historical_bars_job
from market_data.defs.resources import resources_from_env
from market_data.defs.sensors import flat_file_supersedes_rest

defs = Definitions(
    assets=[*DATASET_ASSETS, historical_bars],
    jobs=[historical_bars_job],
    sensors=[flat_file_supersedes_rest],
    resources=resources_from_env(),
)
