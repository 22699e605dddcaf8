"""``daily_bars``: daily OHLCV per symbol and session, rebuilt with its ``historical_bars`` day.

It sits in the same job as ``historical_bars`` (``defs/jobs.py``), so every run, schedule
and sensor that loads a day rebuilds that day's daily bars right after; retention prunes
both. ``market_data.read`` answers ``timeframe="1d"`` from it when it covers the range.
"""

from typing import Any

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from market_data.defs.assets import historical_bars
from market_data.defs.day_runs import for_each_day
from market_data.defs.partitions import backfill_policy, daily_partitions
from market_data.defs.resources import WarehouseResource
from market_data.warehouse.daily_bars import DailyBuild, build_day


def _describe(build: DailyBuild) -> str:
    if not build.session:
        return "no NYSE session: no bar"
    return f"{build.rows_written:,} daily bars written, {build.rows_replaced:,} replaced"


@asset(
    name="daily_bars",
    deps=[historical_bars],
    group_name="warehouse",
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy(),
    kinds={"postgres"},
    description=(
        "One bar per symbol and NYSE session in PostgreSQL's daily_bars, regular session "
        "([09:30, close), early closes included) and all stored minutes of the day, rebuilt "
        "from historical_bars per day in one transaction; holidays and weekends keep none."
    ),
)
def daily_bars(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> MaterializeResult[Any]:
    with warehouse.connection() as conn:
        outcomes = for_each_day(
            context,
            "daily_bars",
            lambda day: build_day(conn, day),
            _describe,
            upstream=[historical_bars.key],
        )
    builds = [b for _, b in outcomes.done]
    return MaterializeResult(
        metadata={
            **outcomes.metadata(),
            "days": MetadataValue.int(len(builds)),
            "sessions": MetadataValue.int(sum(b.session for b in builds)),
            "rows_written": MetadataValue.int(sum(b.rows_written for b in builds)),
        }
    )
