"""The whole chain through Dagster: S3 server → landing → Parquet → PostgreSQL.

Day files are generated in Massive's layout, served by a real S3-compatible server,
and the table is compared with the files themselves, read independently.
"""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from market_data.datasets import DATASETS
from market_data.defs.assets import DATASET_ASSETS, historical_bars
from market_data.run_tags import SYMBOLS_TAG
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.generate import generate_source
from market_data_local.s3 import seed_bucket
from market_data_tests.conftest import chain_resources
from market_data_tests.day_files import table_rows, watchlist_rows

pytestmark = pytest.mark.slow  # the asset graph end to end

ASSETS = [*DATASET_ASSETS, historical_bars]
WEEK = (date(2025, 11, 24), date(2025, 11, 30))  # a regular day, a holiday, an early close


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("source")
    generate_source(root, *WEEK)
    return root


@pytest.fixture
def env(db, database_url, s3_endpoint, bucket, source_dir, tmp_path):
    seed_bucket(s3_endpoint, bucket, source_dir)
    for symbol, options in (("SPX", True), ("NDX", False), ("SPY", True), ("QQQ", False)):
        add_to_watchlist(db, symbol, include_options=options)
    return chain_resources(s3_endpoint, bucket, database_url, tmp_path)


def run(resources, *, day: str | None = None, days: tuple[str, str] | None = None, tags=None):
    tags = dict(tags or {})
    if days:
        tags |= {
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[1],
        }
    return materialize(
        ASSETS,
        partition_key=day,
        resources=resources,
        tags=tags,
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


WATCH = {"indices": {"SPX", "NDX"}, "stocks": {"SPY", "QQQ"}, "options": {"SPX", "SPY"}}


def test_a_day_lands_exactly_the_files_bars_and_a_rerun_changes_nothing(env, db, source_dir):
    result = run(env, day="2025-11-25")
    assert result.success
    expected = watchlist_rows(source_dir, date(2025, 11, 25), WATCH)
    got = table_rows(db, date(2025, 11, 25))
    assert got == expected
    assert {r[0] for r in got} >= {"SPX", "NDX", "SPY", "QQQ"}
    assert any(r[0].startswith("O:SPXW") for r in got) and any(
        r[0].startswith("O:SPY") for r in got
    )

    snapshot = db.execute("SELECT * FROM historical_bars ORDER BY 1, 2, 3").fetchall()
    rerun = run(env, day="2025-11-25")
    assert rerun.success
    assert db.execute("SELECT * FROM historical_bars ORDER BY 1, 2, 3").fetchall() == snapshot
    # Downloaded: decompressed and scanned as it arrived, not read again. Unchanged on the
    # re-run: not downloaded, so the parse read the landed file, to the same rows.
    for name in ("indices", "options", "stocks"):
        for ran, scanned in ((result, 1), (rerun, 0)):
            metadata = ran.asset_materializations_for_node(f"{name}_bars")[0].metadata
            assert metadata["days_scanned_in_download"].value == scanned, name

    mats = result.asset_materializations_for_node("historical_bars")
    assert mats[0].metadata["rows_loaded"].value == len(expected)


@pytest.mark.parametrize("workers", ["1", "3"])
def test_a_range_run_covers_holiday_early_close_and_weekend(
    env, db, source_dir, workers, monkeypatch
):
    monkeypatch.setenv("MARKET_DATA_DAY_WORKERS", workers)
    result = run(env, days=("2025-11-24", "2025-11-30"))
    assert result.success
    for offset in range(7):
        day = date(2025, 11, 24 + offset)
        assert table_rows(db, day) == watchlist_rows(source_dir, day, WATCH), day
    counts = dict(
        db.execute(
            "SELECT to_char(to_timestamp(timestamp/1000) AT TIME ZONE 'America/New_York', 'YYYY-MM-DD'),"
            " count(*) FROM historical_bars WHERE symbol = 'SPX' GROUP BY 1"
        ).fetchall()
    )
    assert counts == {"2025-11-24": 390, "2025-11-25": 390, "2025-11-26": 390, "2025-11-28": 210}


def test_a_republished_file_replaces_the_days_rows(env, db, source_dir, s3_client, tmp_path):
    day = date(2025, 11, 25)
    assert run(env, day=day.isoformat()).success
    key = DATASETS["stocks"].key(day)
    with gzip.open(source_dir / key, "rt", newline="") as f:
        lines = f.read().splitlines()
    header, body = lines[0], lines[1:]
    spy = [i for i, line in enumerate(body) if line.startswith("SPY,")]
    dropped = body.pop(spy[0])  # a bar withdrawn
    fields = body[spy[1] - 1].split(",")
    fields[3] = "123.4567"  # a corrected close
    body[spy[1] - 1] = ",".join(fields)
    republished = tmp_path / "republished.csv.gz"
    with gzip.open(republished, "wt", newline="") as f:
        f.write("\n".join([header, *body]) + "\n")
    s3_client.upload_file(str(republished), env["flat_files"].bucket, key)

    assert run(env, day=day.isoformat()).success
    dropped_ms = int(dropped.split(",")[6]) // 1_000_000
    corrected_ms = int(fields[6]) // 1_000_000
    assert db.execute(
        "SELECT count(*) FROM historical_bars WHERE symbol='SPY' AND timestamp=%s", (dropped_ms,)
    ).fetchone() == (0,)
    assert db.execute(
        "SELECT close FROM historical_bars WHERE symbol='SPY' AND timestamp=%s", (corrected_ms,)
    ).fetchone() == (123.4567,)


def test_a_weekend_is_a_zero_row_partition(env, db):
    result = run(env, day="2025-11-29")
    assert result.success
    assert db.execute("SELECT count(*) FROM historical_bars").fetchone() == (0,)
    mats = result.asset_materializations_for_node("stocks_day_file")
    assert mats[0].metadata["files_missing"].value == 1


def test_a_missing_file_on_a_session_day_fails_and_loads_nothing(env, db, s3_client):
    bucket = env["flat_files"].bucket
    s3_client.delete_object(Bucket=bucket, Key=DATASETS["stocks"].key(date(2025, 11, 26)))
    result = run(env, day="2025-11-26")
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "stocks_day_file"
    message = failure.event_specific_data.error.cause.message
    assert message.startswith("market_data.transform.landing.FileNotPublished: stocks 2025-11-26: ")
    assert "us_stocks_sip/minute_aggs_v1/2025/11/2025-11-26.csv.gz is not published" in message
    assert db.execute("SELECT count(*) FROM historical_bars").fetchone() == (0,)


def test_a_symbols_tag_loads_only_those_symbols(env, db):
    assert run(env, day="2025-11-25", tags={SYMBOLS_TAG: "NDX"}).success
    assert {r[0] for r in db.execute("SELECT DISTINCT symbol FROM historical_bars")} == {"NDX"}


def test_a_dataset_no_watchlist_symbol_reads_is_neither_fetched_nor_parsed(env, db, s3_client):
    for symbol in ("SPX", "SPY"):
        add_to_watchlist(db, symbol, include_options=False)
    day = date(2025, 11, 25)
    # Not even a missing options file matters while nobody watches options.
    s3_client.delete_object(Bucket=env["flat_files"].bucket, Key=DATASETS["options"].key(day))
    result = run(env, day=day.isoformat())
    assert result.success
    landing = env["flat_files"].landing_root()
    assert not (landing / DATASETS["options"].key(day)).exists()
    assert (landing / DATASETS["stocks"].key(day)).exists()
    skipped = result.asset_materializations_for_node("options_day_file")[0].metadata
    assert skipped["skipped"].value == "no symbol of this run is in options"
    parsed = result.asset_materializations_for_node("options_bars")[0].metadata
    assert parsed["skipped"].value == "no symbol of this run is in options"
    assert db.execute(
        "SELECT count(*) FROM historical_bars WHERE dataset = 'options'"
    ).fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM historical_bars WHERE symbol = 'SPY'").fetchone()[0] > 0


def test_a_symbol_run_adds_its_bars_and_keeps_everyone_elses(env, db, source_dir):
    day = date(2025, 11, 25)
    assert run(env, day=day.isoformat()).success
    before = set(db.execute("SELECT * FROM historical_bars").fetchall())
    store = env["bar_store"].store()
    indices_before = store.read("indices", day)
    stocks_before = store.read("stocks", day)

    add_to_watchlist(db, "IWM")
    result = run(env, day=day.isoformat(), tags={SYMBOLS_TAG: "IWM"})
    assert result.success
    after = set(db.execute("SELECT * FROM historical_bars").fetchall())
    added = after - before
    assert before <= after and added
    assert {r[0] for r in added} == {"IWM"}
    iwm = watchlist_rows(source_dir, day, {"indices": set(), "stocks": {"IWM"}, "options": set()})
    assert {r[:7] for r in table_rows(db, day) if r[0] == "IWM"} == iwm
    # The indices file was not opened, and the store still holds every symbol's bars.
    indices = result.asset_materializations_for_node("indices_bars")[0].metadata
    assert indices["skipped"].value == "no symbol of this run is in indices"
    assert store.read("indices", day) == indices_before
    stocks = store.read("stocks", day)
    assert stocks.underlyings == stocks_before.underlyings | {"IWM"}
    assert stocks.bars.num_rows == stocks_before.bars.num_rows + len(iwm)

    # So a reload from the store alone puts back exactly the same table.
    reload = materialize(
        ASSETS,
        selection=[historical_bars.key],
        partition_key=day.isoformat(),
        resources=env,
        instance=DagsterInstance.ephemeral(),
    )
    assert reload.success
    assert set(db.execute("SELECT * FROM historical_bars").fetchall()) == after


def test_days_failing_side_by_side_are_all_named_and_the_others_load(
    env, db, s3_client, source_dir, monkeypatch
):
    monkeypatch.setenv("MARKET_DATA_DAY_WORKERS", "3")
    for day in (date(2025, 11, 24), date(2025, 11, 26)):
        s3_client.delete_object(Bucket=env["flat_files"].bucket, Key=DATASETS["stocks"].key(day))
    result = run(env, days=("2025-11-24", "2025-11-26"))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "historical_bars"
    message = failure.event_specific_data.error.cause.message
    assert "historical_bars: 2 days failed: 2025-11-24: stocks day file: stocks 2025-11-24: " in (
        message
    )
    assert "; 2025-11-26: stocks day file: " in message and "2025-11-25" not in message
    # A day is loaded whole or not at all: the failed days keep none of their indices either.
    for day in (date(2025, 11, 24), date(2025, 11, 26)):
        assert table_rows(db, day) == set()
    day = date(2025, 11, 25)
    assert table_rows(db, day) == watchlist_rows(source_dir, day, WATCH)
