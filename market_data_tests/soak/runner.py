"""The soak: weeks of simulated days against the real deployment, with faults.

For each simulated day (New York time, on the clock file the deployment reads):

- 06:00 on Mondays: the ``weekly_bulk`` run, then ``weekly_retention`` (the soak's horizon);
- 08:00 on the days the plan says: a symbol added to or removed from the watchlist (the
  daemon's ``watchlist_backfill`` sensor backfills an added one);
- 11:00: the day files due are put in the bucket (yesterday's, a late one, a republished
  one), which the daemon's ``flat_file_supersedes_rest`` sensor sees;
- 17:00: the ``daily_after_close`` run (yesterday from its file, today from REST).

Runs go through the daemon's run queue (three at a time, as ``dagster.yaml`` says) and
overlap with the next simulated day's. Faults are armed at the times the plan says and
strike whatever reaches them first. At the end the queue is drained and the table,
Dagster's view of it and the leftovers are checked.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as day_time
from pathlib import Path

import psycopg
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from market_data.calendar import NEW_YORK
from market_data.datasets import DATASETS
from market_data.warehouse.db import connect
from market_data.warehouse.schema import apply_schema
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.rest_server import Fault as RestFault
from market_data_tests.s3_fault_proxy import Fault as S3Fault
from market_data_tests.soak import clock
from market_data_tests.soak.checks import Check, dagster_check, leftovers_check, rows_check
from market_data_tests.soak.plan import (
    INITIAL_WATCHLIST,
    REQUEST_TAG,
    Plan,
    PlannedFault,
    make_plan,
)
from market_data_tests.soak.runs import RUNNING, WAITING, RunInfo, all_runs, counts
from market_data_tests.soak.source import generate_files, version_path
from market_data_tests.soak.world import World, log_tail

RETENTION_CONFIG = "prune_old_data"
# What a run launched again keeps of the failed one: its days, symbols and reason.
RERUN_TAGS = (
    "dagster/partition",
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
    "market_data/symbols",
    "market_data/reason",
)
WAIT_SECONDS = 300  # longest any one wait may take before the soak calls the deployment stuck
DRAIN_QUIET_SECONDS = 12  # at the end: no run for two sensor ticks and more


class Stuck(RuntimeError):
    """The deployment stopped making progress; the message says what was waited for."""


@dataclass
class FaultRecord:
    planned: PlannedFault
    struck: list[float] = field(default_factory=list)
    until: float | None = None  # a condition that lasts (disk full) ends here
    detail: str = ""
    runs: set[str] = field(default_factory=set)  # run ids it struck directly
    armed: S3Fault | None = None
    rest_left: int = 0  # REST faults queued and not yet consumed
    armed_at: float = 0.0
    reruns: list[str] = field(default_factory=list)  # runs the operator launched again


@dataclass
class SoakResult:
    seed: int
    plan: Plan
    checks: list[Check]
    faults: list[tuple[str, str, str, str]]  # fault, when, what the user saw, the table after
    runs: list[RunInfo]
    seconds: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(c.ok for c in self.checks)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, day_time(hour, minute), tzinfo=NEW_YORK)


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def retry_db(action: Callable, attempts: int = 30):
    """The soak's own reads survive the PostgreSQL restarts it causes."""
    for attempt in range(attempts):
        try:
            return action()
        except Exception as error:  # SQLAlchemy or psycopg, whichever noticed first
            if attempt == attempts - 1 or (
                "connect" not in str(error).lower()
                and "terminat" not in str(error).lower()
                and "closed" not in str(error).lower()
            ):
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


class Soak:
    def __init__(self, plan: Plan, world: World, source: Path, say: Callable[[str], None]) -> None:
        self.plan, self.world, self.source, self.say = plan, world, source, say
        self.records = [FaultRecord(f) for f in plan.faults]
        self.request_ids: dict[int, str] = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.on_run: list[FaultRecord] = []  # pg_restart and worker_kill, armed, not struck
        self.monitor_error: BaseException | None = None
        self.released: set = set()

    # -- time and requests ------------------------------------------------------------------

    def set_clock(self, when: datetime) -> None:
        clock.set_now(self.world.clock_file, when)

    def request(
        self, schedule: str, at: datetime, run_config: dict | None = None, **extra: object
    ) -> int:
        request_id = len(self.request_ids) + 1
        self.request_ids[request_id] = schedule
        line = {"id": request_id, "schedule": schedule, "at": at.isoformat(), **extra}
        if run_config:
            line["run_config"] = run_config
        with self.world.requests_file.open("a") as out:
            out.write(json.dumps(line) + "\n")
        return request_id

    def wait(self, what: str, condition: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.world.check_alive()
            if self.monitor_error is not None:
                raise RuntimeError("the soak's monitor failed") from self.monitor_error
            if retry_db(condition):
                return
            if time.monotonic() > deadline:
                waiting, running = retry_db(lambda: counts(self.instance))
                raise Stuck(
                    f"waited {timeout:.0f} s for {what} ({waiting} runs queued, {running} in "
                    f"progress)\n--- daemon log ---\n{log_tail(self.world.log('daemon'))}"
                )
            time.sleep(0.5)

    def run_for_request(self, request_id: int) -> bool:
        return bool(
            self.instance.get_run_ids(
                filters=RunsFilter(tags={REQUEST_TAG: str(request_id)}), limit=1
            )
        )

    def quiet(self) -> bool:
        waiting, running = counts(self.instance)
        return waiting == 0 and running == 0

    # -- the world's data -------------------------------------------------------------------

    def release(self, day: date) -> list[str]:
        client = self.world.s3_client()
        put = []
        for release in self.plan.releases_on(day):
            if release in self.released:
                continue
            self.released.add(release)
            key = DATASETS[release.dataset].key(release.day)
            client.upload_file(
                str(version_path(self.source, release.version, key)), "flatfiles", key
            )
            put.append(
                f"{release.dataset} {release.day}"
                + (" (republished)" if release.version > 1 else "")
            )
        return put

    def change_watchlist(self, day: date) -> None:
        action, symbol = self.plan.watchlist_changes[day]
        self.wait("the queue to empty before the watchlist changes", self.quiet)
        with connect(self.world.database_url) as conn:
            if action == "add":
                add_to_watchlist(conn, symbol)
            else:
                conn.execute("DELETE FROM watchlist WHERE symbol = %s", (symbol,))
        self.say(f"  {day} 08:00 watchlist: {action} {symbol}")
        if action == "add":
            self.wait(
                f"the watchlist sensor's backfill of {symbol}",
                lambda: any(
                    symbol in (r.tags.get("market_data/symbols") or "").split(",")
                    for r in self.instance.get_runs(
                        filters=RunsFilter(tags={"dagster/sensor_name": "watchlist_backfill"})
                    )
                ),
            )

    # -- faults -----------------------------------------------------------------------------

    def arm(self, record: FaultRecord, day: date, hour: int) -> None:
        fault = record.planned
        if fault.kind.startswith("s3_") and hour == 11:
            key = DATASETS[fault.dataset].key(fault.target_day or day)
            record.armed = S3Fault(
                key,
                fault.kind.removeprefix("s3_"),
                times=fault.times,
                seconds=fault.seconds,
                id=fault.id,
            )
            self.world.proxy.arm(record.armed)
        elif fault.kind == "disk_full" and hour == 11:
            if self.world.fill_landing():
                record.struck.append(time.time())
                record.detail = "landing area filled"
            else:
                record.detail = (
                    "not injected: the landing area needs a filesystem of its own (root)"
                )
        elif fault.kind.startswith("rest_") and hour == 16:
            status = 429 if fault.kind == "rest_429" else 503
            headers = {"Retry-After": "1"} if status == 429 else {}
            for _ in range(fault.times):
                self.world.rest.state.faults.append(
                    RestFault(status, json.dumps({"status": "ERROR"}), headers)
                )
            record.rest_left = fault.times  # the monitor notes each one the server answers
        elif fault.kind in ("pg_restart", "worker_kill") and hour == 17:
            record.armed_at = time.time()
            with self.lock:
                self.on_run.append(record)

    def end_conditions(self, day: date) -> list[int]:
        """06:00: a lasting fault of the night ends: the operator who was paged frees the
        disk, then launches again each run that failed for good meanwhile (the UI's
        "Re-execute"); the requests made."""
        requests = []
        for record in self.records:
            if record.planned.kind != "disk_full" or not record.struck or record.until:
                continue
            self.world.free_landing()
            record.until = time.time()
            for run_record in self.instance.get_run_records(
                filters=RunsFilter(statuses=[DagsterRunStatus.FAILURE])
            ):
                run = run_record.dagster_run
                if (run_record.end_time or 0) < record.struck[0]:
                    continue  # failed before the disk filled up
                if run.tags.get("dagster/auto_retry_run_id"):
                    continue  # retried automatically: the retry is the one that counts
                tags = {k: v for k, v in run.tags.items() if k in RERUN_TAGS}
                requests.append(
                    self.request(
                        "rerun",
                        _at(day, 6),
                        run_config=dict(run.run_config) or None,
                        job=run.job_name,
                        parent=run.run_id,
                        tags=tags,
                    )
                )
                record.reruns.append(run.run_id)
        return requests

    def monitor(self) -> None:
        instance = DagsterInstance.get()
        try:
            while not self.stop.is_set():
                try:
                    self._monitor_once(instance)
                except Exception as error:
                    text = str(error).lower()
                    if "connect" not in text and "terminat" not in text and "closed" not in text:
                        raise
                    time.sleep(1)
                time.sleep(0.3)
        except BaseException as error:
            self.monitor_error = error
        finally:
            instance.dispose()

    def wait_for_load_transaction(self, timeout: float = 15.0) -> bool:
        """Whether a load transaction (an advisory lock held) was seen within ``timeout``."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.world.database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                ).fetchone()
                if row and row[0]:
                    return True
                time.sleep(0.005)
        return False

    def _monitor_once(self, instance: DagsterInstance) -> None:
        for record in self.records:
            if record.planned.kind.startswith("rest_") and record.rest_left:
                with self.world.rest.state.lock:
                    queued = len(self.world.rest.state.faults)
                if queued < record.rest_left:
                    record.struck.extend([time.time()] * (record.rest_left - queued))
                    record.rest_left = queued
        with self.lock:
            pending = list(self.on_run)
        if not pending:
            return
        started = instance.get_run_records(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED]))
        for record in pending:
            armed_at = record.armed_at
            for run_record in started:
                run = run_record.dagster_run
                if (run_record.start_time or 0) < armed_at:
                    continue
                if record.planned.kind == "pg_restart":
                    steps = instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START)
                    if not any(e.step_key == "historical_bars" for e in steps):
                        continue
                    # Mid-load: the load step has started; wait for a day's load
                    # transaction (it holds the day's advisory lock), then restart.
                    caught = self.wait_for_load_transaction()
                    seconds = self.world.restart_postgres()
                    record.detail = (
                        f"restarted while run {run.run_id[:8]} "
                        + ("loaded a day" if caught else "was in its load step")
                        + f" (down {seconds:.1f} s)"
                    )
                else:
                    if time.time() - (run_record.start_time or 0) < record.planned.seconds:
                        continue
                    pid = next(
                        (
                            e.dagster_event.pid
                            for e in instance.all_logs(run.run_id)
                            if e.dagster_event is not None and e.dagster_event.pid is not None
                        ),
                        None,
                    )
                    if pid is None or pid not in self.world.code_server_pids():
                        continue
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    record.detail = f"killed the worker of run {run.run_id[:8]} (pid {pid})"
                record.struck.append(time.time())
                record.runs.add(run.run_id)
                with self.lock:
                    self.on_run.remove(record)
                break

    # -- the days ---------------------------------------------------------------------------

    def simulate(self, day: date) -> None:
        faults = [r for r in self.records if r.planned.day == day]
        self.set_clock(_at(day, 6))
        pending = self.end_conditions(day)
        if day.weekday() == 0:
            pending.append(self.request("weekly_bulk", _at(day, 6)))
            pending.append(
                self.request(
                    "weekly_retention",
                    _at(day, 6, 30),
                    {"ops": {RETENTION_CONFIG: {"config": {"days": self.plan.retention_days}}}},
                )
            )
        if day in self.plan.watchlist_changes:
            self.set_clock(_at(day, 8))
            self.change_watchlist(day)
        self.set_clock(_at(day, 11))
        for record in faults:
            self.arm(record, day, 11)
        put = self.release(day)
        self.set_clock(_at(day, 16, 59))
        for record in faults:
            self.arm(record, day, 16)
        self.set_clock(_at(day, 17))
        for record in faults:
            self.arm(record, day, 17)
        pending.append(self.request("daily_after_close", _at(day, 17)))
        armed = ", ".join(r.planned.describe() for r in faults)
        day_started = time.monotonic()
        self.say(
            f"  {day:%a %Y-%m-%d}: {len(put)} files out" + (f"; faults: {armed}" if armed else "")
        )
        for request_id in pending:
            self.wait(
                f"request {request_id} to become a run",
                lambda request_id=request_id: self.run_for_request(request_id),
            )
        # The day's runs finish on their day: a run still queued at midnight would measure
        # its REST window from the next day.
        self.wait(f"the runs of {day}", self.quiet)
        self.say(f"    ({time.monotonic() - day_started:.0f} s after 17:00)")

    def run(self) -> None:
        self.instance = DagsterInstance.get()
        monitor = threading.Thread(target=self.monitor, daemon=True)
        monitor.start()
        try:
            for day in self.plan.sim_days:
                self.simulate(day)
            self.set_clock(_at(self.plan.last_day, 23))
            with self.lock:
                unstruck = list(self.on_run)
            for record in unstruck:
                record.detail = "armed, but no run reached it"
            with self.lock:
                self.on_run.clear()
            self.drain()
        finally:
            self.stop.set()
            monitor.join(timeout=10)

    def drain(self) -> None:
        """Until no run is queued or in progress, and none has started for
        ``DRAIN_QUIET_SECONDS`` (the sensors have had two ticks to ask for more)."""
        quiet_since = None
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            self.world.check_alive()
            if retry_db(self.quiet):
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= DRAIN_QUIET_SECONDS:
                    return
            else:
                quiet_since = None
            if time.monotonic() > deadline:
                raise Stuck(f"the runs did not settle within {WAIT_SECONDS} s")
            time.sleep(1)


# -- the outcome ----------------------------------------------------------------------------


def _fault_rows(
    soak: Soak, runs: list[RunInfo], wrong_days: set[date]
) -> list[tuple[str, str, str, str]]:
    by_id = {r.run_id: r for r in runs}
    children: dict[str, list[RunInfo]] = {}
    for run in runs:
        if run.parent:
            children.setdefault(run.parent, []).append(run)
    rows = []
    for record in soak.records:
        fault = record.planned
        if fault.kind.startswith("rest_"):
            record.detail = f"{len(record.struck)} of {fault.times} REST requests refused"
        if record.armed is not None:
            record.struck = [t for t, _ in record.armed.hits]
            if record.armed.hits:
                record.detail = f"{len(record.armed.hits)} request(s) hit"
            else:
                record.detail = "armed, no request reached it"
        struck = record.struck
        affected = {by_id[r] for r in record.runs if r in by_id}
        if fault.kind == "disk_full" and struck:
            end = record.until or time.time()
            affected |= {
                r for r in runs if (r.start or r.created) <= end and (r.end or end) >= struck[0]
            }
        elif struck and (fault.kind == "pg_restart" or not record.runs):
            # A restart cuts every run's connections, not only the one it was timed on.
            affected |= {r for r in runs if any(r.overlaps(t) for t in struck)}
        seen = []
        for run in sorted(affected, key=lambda r: r.created):
            if run.parent in {a.run_id for a in affected}:
                continue  # told with the run it retries
            if run.status == DagsterRunStatus.SUCCESS:
                seen.append(f"{run.short}: succeeded")
                continue
            text = f"{run.short}: failed ({run.error})"
            follow = children.get(run.run_id, [])
            while follow:
                nxt = follow[-1]
                how = "re-run by the operator" if "operator" in nxt.label else "retried"
                text += f"; {how}: {nxt.status.value.lower()}"
                if nxt.status != DagsterRunStatus.SUCCESS and nxt.error:
                    text += f" ({nxt.error})"
                follow = children.get(nxt.run_id, [])
            seen.append(text)
        if not struck:
            user = record.detail or "not reached"
        elif not affected:
            user = f"{record.detail}; no run in progress (a sensor tick retried it)"
        else:
            user = f"{record.detail}; " + " | ".join(seen)
        days = {d for run in affected for d in run.days}
        bad = sorted(days & wrong_days)
        table = "as the files say" if not bad else "WRONG on " + ", ".join(map(str, bad))
        if not days:
            table = "as the files say (no day touched)"
        rows.append((f"#{fault.id} {fault.describe()}", str(fault.day), user, table))
    return rows


def _wrong_days(check_detail: str) -> set[date]:
    days = set()
    for part in check_detail.replace(";", " ").split():
        with suppress(ValueError):
            days.add(date.fromisoformat(part))
    return days


def run_soak(
    seed: int,
    trading_days: int = 30,
    source_cache: Path | None = None,
    say: Callable[[str], None] = print,
    faults_per_kind: int | None = None,
) -> SoakResult:
    started = time.monotonic()
    plan = make_plan(seed, trading_days, faults_per_kind=faults_per_kind)
    # The clone's own .market_data (make clean removes it), wherever the soak is started from.
    source = source_cache or Path(__file__).resolve().parents[2] / ".market_data" / "soak-cache"
    written = generate_files(plan, source)
    say(
        f"soak seed {seed}: {len(plan.sim_days)} simulated days {plan.first_day} … "
        f"{plan.last_day} ({trading_days} sessions), {len(plan.faults)} faults; "
        f"{written} day files generated"
    )
    with World(plan, source) as world, environment(world.env):
        with connect(world.database_url) as conn:
            apply_schema(conn)
            for symbol, options in INITIAL_WATCHLIST.items():
                add_to_watchlist(conn, symbol, include_options=options)
        clock.set_now(world.clock_file, _at(plan.first_day, 5))
        say(f"  prehistory: {len(world.plan.releases_on(plan.first_day))} files out")
        soak = Soak(plan, world, source, say)
        soak.release(plan.first_day)
        world.plan = plan
        world.start_dagster()
        error = ""
        try:
            soak.run()
        except (Stuck, RuntimeError) as failure:
            error = f"{type(failure).__name__}: {failure}"
            say(traceback.format_exc())
        instance = soak.instance
        runs = retry_db(lambda: all_runs(instance))
        with connect(world.database_url) as conn:
            table, duplicates = rows_check(conn, plan, source)
            checks = [table, duplicates]
            checks.append(dagster_check(conn, instance, plan))
            checks.extend(leftovers_check(conn, world.home))
        unfinished = [r for r in runs if r.status in (*WAITING, *RUNNING)]
        checks.append(
            Check(
                "every run finished",
                not unfinished,
                ", ".join(f"{r.short} {r.status.value}" for r in unfinished) or f"{len(runs)} runs",
            )
        )
        faults = _fault_rows(soak, runs, _wrong_days(table.detail))
        instance.dispose()
        world.stop_dagster()
        if error or not all(c.ok for c in checks):
            keep = Path("artifacts") / f"soak-{seed}"
            keep.mkdir(parents=True, exist_ok=True)
            for name in ("daemon", "code-server"):
                with suppress(OSError):
                    (keep / f"{name}.log").write_bytes(world.log(name).read_bytes())
    return SoakResult(seed, plan, checks, faults, runs, time.monotonic() - started, error)


def format_result(result: SoakResult, verbose: bool = False) -> str:
    lines = []
    header = ("fault", "day", "what the user sees", "historical_bars afterwards")
    rows = [header, *result.faults]
    limits = (60, 10, 10_000, 60) if verbose else (52, 10, 110, 40)
    widths = [min(max(len(r[i]) for r in rows), limit) for i, limit in enumerate(limits)]

    def line(row) -> str:
        return "  ".join(str(c)[:w].ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    lines.append(line(header))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(line(r) for r in result.faults)
    lines.append("")
    statuses: dict[str, int] = {}
    for run in result.runs:
        statuses[run.status.value] = statuses.get(run.status.value, 0) + 1
    lines.append(
        f"runs: {len(result.runs)} ("
        + ", ".join(f"{n} {s.lower()}" for s, n in sorted(statuses.items()))
        + f"), most at once: {most_at_once(result.runs)}"
    )
    for run in result.runs:
        if run.status != DagsterRunStatus.SUCCESS or verbose:
            when = datetime.fromtimestamp(run.created).strftime("%H:%M:%S")
            queued = (run.start or run.created) - run.created
            took = (run.end or run.start or run.created) - (run.start or run.created)
            lines.append(
                f"  run {run.run_id[:8]} {when} +{queued:.0f}s {took:.0f}s {run.short}: "
                f"{run.status.value} {run.error}"
            )
    for check in result.checks:
        lines.append(f"[{'ok' if check.ok else 'FAILED'}] {check.name}: {check.detail}")
    if result.error:
        lines.append(f"[FAILED] {result.error.splitlines()[0]}")
    minutes, seconds = divmod(int(result.seconds), 60)
    verdict = "passed" if result.ok else "FAILED"
    lines.append(f"soak seed {result.seed} {verdict} in {minutes} min {seconds} s")
    if not result.ok:
        lines.append(
            f"re-run the same history: .venv/bin/python bench/soak.py --seed {result.seed} "
            f"--days {sum(1 for d in result.plan.sim_days if _is_session(d))}"
        )
    return "\n".join(lines)


def _is_session(day: date) -> bool:
    from market_data.calendar import is_session

    return is_session(day)


def most_at_once(runs: list[RunInfo]) -> int:
    edges = sorted(e for r in runs if r.start and r.end for e in ((r.start, 1), (r.end, -1)))
    current = peak = 0
    for _, change in edges:
        current += change
        peak = max(peak, current)
    return peak
