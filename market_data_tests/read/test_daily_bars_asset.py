"""The ``daily_bars`` asset in the chain: files on the S3 server → minutes → daily bars."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from market_data.defs.assets import DATASET_ASSETS, historical_bars
from market_data.defs.daily_bars import daily_bars
from market_data.defs.jobs import historical_bars_job
from market_data.defs.option_surface import option_surface
from market_data.read import bars
from market_data.read.api import read_bars, read_request, to_frame
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.generate import generate_source
from market_data_local.s3 import seed_bucket
from market_data_tests.conftest import chain_resources

WEEK = (date(2025, 11, 24), date(2025, 11, 30))  # a holiday, an early close, a weekend


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("source")
    generate_source(root, *WEEK)
    return root


def test_a_range_run_builds_daily_bars_equal_to_the_minutes(
    db, database_url, s3_endpoint, bucket, source_dir, tmp_path
):
    seed_bucket(s3_endpoint, bucket, source_dir)
    for symbol in ("SPX", "SPY"):
        add_to_watchlist(db, symbol)
    result = materialize(
        [*DATASET_ASSETS, historical_bars, daily_bars],
        resources=chain_resources(s3_endpoint, bucket, database_url, tmp_path),
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": WEEK[0].isoformat(),
            "dagster/asset_partition_range_end": WEEK[1].isoformat(),
        },
    )
    assert result.success
    materializations = result.asset_materializations_for_node("daily_bars")
    assert len(materializations) == 7  # one per partition of the range
    assert materializations[0].metadata["sessions"].value == 4  # Thanksgiving and the weekend: none

    days = dict(db.execute("SELECT day, count(*) FROM daily_bars GROUP BY day").fetchall())
    assert sorted(days) == [date(2025, 11, d) for d in (24, 25, 26, 28)]
    built = [r[0] for r in db.execute("SELECT day FROM daily_bars_days ORDER BY day")]
    assert built == [date(2025, 11, d) for d in range(24, 31)]

    for session in ("regular", "all"):
        from_table = bars(
            ["SPX", "SPY"], *WEEK, timeframe="1d", session=session, database_url=database_url
        )
        from_minutes = read_bars(db, read_request(["SPX", "SPY"], *WEEK, "1d", session))
        pd.testing.assert_frame_equal(from_table, to_frame(from_minutes))
    early = bars(
        "SPX",
        date(2025, 11, 28),
        date(2025, 11, 28),
        timeframe="1min",
        session="regular",
        database_url=database_url,
    )
    assert early["timestamp"].max().strftime("%H:%M") == "12:59"


def test_the_daily_run_and_its_schedules_rebuild_daily_bars():
    selection = historical_bars_job.selection
    assert selection is not None
    assets = [*DATASET_ASSETS, historical_bars, daily_bars, option_surface]
    keys = {key.to_user_string() for key in selection.resolve(assets)}
    assert {"historical_bars", "daily_bars", "option_surface", "indices_day_file"} <= keys
