"""From Dagster's records to alerts: plain functions, so each rule is tested on its own.

Each function compares what it reads with the problems already open (``open``, kept
in the sensor's cursor) and returns only what a person has not been told yet: a
problem that opens, or one that is over ("resolved").
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    DagsterEventType,
    DagsterInstance,
    EventLogRecord,
    EventRecordsFilter,
)

from market_data.alerts.message import Alert, asset_url, run_url, span
from market_data.run_tags import RANGE_END_TAG, RANGE_START_TAG

PAGE = 1000
MAX_RECORDS_PER_TICK = 20_000  # a tick must finish; the rest is read on the next one
# A sensor ticking for the first time reports the last day's problems, not all history.
FIRST_TICK_LOOKBACK_SECONDS = 24 * 3600
# Symbols named in a check alert's summary line; the details name them all.
SUMMARY_SYMBOLS = 3
# Days after which a REST-sourced day should have its flat file (published ~11:00 ET next day).
REST_GRACE_DAYS = 2
FRESHNESS_PROBLEMS = ("FAIL", "WARN")


def read_new_records(
    instance: DagsterInstance, event_type: DagsterEventType, after: int | None
) -> tuple[list[EventLogRecord], int | None]:
    """The events of ``event_type`` stored after storage id ``after`` (the last day's on a
    first tick), oldest first, and the storage id to read from next time."""
    since = None if after is not None else time.time() - FIRST_TICK_LOOKBACK_SECONDS
    records: list[EventLogRecord] = []
    while len(records) < MAX_RECORDS_PER_TICK:
        page = instance.event_log_storage.get_event_records(
            EventRecordsFilter(event_type=event_type, after_cursor=after, after_timestamp=since),
            limit=PAGE,
            ascending=True,
        )
        records.extend(page)
        if page:
            after = page[-1].storage_id
        if len(page) < PAGE:
            break
    return records, after


# -- failed checks ------------------------------------------------------------------------


def check_problems(evaluation: AssetCheckEvaluation) -> list[str]:
    """What a failed evaluation says is wrong, one line each: its list of problems
    (``missing_bars``' missing minutes per symbol in ``missing``, another check's in
    ``problems``), a day that was not loaded, or failing those its non-zero counts."""
    metadata = {k: v.value for k, v in evaluation.metadata.items()}
    lines: list[str] = []
    for entry in ("missing", "problems"):
        listed = metadata.get(entry)
        if isinstance(listed, str) and listed != "none":
            lines += [line.removeprefix("- ").strip() for line in listed.splitlines()]
    if metadata.get("not_loaded"):
        lines.append(f"not loaded: {metadata['not_loaded']}")
    if not lines:
        lines = [
            f"{name}: {value}"
            for name, value in metadata.items()
            if isinstance(value, int | float)
            and not isinstance(value, bool)
            and value
            and name not in ("bars", "days", "session_minutes", "symbols_checked")
        ]
    return [line for line in lines if line] or [evaluation.description or "failed"]


def _check_key(evaluation: AssetCheckEvaluation) -> str:
    return f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}|{evaluation.partition}"


def check_failed_alert(evaluation: AssetCheckEvaluation, run_id: str, ui_url: str) -> Alert:
    asset, check = evaluation.asset_key.to_user_string(), evaluation.check_name
    day, severity = str(evaluation.partition), evaluation.severity.value
    problems = check_problems(evaluation)
    shown = "; ".join(problems[:SUMMARY_SYMBOLS])
    if len(problems) > SUMMARY_SYMBOLS:
        shown += f" (+{len(problems) - SUMMARY_SYMBOLS} more)"
    details = "\n".join(
        [
            f"**{check}** on `{asset}`, partition {day}, severity {severity}:",
            "",
            *(f"- {p}" for p in problems),
            "",
            f"Run: {run_url(ui_url, run_id)}",
        ]
    )
    return Alert(
        kind="check_failed",
        status="open",
        asset=asset,
        check=check,
        partitions=[day],
        severity=severity,
        summary=f"{check} failed on {day}: {shown}",
        details=details,
        url=asset_url(ui_url, asset, check=check),
    )


def check_resolved_alert(evaluation: AssetCheckEvaluation, severity: str, ui_url: str) -> Alert:
    asset, check, day = (
        evaluation.asset_key.to_user_string(),
        evaluation.check_name,
        str(evaluation.partition),
    )
    return Alert(
        kind="check_failed",
        status="resolved",
        asset=asset,
        check=check,
        partitions=[day],
        severity=severity,
        summary=f"{check} passes again on {day}",
        details=f"**{check}** on `{asset}` passed for {day}: the earlier failure is over.",
        url=asset_url(ui_url, asset, check=check),
    )


def check_alerts(
    records: Sequence[EventLogRecord], open: dict[str, str], ui_url: str
) -> list[Alert]:
    """One alert per (check, partition, outcome): a failure not yet open, or a pass after an
    open failure; ``open`` is updated. Only a partition's latest evaluation counts, and a
    range run's partition-less summary result is skipped (its days are evaluated one by one)."""
    latest: dict[str, tuple[AssetCheckEvaluation, str]] = {}
    for record in records:
        evaluation = record.event_log_entry.get_dagster_event().asset_check_evaluation_data
        if evaluation.partition is None:
            continue
        key = _check_key(evaluation)
        latest.pop(key, None)  # re-insert: the order of alerts follows the latest evaluations
        latest[key] = (evaluation, record.event_log_entry.run_id)
    alerts = []
    for key, (evaluation, run_id) in latest.items():
        if not evaluation.passed and key not in open:
            open[key] = evaluation.severity.value
            alerts.append(check_failed_alert(evaluation, run_id, ui_url))
        elif evaluation.passed and key in open:
            alerts.append(check_resolved_alert(evaluation, open.pop(key), ui_url))
    return alerts


# -- failed runs ----------------------------------------------------------------------------


def run_partitions(tags: Mapping[str, str]) -> list[str]:
    """A run's partition, or every day of its range (partitions are calendar days)."""
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        first, last = (
            date.fromisoformat(tags[RANGE_START_TAG]),
            date.fromisoformat(tags[RANGE_END_TAG]),
        )
        return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    return []


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def step_errors(instance: DagsterInstance, run_id: str) -> list[str]:
    """``step: first line of its error`` for each failed step, in order."""
    lines = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        error: Any = getattr(entry.get_dagster_event().event_specific_data, "error", None)
        # Dagster wraps the project's own error (which names the day and the object) once.
        message = (error.cause or error).message if error else entry.get_dagster_event().message
        lines.append(f"{entry.step_key}: {_first_line(message or '')}")
    return lines


def run_failed_alert(instance: DagsterInstance, record: EventLogRecord, ui_url: str) -> Alert:
    run_id = record.event_log_entry.run_id
    run = instance.get_run_by_id(run_id)
    job = run.job_name if run else "unknown job"
    partitions = run_partitions(run.tags) if run else []
    errors = step_errors(instance, run_id)
    first = (
        errors[0]
        if errors
        else _first_line(record.event_log_entry.get_dagster_event().message or "")
    )
    where = f" ({span(partitions)})" if partitions else ""
    details = "\n".join(
        [f"Run `{run_id}` of **{job}**{where} failed.", "", *(f"- {e}" for e in errors or [first])]
    )
    return Alert(
        kind="run_failed",
        status="open",
        partitions=partitions,
        severity="ERROR",
        summary=f"{job} failed{where}: {first}"[:300],
        details=details,
        url=run_url(ui_url, run_id),
    )


# -- freshness ------------------------------------------------------------------------------


def stale_alerts(
    records: Sequence[EventLogRecord], open: dict[str, str], ui_url: str, *, trading_day: bool
) -> list[Alert]:
    """An asset whose freshness policy turns WARN or FAIL opens a ``stale`` alert; PASS again
    resolves it. Not on a day without a session: the cron policy knows no holidays."""
    alerts = []
    for record in records:
        change: Any = record.event_log_entry.get_dagster_event().event_specific_data
        asset, state = change.key.to_user_string(), change.new_state.value
        key = f"stale|{asset}"
        if state in FRESHNESS_PROBLEMS and key not in open and trading_day:
            open[key] = "ERROR" if state == "FAIL" else "WARN"
            alerts.append(
                Alert(
                    kind="stale",
                    status="open",
                    asset=asset,
                    severity=open[key],
                    summary=f"{asset} is overdue: freshness {change.previous_state.value} -> {state}",
                    details=(
                        f"`{asset}` has not been materialized within its freshness policy. "
                        "Look at the last `daily_after_close` run and the runs after it."
                    ),
                    url=asset_url(ui_url, asset),
                )
            )
        elif state == "PASS" and key in open:
            alerts.append(
                Alert(
                    kind="stale",
                    status="resolved",
                    asset=asset,
                    severity=open.pop(key),
                    summary=f"{asset} is fresh again",
                    details=f"`{asset}` was materialized in time.",
                    url=asset_url(ui_url, asset),
                )
            )
    return alerts


# -- REST days whose flat file does not come ------------------------------------------------


def _rest_key(day: date) -> str:
    return f"rest|{day.isoformat()}"


def rest_day_alerts(
    rest_days: Mapping[date, Collection[str]],
    published: Collection[date],
    today: date,
    open: dict[str, str],
    ui_url: str,
) -> list[Alert]:
    """A day still holding REST bars more than ``REST_GRACE_DAYS`` after it, its flat file
    not published, opens an alert; the day's REST bars replaced resolves it."""
    asset, alerts = "historical_bars", []
    for day in sorted(rest_days):
        age = (today - day).days
        if age > REST_GRACE_DAYS and day not in published and _rest_key(day) not in open:
            open[_rest_key(day)] = "WARN"
            datasets = ", ".join(sorted(rest_days[day]))
            alerts.append(
                Alert(
                    kind="rest_not_superseded",
                    status="open",
                    asset=asset,
                    severity="WARN",
                    partitions=[day.isoformat()],
                    summary=f"{day} still holds REST bars: the {datasets} day file is not published after {age} days",
                    details=(
                        f"`historical_bars` holds REST bars of {datasets} for {day}. The "
                        "`flat_file_supersedes_rest` sensor reloads the day once Massive "
                        "publishes its file; ask Massive if it does not come."
                    ),
                    url=asset_url(ui_url, asset),
                )
            )
    still = {_rest_key(d) for d in rest_days}
    for key in [k for k in open if k.startswith("rest|") and k not in still]:
        loaded = key.removeprefix("rest|")
        alerts.append(
            Alert(
                kind="rest_not_superseded",
                status="resolved",
                asset=asset,
                severity=open.pop(key),
                partitions=[loaded],
                summary=f"{loaded} is loaded from its flat file now",
                details=f"The REST bars of {loaded} were replaced by the flat file's.",
                url=asset_url(ui_url, asset),
            )
        )
    return alerts
