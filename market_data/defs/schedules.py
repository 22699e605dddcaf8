"""Schedules (America/New_York): the day after the close, and the week on Monday morning.

Each requests one run over a range of partitions (whatever the backfill policy), so
every day's partition status shows in the UI.
"""

from datetime import date, timedelta

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from market_data.calendar import NEW_YORK, UTC
from market_data.defs.jobs import historical_bars_job, historical_bars_utc_job, retention_job
from market_data.defs.resources import FlatFilesResource
from market_data.run_tags import RANGE_END_TAG, RANGE_START_TAG


def range_run_request(
    start: date, end: date, reason: str, run_key: str, job_name: str | None = None
) -> RunRequest:
    return RunRequest(
        run_key=run_key,
        job_name=job_name,
        tags={
            RANGE_START_TAG: start.isoformat(),
            RANGE_END_TAG: end.isoformat(),
            "market_data/reason": reason,
        },
    )


def _today(context: ScheduleEvaluationContext) -> date:
    return context.scheduled_execution_time.astimezone(NEW_YORK).date()


@schedule(
    job=historical_bars_job,
    cron_schedule="0 17 * * *",
    execution_timezone="America/New_York",
    default_status=DefaultScheduleStatus.RUNNING,
    description="17:00 ET: yesterday (its flat file) and today (REST until published).",
)
def daily_after_close(context: ScheduleEvaluationContext) -> RunRequest:
    today = _today(context)
    return range_run_request(
        today - timedelta(days=1), today, "daily after the close", f"daily:{today}"
    )


@schedule(
    job=historical_bars_job,
    cron_schedule="0 6 * * 1",
    execution_timezone="America/New_York",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Monday 06:00 ET: the last 7 days again, picking up republished files.",
)
def weekly_bulk(context: ScheduleEvaluationContext) -> RunRequest:
    today = _today(context)
    return range_run_request(
        today - timedelta(days=7), today - timedelta(days=1), "weekly bulk", f"weekly:{today}"
    )


@schedule(
    job=retention_job,
    cron_schedule="30 6 * * 1",
    execution_timezone="America/New_York",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Monday 06:30 ET, after the weekly run: retention (365 days). Skipped on the demo's "
        "generated files, whose fixed weeks would otherwise go once they are a year old."
    ),
)
def weekly_retention(
    context: ScheduleEvaluationContext, flat_files: FlatFilesResource
) -> RunRequest | SkipReason:
    if flat_files.is_demo():
        return SkipReason(
            "the demo's generated data is kept: retention applies to Massive's files "
            "(MASSIVE_AWS_ACCESS_KEY set)"
        )
    return RunRequest(run_key=f"retention:{_today(context)}")


@schedule(
    job=historical_bars_utc_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="06:00 UTC: the crypto and forex files of the two UTC days before, published by then.",
)
def daily_utc(context: ScheduleEvaluationContext) -> RunRequest:
    today = context.scheduled_execution_time.astimezone(UTC).date()
    return range_run_request(
        today - timedelta(days=2),
        today - timedelta(days=1),
        "crypto and forex, daily",
        f"utc:{today}",
    )
