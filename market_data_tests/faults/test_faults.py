"""Faults against the real components: each ends with the table as it was, or complete.

Day A is loaded and must never change; day B is loaded, then hit by the fault, then
re-run once the fault is gone. Every error must name what failed.
"""

from __future__ import annotations

import gzip
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import date, timedelta

import psycopg
import pytest
from dagster import DagsterInstance, materialize

from market_data.calendar import day_window
from market_data.datasets import DATASETS
from market_data.defs.assets import DATASET_ASSETS, historical_bars
from market_data.defs.resources import (
    BarStoreResource,
    FlatFilesResource,
    PipelineSettingsResource,
    RestApiResource,
    WarehouseResource,
)
from market_data.pipeline import load_bars
from market_data.sources import flat_files
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.generate import generate_source
from market_data_local.s3 import seed_bucket
from market_data_tests.conftest import chain_resources
from market_data_tests.s3_fault_proxy import Fault, S3FaultProxy

pytestmark = pytest.mark.slow  # every fault through real runs, concurrent partitions

ASSETS = [*DATASET_ASSETS, historical_bars]
DAY_A, DAY_B = date(2025, 11, 24), date(2025, 11, 25)
STOCKS_KEY_B = DATASETS["stocks"].key(DAY_B)
SECRET = "s3-secret-value-7f3a9c"
API_KEY = "rest-key-value-51be2d"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("fault-source")
    generate_source(root, DAY_A, DAY_B)
    return root


@pytest.fixture
def world(db, database_url, s3_client, s3_endpoint, bucket, source, tmp_path, monkeypatch):
    monkeypatch.setattr(flat_files, "RETRY_BACKOFF_SECONDS", 0.05)
    seed_bucket(s3_endpoint, bucket, source)
    for symbol in ("SPX", "SPY"):
        add_to_watchlist(db, symbol)
    with S3FaultProxy(s3_endpoint) as proxy:
        resources = chain_resources(
            proxy.endpoint,
            bucket,
            database_url,
            tmp_path,
            secret_key=SECRET,
            rest_api=RestApiResource(api_key=API_KEY, window_days=1),
        )
        world = {
            "resources": resources,
            "proxy": proxy,
            "db": db,
            "s3": s3_client,
            "bucket": bucket,
            "source": source,
            "landing": tmp_path / "landing",
        }
        assert run(world, DAY_A).success and run(world, DAY_B).success
        yield world


def run(world, day: date, **overrides):
    resources = dict(world["resources"], **overrides)
    return materialize(
        ASSETS,
        partition_key=day.isoformat(),
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def rows(world, day: date) -> list[tuple]:
    window = day_window(day)
    return (
        world["db"]
        .execute(
            "SELECT * FROM historical_bars WHERE timestamp >= %s AND timestamp < %s ORDER BY 1, 3",
            (window.start_ms, window.end_ms),
        )
        .fetchall()
    )


def failure_message(result) -> str:
    messages = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            messages.append((error.cause or error).message)
    return "\n".join(messages)


def assert_failed_cleanly(
    world,
    report,
    result,
    fault: str,
    message: str,
    before: list,
    outcome: str = "clear error, table unchanged",
) -> None:
    """The run failed saying ``message``, and day B holds exactly what it held before."""
    assert not result.success
    assert message in failure_message(result)
    assert rows(world, DAY_B) == before
    report(fault, outcome, len(before), len(rows(world, DAY_B)))


def publish(world, body: bytes, key: str = STOCKS_KEY_B) -> None:
    world["s3"].put_object(Bucket=world["bucket"], Key=key, Body=body)


def good_body(world) -> bytes:
    return (world["source"] / STOCKS_KEY_B).read_bytes()


def _reorder(data: bytes) -> bytes:
    lines = gzip.decompress(data).decode().splitlines()
    order = [6, 0, 2, 4, 5, 3, 1, 7]  # window_start,ticker,open,high,low,close,volume,transactions
    out = [",".join(line.split(",")[i] for i in order) for line in lines]
    return gzip.compress(("\n".join(out) + "\n").encode())


def _non_numeric(data: bytes) -> bytes:
    lines = gzip.decompress(data).decode().splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("SPY,"))
    fields = lines[i].split(",")
    fields[2] = "12.3x"
    lines[i] = ",".join(fields)
    return gzip.compress(("\n".join(lines) + "\n").encode())


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


def _wrong_header(data: bytes) -> bytes:
    lines = gzip.decompress(data).decode().splitlines()
    lines[0] = "ticker,volume,open,close,high,low,timestamp,transactions"
    return gzip.compress(("\n".join(lines) + "\n").encode())


BAD_FILES = {
    "truncated gzip": lambda d: d[: len(d) // 2],
    "corrupt gzip": _flip,
    "wrong header": _wrong_header,
    "non-numeric price": _non_numeric,
    "empty file": lambda d: gzip.compress(b""),
    "0-byte object": lambda d: b"",
}


@pytest.mark.parametrize("fault", list(BAD_FILES))
def test_a_bad_day_file_changes_nothing_and_a_rerun_completes(world, report, fault):
    before_a, before_b = rows(world, DAY_A), rows(world, DAY_B)
    publish(world, BAD_FILES[fault](good_body(world)))
    assert_failed_cleanly(
        world, report, run(world, DAY_B), f"day file: {fault}", STOCKS_KEY_B, before_b
    )
    assert rows(world, DAY_A) == before_a

    publish(world, good_body(world))
    assert run(world, DAY_B).success
    assert rows(world, DAY_B) == before_b


def test_a_reordered_header_is_read_by_name(world, report):
    before = rows(world, DAY_B)
    publish(world, _reorder(good_body(world)))
    assert run(world, DAY_B).success
    assert rows(world, DAY_B) == before
    report(
        "day file: reordered header",
        "complete (parsed by name)",
        len(before),
        len(rows(world, DAY_B)),
    )


def test_s3_403_names_the_object_and_changes_nothing(world, report):
    before = rows(world, DAY_B)
    world["proxy"].arm(Fault(STOCKS_KEY_B, "forbidden", times=100))
    assert_failed_cleanly(
        world,
        report,
        run(world, DAY_B),
        "S3 403 (bad keys)",
        f"s3://{world['bucket']}/{STOCKS_KEY_B}: access denied (403)",
        before,
    )
    world["proxy"].faults.clear()
    assert run(world, DAY_B).success and rows(world, DAY_B) == before


def test_s3_reset_mid_download_is_retried(world, report):
    before = rows(world, DAY_B)
    publish(world, _reorder(good_body(world)))  # a new ETag: the file must be fetched again
    world["proxy"].arm(Fault(STOCKS_KEY_B, "reset", times=1, reset_after_bytes=2048))
    assert run(world, DAY_B).success
    assert rows(world, DAY_B) == before
    assert not list(world["landing"].rglob("*.part"))
    report(
        "S3 reset mid-download (once)", "retried, complete", len(before), len(rows(world, DAY_B))
    )


def test_s3_resets_that_persist_leave_no_half_file(world, report):
    before = rows(world, DAY_B)
    publish(world, _reorder(good_body(world)))
    world["proxy"].arm(Fault(STOCKS_KEY_B, "reset", times=3, reset_after_bytes=2048))
    assert_failed_cleanly(
        world,
        report,
        run(world, DAY_B),
        "S3 reset mid-download (persistent)",
        "gave up after 3 attempts",
        before,
        "clear error, no half file",
    )
    assert not list(world["landing"].rglob("*.part"))
    assert run(world, DAY_B).success and rows(world, DAY_B) == before


def test_database_refusing_connections_is_named(world, report):
    result = run(
        world,
        DAY_B,
        warehouse=WarehouseResource(
            database_url="postgresql://market:pw-not-shown@127.0.0.1:1/market"
        ),
    )
    message = failure_message(result)
    assert not result.success
    assert "cannot connect to PostgreSQL market@127.0.0.1:1/market" in message
    assert "pw-not-shown" not in message
    report("PostgreSQL refuses connections", "clear error, no password shown", "-", "-")


def test_a_load_killed_mid_transaction_leaves_the_day_as_it_was(world, report, database_url):
    before = rows(world, DAY_B)
    blocker = psycopg.connect(database_url)
    blocker.execute("BEGIN")
    blocker.execute("LOCK TABLE historical_bars IN ACCESS EXCLUSIVE MODE")
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("result", run(world, DAY_B)))
    thread.start()
    deadline, victim = time.monotonic() + 60, None
    while victim is None and time.monotonic() < deadline:
        found = (
            world["db"]
            .execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'market-data'"
                " AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM historical_bars%%'"
            )
            .fetchone()
        )
        victim = found[0] if found else None
        time.sleep(0.1)
    assert victim, "the load never reached the table"
    world["db"].execute("SELECT pg_terminate_backend(%s)", (victim,))
    blocker.execute("ROLLBACK")
    blocker.close()
    thread.join(timeout=60)
    assert_failed_cleanly(
        world,
        report,
        outcome["result"],
        "PostgreSQL connection killed mid-load",
        f"historical_bars {DAY_B}",
        before,
    )
    assert run(world, DAY_B).success and rows(world, DAY_B) == before


def test_two_loads_of_one_day_serialize(world, report, database_url):
    before = rows(world, DAY_B)
    store = world["resources"]["bar_store"].store()
    stored = {n: store.read(n, DAY_B).underlyings for n in DATASETS if store.exists(n, DAY_B)}

    def load() -> int:
        with psycopg.connect(database_url, autocommit=True) as conn:
            return load_bars(conn, DAY_B, list(DATASETS.values()), store, stored).rows_copied

    with ThreadPoolExecutor(4) as pool:
        copied = list(pool.map(lambda _: load(), range(4)))
    assert len(set(copied)) == 1
    assert rows(world, DAY_B) == before
    report(
        "4 concurrent loads of one day",
        "serialized, each bar once",
        len(before),
        len(rows(world, DAY_B)),
    )


def test_no_secret_in_events_or_logs(world, report, caplog, capsys):
    result = run(world, DAY_B)
    assert result.success
    text = "\n".join(str(e) for e in result.all_events)
    text += "\n".join(
        str(v)
        for m in result.asset_materializations_for_node("stocks_day_file")
        for v in m.metadata.values()
    )
    captured = capsys.readouterr()
    text += caplog.text + captured.out + captured.err
    for secret in (SECRET, API_KEY):
        assert secret not in text
    report("secrets in events, metadata, logs", "none found", "-", "-")


def _materialize_one(args: tuple[str, dict[str, str]]) -> bool:
    """One partition in its own process (runs are processes, as the run launcher starts them)."""
    day, config = args
    resources = {
        "flat_files": FlatFilesResource(**config["flat_files"]),
        "warehouse": WarehouseResource(database_url=config["database_url"]),
        "bar_store": BarStoreResource(root=config["bars"]),
        "rest_api": RestApiResource(),
        "pipeline_settings": PipelineSettingsResource(),
    }
    return materialize(
        ASSETS,
        partition_key=day,
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    ).success


def test_twenty_partitions_in_concurrent_runs_load_every_bar_once(
    db, database_url, s3_client, s3_endpoint, bucket, tmp_path, report
):
    import multiprocessing

    days = [d for d in (date(2025, 10, 27) + timedelta(n) for n in range(26)) if d.weekday() < 5]
    assert len(days) == 20
    root = tmp_path / "source"
    generate_source(root, days[0], days[-1])
    seed_bucket(s3_endpoint, bucket, root)
    add_to_watchlist(db, "SPX")
    add_to_watchlist(db, "SPY", include_options=True)
    config = {
        "flat_files": {
            "endpoint_url": s3_endpoint,
            "bucket": bucket,
            "access_key": "k",
            "secret_key": "s",
            "landing_dir": str(tmp_path / "landing"),
        },
        "database_url": database_url,
        "bars": str(tmp_path / "bars"),
    }
    # An executor, not a Pool: a Pool's exit terminates its workers, and a worker that
    # Dagster's run set a SIGTERM handler in may never die, which left the test hanging.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=4, mp_context=spawn) as pool:
        outcomes = list(
            pool.map(_materialize_one, [(d.isoformat(), config) for d in days], timeout=900)
        )
    assert all(outcomes)
    total, distinct = db.execute(
        "SELECT count(*), count(DISTINCT (symbol, timeframe, timestamp)) FROM historical_bars"
    ).fetchone()
    spx = dict(
        db.execute(
            "SELECT (to_timestamp(timestamp / 1000.0) AT TIME ZONE 'America/New_York')::date, count(*)"
            " FROM historical_bars WHERE symbol = 'SPX' GROUP BY 1"
        ).fetchall()
    )
    assert total == distinct and set(spx) == set(days) and set(spx.values()) == {390}
    report("20 partitions, 4 concurrent runs", "every bar exactly once", 0, total)


def test_a_disk_full_error_is_surfaced_and_nothing_is_kept(world, report, database_url):
    """The server refusing to write (SQLSTATE 53100, as on a full disk) mid-load."""
    before = rows(world, DAY_B)
    partition = f"historical_bars_{DAY_B:%Y_%m}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(
            "CREATE FUNCTION market_data_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'"
            " USING ERRCODE = 'disk_full'; END $$"
        )
        admin.execute(
            f"CREATE TRIGGER disk_full BEFORE INSERT ON {partition}"
            " FOR EACH ROW EXECUTE FUNCTION market_data_disk_full()"
        )
    assert_failed_cleanly(
        world,
        report,
        run(world, DAY_B),
        "PostgreSQL disk full mid-load",
        f"historical_bars {DAY_B}: could not extend file: No space left on device",
        before,
        "error surfaced, table unchanged",
    )
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f"DROP TRIGGER disk_full ON {partition}")
    assert run(world, DAY_B).success and rows(world, DAY_B) == before
