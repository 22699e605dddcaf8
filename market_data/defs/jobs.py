"""Jobs: the whole chain from day files to ``historical_bars``, for a day or a range."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from market_data.defs.partitions import daily_partitions

historical_bars_job = define_asset_job(
    name="historical_bars_job",
    selection=AssetSelection.assets("historical_bars").upstream(),
    partitions_def=daily_partitions,
    description="Download, parse and load every dataset for the selected days.",
)
