"""Running a step for every day of a run, several days side by side, and what fails.

A run covers one day or a range of them (a backfill, the weekly bulk run, the
watchlist sensor's 90 days). Each day stands alone: its own file, its own Parquet,
its own transaction. So a day whose data is bad (``DayDataError``: a missing or
unreadable file) fails alone: the other days go on and are loaded, the day is carried
to the end of the run as failed, and the run fails naming it. An error that would hit
every day alike (credentials refused, the database gone, a bug) stops the range: the
days under way finish, the days not started are not started.

Failed days travel between the steps of a run in their materialization metadata
(``failed_days``), since Dagster marks a range step's partitions all at once: a later
step reads them from the run's event log and does not touch those days.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, TypeVar

from dagster import (
    AssetExecutionContext,
    AssetKey,
    DagsterEventType,
    DagsterRun,
    MetadataValue,
)

from market_data.calendar import parse_day
from market_data.errors import DayDataError, MarketDataError

T = TypeVar("T")

FAILED_DAYS = "failed_days"  # the metadata entry that carries failed days downstream
# Dagster's run tag deciding whether a run that failed in a step is retried, and ours naming
# the run that set it (a retry inherits its parent's tags).
RETRY_ON_STEP_FAILURE_TAG = "dagster/retry_on_asset_or_op_failure"
RETRY_DECIDED_BY_TAG = "market_data/retry_decided_by"


class PartitionFailed(MarketDataError):
    """Days of a run failed; the message names each day and why."""


@dataclass
class DayOutcomes(Generic[T]):
    """What a step did with each day of its run."""

    done: list[tuple[date, T]] = field(default_factory=list)
    failed: dict[date, str] = field(default_factory=dict)  # day -> why, in one line
    errors: dict[date, BaseException] = field(default_factory=dict)  # this step's own
    not_started: list[date] = field(default_factory=list)
    stopped_by: BaseException | None = None

    def metadata(self) -> dict[str, MetadataValue]:
        """The failed days for the UI and for the steps after this one."""
        if not self.failed:
            return {}
        return {
            FAILED_DAYS: MetadataValue.json(
                {d.isoformat(): self.failed[d] for d in sorted(self.failed)}
            )
        }


def run_days(context: AssetExecutionContext) -> list[date]:
    return [parse_day(key) for key in context.partition_keys]


def failed_upstream(
    context: AssetExecutionContext, upstream: Iterable[AssetKey]
) -> dict[date, str]:
    """Days that a step before this one, in this run, could not do.

    A run re-executed from failure (Dagster's automatic retry, the UI's "Re-execute from
    failure") runs only the failed steps and those after them; the steps before that it
    did not run count as the run they last ran in, its parent's or an older one's."""
    wanted = set(upstream)
    failed: dict[date, str] = {}
    run: DagsterRun | None = context.run
    while run is not None and wanted:
        ran = set()
        for entry in context.instance.all_logs(
            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
        ):
            materialization = entry.asset_materialization
            if materialization is None or materialization.asset_key not in wanted:
                continue
            ran.add(materialization.asset_key)
            value = materialization.metadata.get(FAILED_DAYS)
            if value is None:
                continue
            for day, why in value.value.items():
                failed.setdefault(parse_day(day), why)
        wanted -= ran
        run = context.instance.get_run_by_id(run.parent_run_id) if run.parent_run_id else None
    return failed


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def run_side_by_side(
    days: Sequence[date],
    step: Callable[[date], T],
    *,
    label: str = "",
    workers: int = 1,
    on_done: Callable[[int, date, T, float], None] = lambda *_: None,
    on_failed: Callable[[int, date, BaseException], None] = lambda *_: None,
) -> DayOutcomes[T]:
    """``step`` for each day, ``workers`` at a time; every day ends done, failed or not started.

    Nothing is cancelled through the executor (a cancelled future never wakes
    ``as_completed``): once the range must stop, each queued day returns at once
    unstarted, so every future completes and the loop always ends.
    """
    outcomes: DayOutcomes[T] = DayOutcomes()
    stop = threading.Event()
    not_started = object()

    def timed(day: date) -> tuple[object, float]:
        if stop.is_set():
            return not_started, 0.0
        started = time.perf_counter()
        try:
            return step(day), time.perf_counter() - started
        except BaseException as error:
            if not isinstance(error, DayDataError):
                stop.set()  # at once, before another worker takes the next day
            raise

    results: dict[date, T] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(days) or 1))) as pool:
        futures = {pool.submit(timed, day): day for day in days}
        finished = 0
        for future in as_completed(futures):
            day = futures[future]
            try:
                result, seconds = future.result()
            except BaseException as error:
                finished += 1
                outcomes.failed[day] = f"{label}: {one_line(error)}" if label else one_line(error)
                outcomes.errors[day] = error
                on_failed(finished, day, error)
                if not isinstance(error, DayDataError) and outcomes.stopped_by is None:
                    outcomes.stopped_by = error
                continue
            if result is not_started:
                outcomes.not_started.append(day)
                continue
            finished += 1
            on_done(finished, day, result, seconds)  # type: ignore[arg-type]
            results[day] = result  # type: ignore[assignment]
    outcomes.done = [(day, results[day]) for day in days if day in results]
    outcomes.not_started.sort()
    return outcomes


def for_each_day(
    context: AssetExecutionContext,
    label: str,
    step: Callable[[date], T],
    describe: Callable[[T], str],
    *,
    workers: int = 1,
    upstream: Iterable[AssetKey] = (),
    final: bool = False,
) -> DayOutcomes[T]:
    """Run ``step`` for every day of the run that the steps before it did not fail, logging
    ``[i/n]`` per day.

    Raises when the range stopped, or when no day is left to carry on. Otherwise the
    step goes on with the days that worked and passes the failed ones down; a ``final``
    step (the last of the run) always returns, records what it did, then calls
    ``raise_failures`` itself.
    """
    days = run_days(context)
    carried = {d: why for d, why in failed_upstream(context, upstream).items() if d in days}
    for day, why in sorted(carried.items()):
        context.log.warning(f"{label} {day}: not attempted, {why}")
    todo = [d for d in days if d not in carried]
    total = len(todo)

    def done(i: int, day: date, result: T, seconds: float) -> None:
        context.log.info(f"[{i}/{total}] {label} {day}: {describe(result)} ({seconds:.2f}s)")

    def failed(i: int, day: date, error: BaseException) -> None:
        context.log.error(f"[{i}/{total}] {label} {day} failed: {one_line(error)}")

    outcomes = run_side_by_side(
        todo, step, label=label, workers=workers, on_done=done, on_failed=failed
    )
    outcomes.failed = {**carried, **outcomes.failed}
    if outcomes.failed:
        tell_run_retries(context, worth_it=outcomes.stopped_by is not None)
    if outcomes.stopped_by is not None or (not final and outcomes.failed and not outcomes.done):
        raise_failures(label, outcomes)
    if outcomes.failed:
        context.log.warning(
            f"{label}: {len(outcomes.failed)} of {len(days)} days failed and are left out: "
            + ", ".join(d.isoformat() for d in sorted(outcomes.failed))
        )
    return outcomes


def tell_run_retries(context: AssetExecutionContext, worth_it: bool) -> None:
    """Whether launching the run again (dagster.yaml's ``run_retries``) can help.

    A range stopped by an error that hits every day alike (S3 or the database failing, a
    worker's disk full) may pass on a retry. Days that failed on their own data (a file not
    published, corrupt, refused by the row checks) fail the same way again: a retry would
    only redo the other days, so the run is not retried, unless another step of the same
    run was stopped (that one decides)."""
    run_id = context.run.run_id
    run = context.instance.get_run_by_id(run_id)
    tags = run.tags if run is not None else {}
    decided_here = tags.get(RETRY_DECIDED_BY_TAG) == run_id  # not a parent's decision
    if worth_it or not decided_here or tags.get(RETRY_ON_STEP_FAILURE_TAG) != "true":
        context.instance.add_run_tags(
            run_id,
            {RETRY_ON_STEP_FAILURE_TAG: str(worth_it).lower(), RETRY_DECIDED_BY_TAG: run_id},
        )


def raise_failures(label: str, outcomes: DayOutcomes[T]) -> None:
    """One failed day of this step re-raises its own error (it names the day); otherwise
    one error names every failed day and why, and the days left unstarted."""
    failed = sorted(outcomes.failed.items())
    cause = outcomes.stopped_by or next(iter(outcomes.errors.values()), None)
    unstarted = ""
    if outcomes.not_started:
        first, last = outcomes.not_started[0], outcomes.not_started[-1]
        unstarted = f"; {len(outcomes.not_started)} days not started ({first} … {last})"
    if len(failed) == 1 and not unstarted:
        day, why = failed[0]
        own = outcomes.errors.get(day)
        if own is None:
            raise PartitionFailed(f"{label} {day}: {why}")
        if day.isoformat() in str(own):
            raise own  # the message names the day already
        raise PartitionFailed(f"{label} {day}: {one_line(own)}") from own
    listed = "; ".join(f"{d}: {why}" for d, why in failed)
    raise PartitionFailed(f"{label}: {len(failed)} days failed: {listed}{unstarted}") from cause
