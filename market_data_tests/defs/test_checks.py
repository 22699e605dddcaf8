"""Asset checks per day: a regular day, an early close, a holiday, and a missing hour."""

from __future__ import annotations

from datetime import date

import pytest
from dagster import AssetCheckKey, AssetCheckSeverity, AssetKey, DagsterInstance, materialize

from market_data.calendar import day_window
from market_data.defs.assets import DATASET_ASSETS, historical_bars
from market_data.defs.checks import bar_sanity_check, missing_bars
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.generate import generate_source
from market_data_local.s3 import seed_bucket
from market_data_tests.conftest import chain_resources
from market_data_tests.day_files import withdraw_hour

ASSETS = [*DATASET_ASSETS, historical_bars, missing_bars, bar_sanity_check]
GAP_DAY = date(2025, 11, 26)


@pytest.fixture
def resources(db, database_url, s3_client, s3_endpoint, bucket, tmp_path):
    source = tmp_path / "source"
    generate_source(source, date(2025, 11, 25), date(2025, 11, 28))
    withdraw_hour(source, GAP_DAY, "I:SPX", 11)  # 11:00-11:59 ET
    seed_bucket(s3_endpoint, bucket, source)
    add_to_watchlist(db, "SPX")
    add_to_watchlist(db, "NDX")
    return chain_resources(s3_endpoint, bucket, database_url, tmp_path)


def checks_of(result, name: str) -> dict[str, object]:
    return {
        e.event_specific_data.partition: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == name
        and e.event_specific_data.partition
    }


def test_a_week_of_checks(resources):
    instance = DagsterInstance.ephemeral()
    result = materialize(
        ASSETS,
        resources=resources,
        instance=instance,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": "2025-11-25",
            "dagster/asset_partition_range_end": "2025-11-28",
        },
    )
    assert result.success
    missing = checks_of(result, "missing_bars")
    assert {day: e.passed for day, e in missing.items()} == {
        "2025-11-25": True,
        "2025-11-26": False,
        "2025-11-27": True,
        "2025-11-28": True,
    }
    gap = missing["2025-11-26"]
    assert gap.severity == AssetCheckSeverity.WARN
    assert gap.metadata["missing"].value == "- SPX: 60 of 390 minutes missing (11:00-11:59)"
    assert missing["2025-11-28"].metadata["session_minutes"].value == 210
    assert "no bars expected" in missing["2025-11-27"].metadata["session"].value
    # The run's heatmap, once: on its last day's materialization (test_coverage_once.py).
    heatmap = {
        m.partition: m.metadata for m in result.asset_materializations_for_node("historical_bars")
    }["2025-11-28"]
    assert heatmap["coverage_heatmap"].value.startswith("![coverage](data:image/png;base64,")
    assert "rows: NDX, SPX" in heatmap["coverage_heatmap"].value
    sanity = checks_of(result, "bar_sanity_check")
    assert all(e.passed for e in sanity.values()) and len(sanity) == 4
    # Each day's evaluation names the day's materialization, so the check's partitions tab
    # counts it (an evaluation naming none is shown as missing).
    infos = instance.event_log_storage.get_asset_check_partition_info(
        [AssetCheckKey(AssetKey("historical_bars"), "missing_bars")]
    )
    by_day = {i.partition_key: i.is_current for i in infos if i.partition_key is not None}
    assert by_day == dict.fromkeys(missing, True)  # (None: the run's summary, not a day)


def test_a_one_day_range_stores_its_checks_with_the_partition(resources):
    result = materialize(
        ASSETS,
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": "2025-11-25",
            "dagster/asset_partition_range_end": "2025-11-25",
        },
    )
    assert list(checks_of(result, "missing_bars")) == ["2025-11-25"]
    assert list(checks_of(result, "bar_sanity_check")) == ["2025-11-25"]


def test_bar_sanity_counts_broken_bars(db):
    from market_data.reports.quality import bar_sanity
    from market_data.warehouse.load import ensure_month_partitions

    window = day_window(GAP_DAY)
    ensure_month_partitions(db, window)
    rows = [  # (timestamp offset ms, open, high, low, close, volume)
        (10 * 3_600_000, 10.0, 11.0, 9.0, 10.5, 5.0),  # fine
        (10 * 3_600_000 + 60_000, 10.0, 9.0, 11.0, 10.0, 5.0),  # high < low
        (10 * 3_600_000 + 120_000, 10.0, 11.0, 9.0, 10.0, -1.0),  # negative volume
        (10 * 3_600_000 + 180_500, 10.0, 11.0, 9.0, 10.0, 1.0),  # not on a minute
    ]
    for offset, o, h, low, c, v in rows:
        db.execute(
            "INSERT INTO historical_bars VALUES ('SPY', '1m', %s, %s, %s, %s, %s, %s, NULL, NULL,"
            " 'flat_file', 'stocks', 'SPY')",
            (window.start_ms + offset, o, h, low, c, v),
        )
    assert bar_sanity(db, GAP_DAY) == {
        "bars": 4,
        "ohlc_inconsistent": 1,
        "negative_volume": 1,
        "not_on_a_minute": 1,
    }


def test_days_around_the_dst_change_are_complete(db, database_url, s3_endpoint, bucket, tmp_path):
    source = tmp_path / "dst"
    generate_source(source, date(2025, 10, 31), date(2025, 11, 3))  # clocks go back on Nov 2
    seed_bucket(s3_endpoint, bucket, source)
    add_to_watchlist(db, "SPX")
    result = materialize(
        ASSETS,
        resources=chain_resources(s3_endpoint, bucket, database_url, tmp_path),
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": "2025-10-31",
            "dagster/asset_partition_range_end": "2025-11-03",
        },
    )
    missing = checks_of(result, "missing_bars")
    assert {d: e.passed for d, e in missing.items()} == {
        "2025-10-31": True,
        "2025-11-01": True,
        "2025-11-02": True,
        "2025-11-03": True,
    }
    assert missing["2025-11-03"].metadata["session_minutes"].value == 390
