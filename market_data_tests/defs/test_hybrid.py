"""REST for days whose file is not out yet, then the flat file's truth once it is.

Real components: the S3-compatible server, PostgreSQL, and an HTTP server on loopback
speaking the aggregates API. The days are the latest sessions before today, because
the REST window is measured from today.
"""

from __future__ import annotations

import csv
import gzip
from datetime import date, timedelta
from pathlib import Path

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from market_data.calendar import day_window, is_session, today_in_new_york
from market_data.datasets import DATASETS
from market_data.definitions import defs
from market_data.defs.assets import DATASET_ASSETS, historical_bars
from market_data.defs.resources import (
    RestApiResource,
)
from market_data.defs.sensors import flat_file_supersedes_rest
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.generate import generate_day_file
from market_data_local.rest_server import LocalRestServer
from market_data_tests.conftest import chain_resources

pytestmark = pytest.mark.slow  # REST then flat-file runs

ASSETS = [*DATASET_ASSETS, historical_bars]
API_KEY = "hybrid-test-key"


def last_sessions(n: int) -> list[date]:
    days, day = [], today_in_new_york() - timedelta(days=1)
    while len(days) < n:
        if is_session(day):
            days.append(day)
        day -= timedelta(days=1)
    return sorted(days)


OLD, RECENT = last_sessions(2)


def file_rows(path: Path, ticker: str) -> list[dict[str, str]]:
    with gzip.open(path, "rt", newline="") as f:
        return [r for r in csv.DictReader(f) if r["ticker"] == ticker]


@pytest.fixture
def world(db, database_url, s3_client, s3_endpoint, bucket, tmp_path):
    source = tmp_path / "source"
    for day in (OLD, RECENT):
        for dataset in DATASETS.values():
            generate_day_file(dataset, day, source / dataset.key(day))
    for dataset in DATASETS.values():  # only the older day is published
        s3_client.upload_file(str(source / dataset.key(OLD)), bucket, dataset.key(OLD))
    for symbol in ("SPX", "SPY"):
        add_to_watchlist(db, symbol, include_options=symbol == "SPY")

    def rest_bars(ticker: str, day: date) -> list[dict]:
        dataset = DATASETS["indices" if ticker.startswith("I:") else "stocks"]
        rows = file_rows(source / dataset.key(day), ticker)
        bars = [
            {
                "o": float(r["open"]),
                "h": float(r["high"]) + 0.5,
                "l": float(r["low"]),
                "c": float(r["close"]),
                "t": int(r["window_start"]) // 1_000_000,
            }
            | (
                {"v": float(r["volume"]), "vw": float(r["close"]), "n": int(r["transactions"])}
                if "volume" in r
                else {}
            )
            for r in rows
        ]
        # A late bar the file will not have: the flat file must remove it.
        last = dict(bars[-1], t=bars[-1]["t"] + 60_000)
        return [*bars, last]

    with LocalRestServer(API_KEY, rest_bars) as server:
        rest_api = RestApiResource(
            base_url=server.base_url, api_key=API_KEY, requests_per_minute=0, window_days=10
        )
        resources = chain_resources(s3_endpoint, bucket, database_url, tmp_path, rest_api=rest_api)
        yield {"resources": resources, "source": source, "server": server}


def run(resources, day: date):
    return materialize(
        ASSETS,
        partition_key=day.isoformat(),
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def day_rows(db, day: date):
    window = day_window(day)
    return db.execute(
        "SELECT symbol, timestamp, high, source FROM historical_bars"
        " WHERE timestamp >= %s AND timestamp < %s ORDER BY symbol, timestamp",
        (window.start_ms, window.end_ms),
    ).fetchall()


def test_rest_then_flat_file_supersedes_it(world, db, s3_client, bucket):
    resources, source = world["resources"], world["source"]

    result = run(resources, RECENT)
    assert result.success
    rest_rows = day_rows(db, RECENT)
    assert rest_rows and {r[3] for r in rest_rows} == {"rest"}
    spy_file = file_rows(source / DATASETS["stocks"].key(RECENT), "SPY")
    spy_rest = [r for r in rest_rows if r[0] == "SPY"]
    assert len(spy_rest) == len(spy_file) + 1
    assert spy_rest[0][2] == float(spy_file[0]["high"]) + 0.5  # the REST value, not the file's
    assert all(API_KEY not in request for request in world["server"].state.requests)
    bars_meta = result.asset_materializations_for_node("stocks_bars")[0].metadata
    assert bars_meta["source"].value == "rest"
    assert "not published yet" in bars_meta["source_choice"].value
    options_meta = result.asset_materializations_for_node("options_bars")[0].metadata
    assert "option contracts come from flat files only" in options_meta["source_choice"].value

    # Not published yet: the sensor waits.
    sensor_resources = {name: resources[name] for name in ("warehouse", "flat_files")}
    context = build_sensor_context(
        instance=DagsterInstance.ephemeral(), definitions=defs, resources=sensor_resources
    )
    skipped = flat_file_supersedes_rest(context)
    assert "not published yet" in skipped.skip_message

    for dataset in DATASETS.values():
        s3_client.upload_file(str(source / dataset.key(RECENT)), bucket, dataset.key(RECENT))
    requests = flat_file_supersedes_rest(context)
    assert [r.partition_key for r in requests] == [RECENT.isoformat()]

    assert run(resources, RECENT).success
    flat_rows = day_rows(db, RECENT)
    assert {r[3] for r in flat_rows} == {"flat_file"}
    spy_flat = [r for r in flat_rows if r[0] == "SPY"]
    assert [(r[1], r[2]) for r in spy_flat] == [
        (int(f["window_start"]) // 1_000_000, float(f["high"])) for f in spy_file
    ]
    assert any(r[0].startswith("O:SPY") for r in flat_rows)  # options now from the file
    assert flat_file_supersedes_rest(context).skip_message.startswith("no REST-sourced bars")


def test_a_rest_load_never_overwrites_the_flat_file(world, db, s3_client, bucket):
    resources, source = world["resources"], world["source"]
    for dataset in DATASETS.values():
        s3_client.upload_file(str(source / dataset.key(RECENT)), bucket, dataset.key(RECENT))
    assert run(resources, RECENT).success
    before = day_rows(db, RECENT)
    for dataset in DATASETS.values():  # withdrawn again: the REST path is taken
        s3_client.delete_object(Bucket=bucket, Key=dataset.key(RECENT))
    assert run(resources, RECENT).success
    after = day_rows(db, RECENT)
    flat = [r for r in after if r[3] == "flat_file"]
    assert flat == before
    # Only the REST-only late bars were added, as REST rows.
    assert {r[0] for r in after if r[3] == "rest"} <= {"SPX", "SPY"}
    assert len(after) - len(before) == 2


def test_old_days_without_a_file_fail_clearly(world, db):
    resources = dict(
        world["resources"],
        rest_api=RestApiResource(base_url=world["server"].base_url, api_key=API_KEY, window_days=1),
    )
    result = run(resources, RECENT)  # a window of 1 day is today alone
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "older than the REST window of 1 days" in failure.event_specific_data.error.cause.message
    assert day_rows(db, RECENT) == []


def test_without_an_api_key_the_rest_path_says_it_is_disabled(world, db):
    resources = dict(world["resources"], rest_api=RestApiResource(window_days=10))
    result = run(resources, RECENT)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "REST path is disabled (MASSIVE_API_KEY is not set)" in (
        failure.event_specific_data.error.cause.message
    )
