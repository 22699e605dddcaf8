"""Reading the soak's runs back from the Dagster instance: what each covered, how it ended,
and the first line of its error, as a person would read them in the UI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from market_data.run_tags import RANGE_END_TAG, RANGE_START_TAG, SYMBOLS_TAG

FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
WAITING = (DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED)
RUNNING = (DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING)


@dataclass(frozen=True, eq=False)
class RunInfo:
    run_id: str
    job: str
    label: str  # what launched it: a schedule, a sensor, a retry
    days: tuple[date, ...]
    status: DagsterRunStatus
    start: float | None
    end: float | None
    created: float
    error: str
    parent: str | None  # the run this one retries (Dagster's retry, or an operator's re-run)
    tags: dict[str, str]

    def __hash__(self) -> int:
        return hash(self.run_id)

    @property
    def short(self) -> str:
        span = ""
        if self.days:
            first, last = self.days[0], self.days[-1]
            span = f" {first}" if first == last else f" {first}..{last}"
        return f"{self.label}{span}"

    def overlaps(self, when: float) -> bool:
        start = self.start or self.created
        return start <= when and (self.end is None or when <= self.end)


def _days(tags: dict[str, str]) -> tuple[date, ...]:
    if "dagster/partition" in tags:
        return (date.fromisoformat(tags["dagster/partition"]),)
    if RANGE_START_TAG in tags:
        first = date.fromisoformat(tags[RANGE_START_TAG])
        last = date.fromisoformat(tags[RANGE_END_TAG])
        return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
    return ()


REASONS = (
    ("daily after the close", "daily_after_close"),
    ("weekly bulk", "weekly_bulk"),
    ("added to the watchlist", "watchlist_backfill"),
    ("flat file published", "flat_file_supersedes_rest"),
)


def _label(job: str, tags: dict[str, str]) -> str:
    if tags.get("dagster/schedule_name"):
        label = tags["dagster/schedule_name"]
    elif tags.get("dagster/sensor_name") and tags["dagster/sensor_name"] != "soak_calendar":
        label = tags["dagster/sensor_name"]
    else:  # an operator's re-run: named after what launched the run it repeats
        reason = tags.get("market_data/reason", "")
        label = next((name for start, name in REASONS if reason.startswith(start)), job)
    if tags.get(SYMBOLS_TAG):
        label += f" [{tags[SYMBOLS_TAG]}]"
    if tags.get("dagster/retry_number"):
        label += f" (retry {tags['dagster/retry_number']})"
    if tags.get("dagster/run_key", "").startswith("rerun:"):
        label += " (re-run by the operator)"
    return label


def first_error(instance: DagsterInstance, run_id: str) -> str:
    """The first line of what made the run fail: a step's own error, else the run's."""
    kinds = {
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.RUN_FAILURE,
        DagsterEventType.ENGINE_EVENT,
    }
    step, run, engine = "", "", ""
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_FAILURE and not step:
            error = event.event_specific_data.error
            while error.cause is not None and not error.message.strip():
                error = error.cause
            inner = error.cause or error
            step = f"{entry.step_key}: {inner.message.strip().splitlines()[0]}"
        elif event.event_type == DagsterEventType.RUN_FAILURE and not run:
            run = (event.message or "").strip().splitlines()[0] if event.message else ""
        elif event.event_type == DagsterEventType.ENGINE_EVENT and "terminated" in (
            entry.message or ""
        ):
            engine = entry.message.strip().splitlines()[0]
    return step or engine or run


def all_runs(instance: DagsterInstance) -> list[RunInfo]:
    infos = []
    for record in instance.get_run_records(filters=RunsFilter(), ascending=True):
        run = record.dagster_run
        error = first_error(instance, run.run_id) if run.status == DagsterRunStatus.FAILURE else ""
        infos.append(
            RunInfo(
                run_id=run.run_id,
                job=run.job_name,
                label=_label(run.job_name, dict(run.tags)),
                days=_days(dict(run.tags)),
                status=run.status,
                start=record.start_time,
                end=record.end_time,
                created=record.create_timestamp.timestamp(),
                error=error,
                parent=run.tags.get("dagster/parent_run_id")
                or run.tags.get("dagster/run_key", "").partition("rerun:")[2]
                or None,
                tags=dict(run.tags),
            )
        )
    return infos


def counts(instance: DagsterInstance) -> tuple[int, int]:
    """(waiting, running) runs now."""
    waiting = running = 0
    for record in instance.get_run_records(
        filters=RunsFilter(statuses=[*WAITING, *RUNNING]), limit=200
    ):
        if record.dagster_run.status in WAITING:
            waiting += 1
        else:
            running += 1
    return waiting, running
