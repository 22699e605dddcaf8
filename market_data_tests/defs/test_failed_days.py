"""A range run in which some days fail: it ends, loads every other day, and names the failed.

The first tests drive the day runner alone over 90 days; the others run the asset graph
over ranges of 5 and 90 days with a session day's file missing at the start, in the
middle and at the end. Each run must end within a generous bound: a hang fails the test
instead of the suite.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, materialize

from market_data.calendar import is_session
from market_data.datasets import DATASETS
from market_data.defs.assets import DATASET_ASSETS, historical_bars
from market_data.defs.checks import bar_sanity_check, missing_bars
from market_data.defs.day_runs import run_side_by_side
from market_data.errors import DayDataError
from market_data.run_tags import RANGE_END_TAG, RANGE_START_TAG
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.generate import GeneratorSizes, generate_source
from market_data_local.s3 import seed_bucket
from market_data_tests.conftest import chain_resources
from market_data_tests.day_files import table_rows, watchlist_rows

pytestmark = pytest.mark.slow  # 90-day range runs

T = TypeVar("T")
BOUND_SECONDS = 300  # far above any real run here: only a run that never ends reaches it


def ends_within(seconds: float, work: Callable[[], T]) -> T:
    """``work()``, or a test failure if it has not returned after ``seconds``."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds:.0f}s: a failed day must not hang the run")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


# -- the day runner alone ------------------------------------------------------------------

DAYS = [date(2025, 1, 1) + timedelta(n) for n in range(90)]


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("position", [0, 45, 89])
def test_a_bad_day_fails_alone_and_every_other_day_is_done(workers, position):
    bad = DAYS[position]

    def step(day: date) -> int:
        time.sleep(0.001)
        if day == bad:
            raise DayDataError(f"{day}: file missing")
        return day.toordinal()

    outcomes = ends_within(60, lambda: run_side_by_side(DAYS, step, label="x", workers=workers))
    assert [d for d, _ in outcomes.done] == [d for d in DAYS if d != bad]
    assert outcomes.failed == {bad: f"x: {bad}: file missing"}
    assert outcomes.not_started == [] and outcomes.stopped_by is None


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("position", [0, 45, 89])
def test_an_error_of_every_day_stops_the_range_and_ends(workers, position):
    started: list[date] = []
    lock = threading.Lock()

    def step(day: date) -> int:
        with lock:
            started.append(day)
        time.sleep(0.002)
        if day >= DAYS[position]:
            raise ConnectionError("database gone")
        return 1

    outcomes = ends_within(60, lambda: run_side_by_side(DAYS, step, workers=workers))
    assert isinstance(outcomes.stopped_by, ConnectionError)
    # The days under way finished; the ones queued behind them were never started.
    assert len(started) <= position + workers
    assert sorted(outcomes.not_started) == [d for d in DAYS if d not in started]
    assert len(outcomes.done) + len(outcomes.failed) + len(outcomes.not_started) == len(DAYS)
    assert not [t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")]


# -- the asset graph over a range ----------------------------------------------------------

ASSETS = [*DATASET_ASSETS, historical_bars, missing_bars, bar_sanity_check]
LONG = (date(2025, 7, 1), date(2025, 9, 28))  # 90 days, 62 sessions (July 4th among them)
SHORT = (date(2025, 7, 7), date(2025, 7, 11))  # 5 sessions
TINY = GeneratorSizes(other_indices=5, other_stocks=5, contracts_per_underlying=1)
WATCH = {"indices": {"SPX"}, "stocks": set(), "options": set()}


@pytest.fixture(scope="module")
def indices_source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("indices")
    generate_source(root, *LONG, datasets=[DATASETS["indices"]], sizes=TINY)
    return root


def sessions(first: date, last: date) -> list[date]:
    return [
        d for d in (first + timedelta(n) for n in range((last - first).days + 1)) if is_session(d)
    ]


def run_range(resources, first: date, last: date):
    """The run's result, the partitions it materialized and the checks that failed, by day.

    The instance is made, run and read in one thread: its SQLite storage stays in the thread
    that created it.
    """

    def work():
        with DagsterInstance.ephemeral() as instance:
            result = materialize(
                ASSETS,
                resources=resources,
                tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()},
                instance=instance,
                raise_on_error=False,
            )
            failed: dict[str, set[str]] = {}
            for entry in instance.all_logs(
                result.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
            ):
                evaluation = entry.dagster_event.event_specific_data
                if not evaluation.passed:
                    failed.setdefault(evaluation.check_name, set()).add(evaluation.partition)
            materialized = instance.get_materialized_partitions(AssetKey("historical_bars"))
        return result, materialized, failed

    return ends_within(BOUND_SECONDS, work)


@pytest.mark.parametrize(
    ("span", "workers", "where"),
    [
        *[(SHORT, w, p) for w in ("1", "2") for p in ("start", "middle", "end")],
        (LONG, "1", "start,middle,end"),
        (LONG, "2", "start,middle,end"),
    ],
    ids=lambda v: v if isinstance(v, str) else f"{(v[1] - v[0]).days + 1}days",
)
def test_a_range_with_missing_files_loads_every_other_day_and_names_them(
    span,
    workers,
    where,
    db,
    database_url,
    s3_endpoint,
    bucket,
    s3_client,
    indices_source,
    tmp_path,
    monkeypatch,
):
    monkeypatch.setenv("MARKET_DATA_DAY_WORKERS", workers)
    seed_bucket(s3_endpoint, bucket, indices_source)
    add_to_watchlist(db, "SPX")
    days = sessions(*span)
    positions = {"start": 0, "middle": len(days) // 2, "end": len(days) - 1}
    missing = sorted({days[positions[w]] for w in where.split(",")})
    for day in missing:
        s3_client.delete_object(Bucket=bucket, Key=DATASETS["indices"].key(day))

    result, materialized, failed_checks = run_range(
        chain_resources(s3_endpoint, bucket, database_url, tmp_path), *span
    )

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "historical_bars"
    message = failure.event_specific_data.error.cause.message
    for day in missing:
        assert f"indices day file: indices {day}: us_indices/" in message, message
    many = f"historical_bars: {len(missing)} days failed: "
    assert many in message if len(missing) > 1 else f"historical_bars {missing[0]}: " in message
    # Every other day is in the table exactly as its file has it; the missing ones are not.
    for day in days:
        expected = set() if day in missing else watchlist_rows(indices_source, day, WATCH)
        assert table_rows(db, day) == expected, day
    # Dagster shows the loaded days as materialized, and missing_bars failed on the others.
    loaded = {d.isoformat() for d in sessions(*span)} - {d.isoformat() for d in missing}
    assert loaded <= materialized and not materialized & {d.isoformat() for d in missing}
    assert failed_checks == {"missing_bars": {d.isoformat() for d in missing}}
    assert not [t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")]
