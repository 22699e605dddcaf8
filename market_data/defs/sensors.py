"""Sensors: runs that start themselves when the outside world changes."""

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from market_data.defs.jobs import historical_bars_job
from market_data.defs.resources import FlatFilesResource, WarehouseResource
from market_data.supersession import published_rest_days, rest_sourced_days


@sensor(
    job=historical_bars_job,
    minimum_interval_seconds=15 * 60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Reloads a day from its flat file once it is published, replacing REST bars.",
)
def flat_file_supersedes_rest(
    context: SensorEvaluationContext, warehouse: WarehouseResource, flat_files: FlatFilesResource
):
    with warehouse.connection() as conn:
        rest_days = rest_sourced_days(conn)
    if not rest_days:
        return SkipReason("no REST-sourced bars in historical_bars")
    published = published_rest_days(rest_days, flat_files.get_client(), flat_files.bucket)
    if not published:
        waiting = ", ".join(d.isoformat() for d in sorted(rest_days))
        return SkipReason(f"day files not published yet for {waiting}")
    return [
        RunRequest(
            run_key="supersede:" + p.day.isoformat() + ":" + ",".join(e for _, e in p.files),
            partition_key=p.day.isoformat(),
            tags={"market_data/reason": "flat file published, replacing REST bars"},
        )
        for p in published
    ]
