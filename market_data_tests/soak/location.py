"""The code location the soak's daemon and run workers load: the product's definitions on
the simulated clock.

Everything the product defines is here as it is (assets, checks, jobs, resources, the
executor, the alert sensors), with three changes that only compress time:

- "today" is the simulated day (``clock.install``);
- the watchlist and supersession sensors are the product's own functions, ticking every
  few seconds instead of every minute and every 15 minutes (a simulated day lasts seconds);
- the schedules are not run on the wall clock. The ``soak_calendar`` sensor evaluates the
  product's schedule functions at the simulated times the soak asks for (one JSON line per
  tick in ``MARKET_DATA_SOAK_REQUESTS``) and hands their run requests, tags and run keys
  unchanged, to the daemon's run queue, as the scheduler would.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from market_data_tests.soak import clock

clock.install()

from dagster import (  # noqa: E402
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    build_schedule_context,
    sensor,
)

import market_data.definitions as product_location  # noqa: E402
from market_data.defs.jobs import historical_bars_job, retention_job  # noqa: E402
from market_data.defs.resources import FlatFilesResource  # noqa: E402
from market_data.defs.schedules import daily_after_close, weekly_bulk, weekly_retention  # noqa: E402
from market_data.defs.sensors import flat_file_supersedes_rest, watchlist_backfill  # noqa: E402
from market_data_tests.soak.plan import REQUEST_TAG, REQUESTS_ENV  # noqa: E402

clock.install()  # again: nothing imported above may keep the wall clock's day

SENSOR_SECONDS = 5  # the daemon's sensor loop runs every 5 s at most
FAST = ("watchlist_backfill", "flat_file_supersedes_rest")
SCHEDULES = {s.name: s for s in (daily_after_close, weekly_bulk, weekly_retention)}


def fast(original, seconds: int = SENSOR_SECONDS):
    """The product's sensor function under its own name, ticking every ``seconds``."""
    jobs = [historical_bars_job] if original.name == "flat_file_supersedes_rest" else None
    return sensor(
        name=original.name,
        description=original.description,
        minimum_interval_seconds=seconds,
        default_status=DefaultSensorStatus.RUNNING,
        job=jobs[0] if jobs else None,
        jobs=None if jobs else list(original.jobs),
    )(original._raw_fn)


def requests_path() -> Path:
    return Path(os.environ[REQUESTS_ENV])


def read_requests() -> list[dict]:
    path = requests_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@sensor(
    jobs=[historical_bars_job, retention_job],
    minimum_interval_seconds=SENSOR_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="The soak's scheduler: the product's schedules evaluated at simulated times.",
)
def soak_calendar(context: SensorEvaluationContext, flat_files: FlatFilesResource) -> SensorResult:
    done = int(context.cursor or 0)
    pending = read_requests()[done:]
    runs = []
    for request in pending:
        if request["schedule"] == "rerun":
            # What an operator does from the UI once a lasting fault is gone: the failed run
            # launched again, same job, days and symbols.
            runs.append(
                RunRequest(
                    run_key=f"rerun:{request['parent']}",
                    job_name=request["job"],
                    tags={**request["tags"], REQUEST_TAG: str(request["id"])},
                    run_config=request.get("run_config") or {},
                )
            )
            continue
        schedule = SCHEDULES[request["schedule"]]
        at = datetime.fromisoformat(request["at"])
        with build_schedule_context(
            scheduled_execution_time=at, resources={"flat_files": flat_files}
        ) as scheduled:
            made = schedule(scheduled)
        assert isinstance(made, RunRequest), made
        runs.append(
            made.with_replaced_attrs(
                job_name=schedule.job_name,
                run_config=request.get("run_config") or made.run_config,
                tags={
                    **made.tags,
                    "dagster/schedule_name": schedule.name,
                    REQUEST_TAG: str(request["id"]),
                },
            )
        )
    return SensorResult(run_requests=runs, cursor=str(done + len(pending)))


def _assemble() -> Definitions:
    """The product's definitions with the soak's sensors (a function: a second
    ``Definitions`` at module scope would be refused)."""
    product = product_location.defs
    return Definitions(
        assets=product.assets,
        asset_checks=product.asset_checks,
        jobs=product.jobs,
        schedules=[],
        sensors=[
            fast(watchlist_backfill),
            fast(flat_file_supersedes_rest),
            soak_calendar,
            *(s for s in product.sensors or [] if s.name not in FAST),
        ],
        resources=product.resources,
        executor=product.executor,
    )


defs = _assemble()
