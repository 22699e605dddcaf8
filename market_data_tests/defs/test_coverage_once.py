"""The coverage heatmap: stored once per run, on its last day's materialization, not in
every day's (a range step's metadata is copied into each of its days)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, materialize, serialize_value

from market_data.defs.assets import DATASET_ASSETS, historical_bars
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.s3 import seed_bucket
from market_data_tests.conftest import chain_resources
from market_data_tests.defs import test_asset_graph
from market_data_tests.defs.test_asset_graph import WEEK

pytestmark = pytest.mark.slow  # range runs

source_dir = test_asset_graph.source_dir  # the fixture: WEEK's generated files

ASSETS = [*DATASET_ASSETS, historical_bars]
HEATMAP = "![coverage](data:image/png;base64,"


@pytest.fixture
def resources(db, database_url, s3_endpoint, bucket, source_dir, tmp_path):
    seed_bucket(s3_endpoint, bucket, source_dir)
    add_to_watchlist(db, "SPX")
    add_to_watchlist(db, "SPY")
    return chain_resources(s3_endpoint, bucket, database_url, tmp_path)


def stored_materializations(instance: DagsterInstance, run_id: str) -> dict[str, dict]:
    """historical_bars' materializations as the event log holds them, by partition."""
    found = {}
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.asset_materialization
        if materialization is not None and materialization.asset_key == AssetKey("historical_bars"):
            found[materialization.partition] = materialization.metadata
    return found


def heatmaps_in_the_event_log(instance: DagsterInstance, run_id: str) -> int:
    """How many of the run's stored events hold a coverage heatmap, whatever their kind."""
    return sum(HEATMAP in serialize_value(entry) for entry in instance.all_logs(run_id))


def test_a_range_run_stores_its_heatmap_once_on_its_last_day(resources):
    instance = DagsterInstance.ephemeral()
    first, last = WEEK
    result = materialize(
        ASSETS,
        resources=resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )
    assert result.success
    stored = stored_materializations(instance, result.run_id)
    days = [(first + timedelta(days=i)).isoformat() for i in range(7)]
    assert sorted(stored) == days
    assert heatmaps_in_the_event_log(instance, result.run_id) == 1
    heatmap = stored[last.isoformat()]["coverage_heatmap"].value
    assert heatmap.startswith(HEATMAP)
    assert f"columns: {first} … {last}" in heatmap  # the whole run, SPX and SPY
    assert "rows: SPX, SPY" in heatmap
    # The other days say where it is, in a few words; they keep their own figures.
    for day in days[:-1]:
        assert stored[day]["coverage_heatmap"].value == (
            f"with {last}, the last day of this run ({first} … {last})"
        )
        assert stored[day]["rows_loaded"].value > 0
    assert "price_chart" not in stored[last.isoformat()]  # a one-day run's


def test_a_one_day_run_still_shows_its_heatmap_and_its_chart(resources):
    instance = DagsterInstance.ephemeral()
    result = materialize(ASSETS, resources=resources, instance=instance, partition_key="2025-11-25")
    assert result.success
    [(day, metadata)] = stored_materializations(instance, result.run_id).items()
    assert day == "2025-11-25"
    assert metadata["coverage_heatmap"].value.startswith(HEATMAP)
    assert metadata["price_chart"].value.startswith("![close 2025-11-25](data:image/png;base64,")
    assert metadata["rows_loaded"].value > 0
    assert heatmaps_in_the_event_log(instance, result.run_id) == 1
