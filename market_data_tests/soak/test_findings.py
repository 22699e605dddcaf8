"""What the soak found, each pinned by a test of its own (docs/soak.md).

1. A symbol removed from the watchlist after its day was loaded from REST kept its REST
   bars for good: the supersession run loaded the watchlist only, and asked again under the
   same run key forever. Now the run loads that symbol too.
2. A full landing disk read as a broken transfer ("download broke off after 0 bytes"),
   retried three times. Now it fails at once, naming the landing area.
3. Days removed by retention kept showing as materialized; the UI's partition wipe was
   refused by the storage. Now retention wipes them, and so can the UI.
4. Retention cut a crypto or forex UTC day at the New York midnight, leaving its first
   hours removed and the rest kept. Now a UTC day is kept or removed whole.
5. A run that failed on days' own data (a file not published) was retried as pointlessly
   as one that a passing fault stopped. Now only the latter is worth a retry.
6. An options file published later than the day's other files was never loaded (REST has
   no option contracts, so the day held no REST row for the supersession sensor to find)
   unless a Monday run covered its day. Now the REST stand-in is remembered.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from dagster import AssetKey, AssetMaterialization, DagsterInstance, materialize

from market_data.bar_schema import BARS_SCHEMA
from market_data.calendar import day_window, is_session
from market_data.datasets import DATASETS, UTC_DATASETS
from market_data.definitions import defs
from market_data.defs.day_runs import RETRY_ON_STEP_FAILURE_TAG
from market_data.defs.partitions import daily_partitions
from market_data.defs.resources import FlatFilesResource
from market_data.defs.sensors import flat_file_supersedes_rest
from market_data.instance import REPO_ROOT
from market_data.run_tags import SYMBOLS_TAG
from market_data.sources import flat_files
from market_data.sources.flat_files import LandingAreaFull, fetch_day_file
from market_data.warehouse.load import DatasetBars, load_day
from market_data.warehouse.retention import forget_pruned_partitions, prune_bars
from market_data_tests.defs import test_hybrid
from market_data_tests.defs.test_hybrid import ASSETS, RECENT, day_rows

pytestmark = pytest.mark.slow  # the soak's findings, each a Dagster run

world = test_hybrid.world  # the fixture: REST for RECENT, its files to publish

# -- 1. a symbol removed after its REST day ---------------------------------------------------


def test_a_symbol_removed_after_its_rest_day_is_reloaded_from_the_file(
    world, db, s3_client, bucket
):
    resources, source = world["resources"], world["source"]
    instance = DagsterInstance.ephemeral()
    assert materialize(ASSETS, partition_key=RECENT.isoformat(), resources=resources).success
    assert {r[3] for r in day_rows(db, RECENT) if r[0] == "SPY"} == {"rest"}

    db.execute("DELETE FROM watchlist WHERE symbol = 'SPY'")  # removed, REST bars kept
    for dataset in DATASETS.values():
        s3_client.upload_file(str(source / dataset.key(RECENT)), bucket, dataset.key(RECENT))
    sensor_resources = {name: resources[name] for name in ("warehouse", "flat_files")}
    context = build_context(instance, sensor_resources)
    [request] = flat_file_supersedes_rest(context)
    assert request.tags[SYMBOLS_TAG] == "SPX,SPY"
    assert request.run_key.endswith(":SPX,SPY")  # not the key of a run that left SPY behind

    assert materialize(
        ASSETS, partition_key=RECENT.isoformat(), resources=resources, tags=request.tags
    ).success
    rows = day_rows(db, RECENT)
    assert {r[3] for r in rows} == {"flat_file"}
    assert any(r[0] == "SPY" for r in rows)  # its file's bars, not dropped
    assert flat_file_supersedes_rest(context).skip_message.startswith("no REST-sourced bars")


def build_context(instance, resources):
    from dagster import build_sensor_context

    return build_sensor_context(instance=instance, definitions=defs, resources=resources)


# -- 2. a full landing disk -----------------------------------------------------------------

KEY = "us_stocks_sip/minute_aggs_v1/2025/11/2025-11-25.csv.gz"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_landing_disk_fails_at_once_naming_the_landing_area(
    s3_client, bucket, tmp_path, monkeypatch
):
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=b"x" * 100_000)
    calls = []
    original = s3_client.get_object
    monkeypatch.setattr(s3_client, "get_object", lambda **kw: calls.append(kw) or original(**kw))
    monkeypatch.setattr(flat_files, "RETRY_BACKOFF_SECONDS", 0.01)
    part = (tmp_path / KEY).with_name("2025-11-25.csv.gz.part")
    part.parent.mkdir(parents=True)
    part.symlink_to("/dev/full")  # every write there: ENOSPC, as on a full disk

    with pytest.raises(LandingAreaFull, match=r"the landing area .* is full .*free space"):
        fetch_day_file(s3_client, bucket, KEY, tmp_path)
    assert len(calls) == 1  # no retry: a retry frees no disk
    assert not part.exists() and not (tmp_path / KEY).exists()


# -- 3 and 4. retention -----------------------------------------------------------------------


def one_bar(db, dataset, day: date, hour_utc: int) -> int:
    window = dataset.window(day)
    ms = int(datetime(day.year, day.month, day.day, hour_utc, tzinfo=timezone.utc).timestamp())
    ms *= 1000
    table = pa.Table.from_pylist(
        [
            {
                "symbol": "X:BTCUSD",
                "underlying": "X:BTCUSD",
                "timestamp": ms,
                **dict.fromkeys(("open", "high", "low", "close", "volume"), 1.0),
                "vwap": None,
                "transactions": 1,
            }
        ],
        schema=BARS_SCHEMA,
    )
    load_day(db, window, [DatasetBars(dataset, frozenset({"X:BTCUSD"}), table)])
    return ms


def test_retention_keeps_or_removes_a_utc_day_whole(db):
    crypto = UTC_DATASETS["crypto"]
    cutoff = date(2025, 3, 10)
    removed = one_bar(db, crypto, cutoff - timedelta(days=1), 23)
    kept = one_bar(db, crypto, cutoff, 1)  # before the New York midnight, inside the UTC day

    prune_bars(db, day_window(cutoff).start_ms)

    held = {r[0] for r in db.execute("SELECT timestamp FROM historical_bars")}
    assert held == {kept} and removed not in held


@pytest.fixture
def project_instance(pg_cluster, tmp_path, monkeypatch):
    """The project's instance (ProjectPostgresStorage) on a database of its own."""
    monkeypatch.setenv("DAGSTER_PG_URL", pg_cluster.ensure_database(f"d_{uuid.uuid4().hex[:10]}"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    shutil.copyfile(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = DagsterInstance.get()
    yield instance
    instance.dispose()


def test_retention_wipes_the_days_it_removed_and_the_ui_shows_them_missing(project_instance):
    instance = project_instance
    days = [date(2025, 3, 6) + timedelta(days=i) for i in range(8)]  # 03-06 … 03-13
    keys = [d.isoformat() for d in days]
    for asset in ("historical_bars", "stocks_day_file"):
        for key in keys:
            instance.report_runless_asset_event(AssetMaterialization(asset, partition=key))
    status = instance.get_status_by_partition(AssetKey("historical_bars"), keys, daily_partitions)
    assert all(s is not None for s in status.values())

    wiped = forget_pruned_partitions(instance, date(2025, 3, 10))

    assert wiped == {"stocks_day_file": 4, "historical_bars": 4}
    for asset in ("historical_bars", "stocks_day_file"):
        status = instance.get_status_by_partition(AssetKey(asset), keys, daily_partitions)
        assert [k for k, s in status.items() if s is not None] == keys[4:], asset
        assert instance.get_materialized_partitions(AssetKey(asset)) == set(keys[4:])
    # What is left keeps its history; a later materialization of a wiped day counts again.
    instance.report_runless_asset_event(AssetMaterialization("historical_bars", partition=keys[0]))
    assert keys[0] in instance.get_materialized_partitions(AssetKey("historical_bars"))
    assert forget_pruned_partitions(instance, date(2025, 3, 6)) == {}


# -- 5. which failed runs are worth a retry ----------------------------------------------------


def test_days_failing_on_their_own_data_are_not_retried_a_stopped_range_is(world, db, tmp_path):
    instance = DagsterInstance.ephemeral()
    old = RECENT - timedelta(days=40)  # no file, and far older than the REST window
    while not is_session(old):
        old -= timedelta(days=1)
    result = materialize(
        ASSETS,
        partition_key=old.isoformat(),
        resources=world["resources"],
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    assert instance.get_run_by_id(result.run_id).tags[RETRY_ON_STEP_FAILURE_TAG] == "false"

    unreachable = FlatFilesResource(
        endpoint_url="http://127.0.0.1:9", bucket="none", access_key="a", secret_key="b"
    )
    result = materialize(
        ASSETS,
        partition_key=RECENT.isoformat(),
        resources=dict(world["resources"], flat_files=unreachable),
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    assert instance.get_run_by_id(result.run_id).tags[RETRY_ON_STEP_FAILURE_TAG] == "true"


# -- 6. an options file later than the others -------------------------------------------------


def test_a_late_options_file_is_loaded_once_it_is_out(world, db, s3_client, bucket):
    resources, source = world["resources"], world["source"]
    options = DATASETS["options"]
    for dataset in DATASETS.values():
        if dataset is not options:
            s3_client.upload_file(str(source / dataset.key(RECENT)), bucket, dataset.key(RECENT))
    assert materialize(ASSETS, partition_key=RECENT.isoformat(), resources=resources).success
    rows = day_rows(db, RECENT)
    assert {r[3] for r in rows} == {"flat_file"}
    assert not any(r[0].startswith("O:") for r in rows)  # REST stood in: no contracts

    context = build_context(
        DagsterInstance.ephemeral(), {n: resources[n] for n in ("warehouse", "flat_files")}
    )
    assert "not published yet" in flat_file_supersedes_rest(context).skip_message
    s3_client.upload_file(str(source / options.key(RECENT)), bucket, options.key(RECENT))
    [request] = flat_file_supersedes_rest(context)
    assert request.partition_key == RECENT.isoformat()

    assert materialize(
        ASSETS, partition_key=RECENT.isoformat(), resources=resources, tags=request.tags
    ).success
    assert any(r[0].startswith("O:SPY") for r in day_rows(db, RECENT))
    assert flat_file_supersedes_rest(context).skip_message.startswith("no REST-sourced bars")
