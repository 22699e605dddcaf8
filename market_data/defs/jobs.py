"""Jobs: the whole chain from day files to ``historical_bars``, for a day or a range."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

historical_bars_job = define_asset_job(
    name="historical_bars_job",
    selection=AssetSelection.assets("historical_bars").upstream(),
    description="Download, parse and load every dataset for the selected days.",
)
