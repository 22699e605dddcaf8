"""Scale-out: the project's real definitions run partitions in parallel as a deployment does.

1. Inside one run: ``historical_bars_job`` over a range of days with the multiprocess
   executor (``max_concurrent: 2``): every step is a worker process of its own, two at a
   time, and the range's rows all land.
2. Across runs: an instance with the ``QueuedRunCoordinator`` (``max_concurrent_runs: 2``),
   a code server and a real ``dagster-daemon run``; one run per partition is queued, the
   daemon never has more than two in progress, and every day lands.

Both run against the session's PostgreSQL cluster and S3 server, with the resources taken
from the environment exactly as a deployment configures them, and Dagster's own storage
in the project's ``ProjectPostgresStorage`` (``dagster.yaml``) on a database of its own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
import yaml
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    EventLogEntry,
    RunsFilter,
    execute_job,
    reconstructable,
)

from market_data.datasets import DATASETS
from market_data.instance import REPO_ROOT
from market_data.ui import CODE_SERVER_ARGS, write_grpc_workspace
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.generate import generate_source
from market_data_local.s3 import seed_bucket
from market_data_tests.day_files import table_rows, watchlist_rows

pytestmark = pytest.mark.slow  # worker processes and a run queue

FIRST_DAY, LAST_DAY = date(2025, 11, 24), date(2025, 11, 28)  # Thanksgiving, an early close
RANGE = ("2025-11-24", "2025-11-26")
QUEUED_DAYS = ("2025-11-25", "2025-11-26", "2025-11-28")  # three runs, two at a time
WATCHLIST = {"SPX": True, "NDX": False, "SPY": True, "QQQ": False}  # symbol: with options
WATCH = {
    "indices": set(WATCHLIST),
    "stocks": set(WATCHLIST),
    "options": {symbol for symbol, options in WATCHLIST.items() if options},
}
DAY_FILE_STEPS = {f"{name}_day_file" for name in DATASETS}
TEST_TAG = "market_data_tests/scale_out"
BIN = Path(sys.executable).parent
IN_PROGRESS = (DagsterRunStatus.STARTING, DagsterRunStatus.STARTED)
FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
RUNS_TIMEOUT_SECONDS = 300
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def historical_bars_job_from_definitions():
    """The job as the code location serves it: each step worker imports it afresh, so its
    resources come from that process's environment, as in a deployment."""
    from market_data.definitions import defs

    return defs.resolve_job_def("historical_bars_job")


# -- the world: day files in the bucket, a watchlist, an environment naming them -----------


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scale-out-source")
    generate_source(root, FIRST_DAY, LAST_DAY)
    return root


@pytest.fixture
def deployment(db, database_url, pg_cluster, s3_endpoint, bucket, source_dir, tmp_path):
    """The environment a deployment sets (README, Environment): every process started for a
    run, the test's own included, sees only these MASSIVE_/DAGSTER_ variables."""
    seed_bucket(s3_endpoint, bucket, source_dir)
    for symbol, options in WATCHLIST.items():
        add_to_watchlist(db, symbol, include_options=options)
    home, dagster_home = tmp_path / "home", tmp_path / "dagster_home"
    home.mkdir()
    dagster_home.mkdir()
    env = {
        "DATABASE_URL": database_url,
        "MASSIVE_S3_ENDPOINT": s3_endpoint,
        "MASSIVE_S3_BUCKET": bucket,
        "MASSIVE_AWS_ACCESS_KEY": "test-access",
        "MASSIVE_AWS_SECRET_KEY": "test-secret",
        "MASSIVE_API_KEY": "",  # set but empty: no REST path, whatever a .env says
        "MARKET_DATA_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_URL": pg_cluster.ensure_database(f"dagster_{uuid.uuid4().hex[:12]}"),
    }
    return {"env": env, "home": home, "dagster_home": dagster_home, "db": db}


def use_environment(monkeypatch, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.startswith(("MASSIVE_", "DAGSTER_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def subprocess_environment(env: dict[str, str]) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("MASSIVE_", "DAGSTER_"))}
    return kept | env


def write_instance_yaml(
    dagster_home: Path,
    *,
    max_concurrent_runs: int | None = None,
    dequeue_seconds: int | None = None,
) -> dict:
    """The repository's ``dagster.yaml`` (its storage and run queue), the queue's settings
    changed where given; the config written."""
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert config["storage"]["custom"]["class"] == "ProjectPostgresStorage", config
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator", config
    if dequeue_seconds is not None:
        config["run_coordinator"]["config"]["dequeue_interval_seconds"] = dequeue_seconds
    if max_concurrent_runs is not None:
        config["concurrency"]["runs"]["max_concurrent_runs"] = max_concurrent_runs
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return config


def failures(logs: Iterable[EventLogEntry]) -> str:
    """What failed in a run, from its event log, for assertion messages."""
    lines = []
    for entry in logs:
        event = entry.dagster_event
        if event and event.event_type in (
            DagsterEventType.STEP_FAILURE,
            DagsterEventType.RUN_FAILURE,
        ):
            error = getattr(event.event_specific_data, "error", None)
            lines.append(f"{entry.step_key or 'run'}: {error.message if error else event.message}")
    return "\n".join(lines) or "(no failure events)"


# -- what landed ----------------------------------------------------------------------------


def assert_days_landed(db, source_dir: Path, days: Iterable[str]) -> None:
    for key in days:
        day = date.fromisoformat(key)
        expected = watchlist_rows(source_dir, day, WATCH)
        assert expected, f"no watchlist bars in the generated files of {key}"
        got = table_rows(db, day)
        assert got == expected, (
            f"{key}: {len(expected - got)} of the files' {len(expected)} bars missing,"
            f" {len(got - expected)} unexpected"
        )


def most_at_once(intervals: Iterable[tuple[float, float]]) -> int:
    """The largest number of intervals that overlap; one ending as another starts does not
    count as overlapping."""
    edges = sorted(e for start, end in intervals for e in ((start, 1), (end, -1)))
    # At equal times the end (-1) sorts before the start (+1).
    current = peak = 0
    for _, change in edges:
        current += change
        peak = max(peak, current)
    return peak


# -- 1. one range run, its steps in worker processes ---------------------------------------


def test_a_range_run_spreads_its_steps_over_worker_processes(deployment, source_dir, monkeypatch):
    use_environment(monkeypatch, deployment["env"])
    write_instance_yaml(deployment["dagster_home"])
    instance = DagsterInstance.get()  # DAGSTER_HOME: the project's storage, in PostgreSQL
    try:
        started = time.monotonic()
        result = execute_job(
            reconstructable(historical_bars_job_from_definitions),
            instance=instance,
            run_config={"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}},
            tags={
                "dagster/asset_partition_range_start": RANGE[0],
                "dagster/asset_partition_range_end": RANGE[1],
            },
        )
        seconds = time.monotonic() - started
        logs = instance.all_logs(result.run_id)
    finally:
        instance.dispose()

    assert result.success, f"the run failed after {seconds:.0f}s:\n{failures(logs)}"

    def by_step(event_type: DagsterEventType) -> dict[str, EventLogEntry]:
        return {
            e.step_key: e
            for e in logs
            if e.dagster_event and e.dagster_event.event_type == event_type and e.step_key
        }

    starts = by_step(DagsterEventType.STEP_START)
    workers = by_step(DagsterEventType.STEP_WORKER_STARTED)
    successes = by_step(DagsterEventType.STEP_SUCCESS)
    assert set(starts) >= DAY_FILE_STEPS, sorted(starts)
    assert set(starts) == set(successes) == set(workers), "every step ran once, in a worker"

    # Every step in a process of its own, none in the process orchestrating the run.
    pids = {step: event.dagster_event.pid for step, event in starts.items()}
    assert len(set(pids.values())) == len(pids), pids
    assert os.getpid() not in pids.values()
    assert len({pids[step] for step in DAY_FILE_STEPS}) == 3

    # Worker lifetimes, from the worker's first event to its step's success: the three
    # independent day files ran two at a time, and no moment had more than two workers.
    lifetimes = {step: (workers[step].timestamp, successes[step].timestamp) for step in starts}
    assert most_at_once(lifetimes[s] for s in DAY_FILE_STEPS) == 2, lifetimes
    assert most_at_once(lifetimes.values()) == 2, lifetimes

    # One run, three partitions: each asset materialized once per day of the range.
    days = {RANGE[0], "2025-11-25", RANGE[1]}
    materialized = [
        e
        for e in logs
        if e.dagster_event and e.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION
    ]
    for name in ("historical_bars", *DAY_FILE_STEPS):
        partitions = sorted(
            e.dagster_event.partition
            for e in materialized
            if e.dagster_event.asset_key.to_user_string() == name
        )
        assert partitions == sorted(days), (name, partitions)
    assert_days_landed(deployment["db"], source_dir, sorted(days))


# -- 2. one run per partition, queued, two at a time ----------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextmanager
def background(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator:
    """A Dagster process in a session of its own (default signal handling, its children in
    its process group); the group is stopped on the way out, whatever happened."""
    with log.open("w") as out:
        process = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)  # the group this process leads, nothing else
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


def dagster_cli_all(
    commands: list[list[str]], env: dict[str, str], cwd: Path, timeout: float = 120
) -> None:
    """``dagster <args>`` for each of ``commands``, side by side; each must succeed."""

    def start(args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            [str(BIN / "dagster"), *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    processes = [start(args) for args in commands]
    deadline = time.monotonic() + timeout
    try:
        for args, process in zip(commands, processes, strict=True):
            try:
                output, _ = process.communicate(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                pytest.fail(f"`dagster {' '.join(args)}` did not finish within {timeout:.0f}s")
            assert process.returncode == 0, (
                f"`dagster {' '.join(args)}` exited {process.returncode}:\n{output}"
            )
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def wait_for(check, timeout: float, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None:
            pytest.fail(f"{what}: the process exited ({process.returncode}):\n{log_tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f}s:\n{log_tail(log)}")
        time.sleep(0.2)


def test_queued_partition_runs_start_two_at_a_time(deployment, source_dir, monkeypatch):
    env = subprocess_environment(deployment["env"])
    use_environment(monkeypatch, deployment["env"])  # this process reads the same instance
    home, dagster_home = deployment["home"], deployment["dagster_home"]
    config = write_instance_yaml(dagster_home, max_concurrent_runs=2, dequeue_seconds=1)
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 2
    code_port = free_port()
    workspace = write_grpc_workspace(dagster_home / "workspace.yaml", code_port)
    cli_args = ["-w", str(workspace)]
    instance = DagsterInstance.get()
    code_log, daemon_log = dagster_home / "code-server.log", dagster_home / "daemon.log"
    try:
        with background(
            [str(BIN / "dagster"), *CODE_SERVER_ARGS, "-p", str(code_port)],
            env,
            home,
            code_log,
        ) as code_server:
            wait_for(lambda: port_answers(code_port), 120, "the code server", code_server, code_log)
            # One run per partition, queued as the UI's "Materialize" or a sensor's run
            # requests queue them; in-process steps, so the runs are the only parallelism.
            launches = [
                [
                    "job",
                    "launch",
                    "-j",
                    "historical_bars_job",
                    *cli_args,
                    "--tags",
                    json.dumps({"dagster/partition": day, TEST_TAG: "queued"}),
                    "--config-json",
                    json.dumps(IN_PROCESS),
                ]
                for day in QUEUED_DAYS
            ]
            # On a fresh instance every watchlist symbol is new to this sensor, which would
            # queue a 90-day backfill of its own: stopped, so only the test's runs exist.
            stop_sensor = ["sensor", "stop", "watchlist_backfill", *cli_args]
            dagster_cli_all([stop_sensor, *launches], env, home)
            mine = RunsFilter(tags={TEST_TAG: "queued"})
            queued = instance.get_runs(filters=mine)
            assert sorted(r.tags.get("dagster/partition") for r in queued) == list(QUEUED_DAYS)
            assert {r.status for r in queued} == {DagsterRunStatus.QUEUED}

            with background(
                [str(BIN / "dagster-daemon"), "run", *cli_args], env, home, daemon_log
            ) as daemon:
                peak, deadline = 0, time.monotonic() + RUNS_TIMEOUT_SECONDS
                while True:
                    runs = instance.get_runs()
                    peak = max(peak, sum(r.status in IN_PROGRESS for r in runs))
                    assert peak <= 2, [(r.run_id[:8], r.status.value) for r in runs]
                    statuses = {r.run_id: r.status for r in runs if r.tags.get(TEST_TAG)}
                    if all(s in FINISHED for s in statuses.values()):
                        break
                    if daemon.poll() is not None:
                        pytest.fail(
                            f"the daemon exited ({daemon.returncode}):\n{log_tail(daemon_log)}"
                        )
                    if time.monotonic() > deadline:
                        pytest.fail(
                            f"runs not finished within {RUNS_TIMEOUT_SECONDS}s: "
                            f"{[s.value for s in statuses.values()]}\n{log_tail(daemon_log)}"
                        )
                    time.sleep(0.2)
        runs = instance.get_runs(filters=mine)
        outcome = {r.tags["dagster/partition"]: r.status for r in runs}
        assert outcome == dict.fromkeys(QUEUED_DAYS, DagsterRunStatus.SUCCESS), "\n".join(
            f"{r.tags['dagster/partition']}: {r.status.value}\n{failures(instance.all_logs(r.run_id))}"
            for r in runs
            if r.status != DagsterRunStatus.SUCCESS
        )
        others = [r for r in instance.get_runs() if not r.tags.get(TEST_TAG)]
        assert all("dagster/schedule_name" in r.tags for r in others), [r.tags for r in others]

        # From the event log: launched (RUN_STARTING) to finished, never more than two runs
        # overlapped, and two did.
        kinds = {DagsterEventType.RUN_STARTING, DagsterEventType.RUN_SUCCESS}
        spans = []
        for run in runs:
            times = {
                e.dagster_event.event_type: e.timestamp
                for e in instance.all_logs(run.run_id, of_type=kinds)
            }
            spans.append(
                (times[DagsterEventType.RUN_STARTING], times[DagsterEventType.RUN_SUCCESS])
            )
        assert most_at_once(spans) == 2, spans
        assert peak == 2, f"polling saw at most {peak} run(s) in progress at once"
    finally:
        instance.dispose()
    assert_days_landed(deployment["db"], source_dir, QUEUED_DAYS)
