"""The demo left running: its schedules and sensors find what they ask for, whatever the day.

The demo's own servers (the local S3 server with the generated day files, the demo's REST
server) under a home of their own, and the product's embedded resources pointing at them,
on a fixed New York clock: the day after the demo's weeks, then the days after it, as a UI
left running would see them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from dagster import DagsterInstance, build_schedule_context, build_sensor_context, materialize

import market_data.calendar
from market_data.calendar import NEW_YORK, day_window
from market_data.datasets import DATASETS
from market_data.defs.assets import (
    DATASET_ASSETS,
    UTC_DATASET_ASSETS,
    historical_bars,
    historical_bars_utc,
)
from market_data.defs.checks import bar_sanity_check, missing_bars
from market_data.defs.resources import (
    BarStoreResource,
    EmbeddedFlatFilesResource,
    EmbeddedRestApiResource,
    PipelineSettingsResource,
    WarehouseResource,
)
from market_data.defs.schedules import daily_after_close, daily_utc, weekly_bulk
from market_data.defs.sensors import flat_file_supersedes_rest
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.demo_source import demo_rest_server, demo_source_dir
from market_data_local.embedded import start_embedded
from market_data_local.s3 import LocalS3Server

pytestmark = pytest.mark.slow  # the demo's servers over simulated days

ASSETS = [*DATASET_ASSETS, historical_bars, missing_bars, bar_sanity_check]
TUESDAY = date(2025, 12, 2)  # the week after the demo's five weeks
WATCHED = ("SPX", "SPY", "NVDA")  # SPY with its options


class Clock:
    """New York's today for every ``market_data`` module that reads it (as the soak's clock
    does), moved by the test; the servers' own processes keep the real clock, which is
    later than any day here."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, today: date) -> None:
        self.today = today
        original = market_data.calendar.today_in_new_york
        for name, module in list(sys.modules.items()):
            if name.startswith("market_data") and getattr(module, "today_in_new_york", None) is (
                original
            ):
                monkeypatch.setattr(module, "today_in_new_york", lambda: self.today)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=NEW_YORK)


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch, db, database_url, tmp_path: Path) -> Iterator[dict]:
    home = tmp_path / "home"
    monkeypatch.setenv("MARKET_DATA_HOME", str(home))
    for name in ("MASSIVE_AWS_ACCESS_KEY", "MASSIVE_S3_ENDPOINT", "MASSIVE_S3_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
    # The recent days: the schedules' week, not 90 (the demo's weeks are generated anyway).
    monkeypatch.setenv("MARKET_DATA_WATCHLIST_BACKFILL_DAYS", "2")
    clock = Clock(monkeypatch, TUESDAY)
    for symbol in WATCHED:
        add_to_watchlist(db, symbol, include_options=symbol == "SPY")
    try:
        start_embedded(home, database=False, source=True, rest=True)
        yield {
            "home": home,
            "clock": clock,
            "instance": DagsterInstance.ephemeral(),
            "resources": {
                "flat_files": EmbeddedFlatFilesResource(landing_dir=str(home / "landing")),
                "warehouse": WarehouseResource(database_url=database_url),
                "bar_store": BarStoreResource(root=str(home / "bars")),
                "rest_api": EmbeddedRestApiResource(),
                "pipeline_settings": PipelineSettingsResource(),
            },
        }
    finally:
        demo_rest_server(home).stop()
        LocalS3Server(home / "s3").stop()


def run(demo: dict, tags: dict[str, str], partition: str | None = None):
    """The run a schedule or sensor asked for, as the daemon would launch it."""
    return materialize(
        ASSETS,
        partition_key=partition,
        resources=demo["resources"],
        tags=tags,
        instance=demo["instance"],
        raise_on_error=False,
    )


def logged(demo: dict, result) -> list[str]:
    return [entry.user_message for entry in demo["instance"].all_logs(result.run_id)]


def sources(db, day: date) -> dict[str, set[str]]:
    window = day_window(day)
    rows = db.execute(
        "SELECT underlying, source FROM historical_bars"
        " WHERE timestamp >= %s AND timestamp < %s GROUP BY 1, 2",
        (window.start_ms, window.end_ms),
    ).fetchall()
    found: dict[str, set[str]] = {}
    for underlying, source in rows:
        found.setdefault(underlying, set()).add(source)
    return found


def every(source: str) -> dict[str, set[str]]:
    return {symbol: {source} for symbol in WATCHED}


def bars_of(db, symbol: str, day: date) -> list[tuple]:
    window = day_window(day)
    return db.execute(
        "SELECT timestamp, open, high, low, close, volume FROM historical_bars"
        " WHERE symbol = %s AND timestamp >= %s AND timestamp < %s ORDER BY timestamp",
        (symbol, window.start_ms, window.end_ms),
    ).fetchall()


def check_results(result, name: str) -> dict[str, bool]:
    return {
        e.event_specific_data.partition: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == name
        and e.event_specific_data.partition  # one per day (a range's own result has none)
    }


def test_a_demo_left_running_finds_its_days(demo, db):
    home, clock = demo["home"], demo["clock"]
    published = demo_source_dir(home)
    stocks = DATASETS["stocks"]
    monday, wednesday = TUESDAY - timedelta(days=1), TUESDAY + timedelta(days=1)
    # Published: the days up to yesterday, as Massive publishes a day's files the day after.
    assert (published / stocks.key(monday)).exists()
    assert not (published / stocks.key(TUESDAY)).exists()

    # Tuesday 17:00: yesterday from its file, today from the demo's REST server.
    request = daily_after_close(build_schedule_context(scheduled_execution_time=at(TUESDAY, 17)))
    result = run(demo, request.tags)
    assert result.success
    assert sources(db, monday) == every("flat_file")
    # Option contracts come from flat files only: SPY's wait for Tuesday's file.
    assert sources(db, TUESDAY) == every("rest")
    assert check_results(result, "missing_bars") == {
        monday.isoformat(): True,
        TUESDAY.isoformat(): True,
    }
    rest_spy = bars_of(db, "SPY", TUESDAY)

    # Wednesday morning: Tuesday's files are out, the sensor reloads the day from them.
    clock.today = wednesday
    context = build_sensor_context(
        instance=DagsterInstance.ephemeral(),
        resources={name: demo["resources"][name] for name in ("warehouse", "flat_files")},
    )
    [reload] = flat_file_supersedes_rest(context)
    assert reload.partition_key == TUESDAY.isoformat()
    assert (published / stocks.key(TUESDAY)).exists()
    assert run(demo, reload.tags, partition=reload.partition_key).success
    assert sources(db, TUESDAY) == every("flat_file")
    # The REST server served the bars its file now holds.
    assert bars_of(db, "SPY", TUESDAY) == rest_spy

    # Saturday: Friday from its file, Saturday no session: nothing loaded, and said so.
    saturday = TUESDAY + timedelta(days=4)
    clock.today = saturday
    request = daily_after_close(build_schedule_context(scheduled_execution_time=at(saturday, 17)))
    result = run(demo, request.tags)
    assert result.success
    assert sources(db, saturday - timedelta(days=1)) == every("flat_file")
    assert sources(db, saturday) == {}
    assert any(f"historical_bars {saturday}: no session" in line for line in logged(demo, result))

    # The next Monday 06:00: the whole last week again, every day from its file.
    next_monday = TUESDAY + timedelta(days=6)
    clock.today = next_monday
    request = weekly_bulk(build_schedule_context(scheduled_execution_time=at(next_monday, 6)))
    result = run(demo, request.tags)
    assert result.success
    for day in (monday, TUESDAY, wednesday, saturday - timedelta(days=1)):
        assert sources(db, day)["SPY"] == {"flat_file"}, day

    # 06:00 UTC: the crypto and forex days. The demo has no such files and its watchlist no
    # pair: the run loads nothing, and says why (not "no session").
    request = daily_utc(build_schedule_context(scheduled_execution_time=at(next_monday, 1)))
    result = materialize(
        [*UTC_DATASET_ASSETS, historical_bars_utc],
        resources=demo["resources"],
        tags=request.tags,
        instance=demo["instance"],
        raise_on_error=False,
    )
    assert result.success
    assert any(
        "no symbol of this run is in crypto, forex: nothing to load" in line
        for line in logged(demo, result)
    )
