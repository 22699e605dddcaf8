"""Sensors: runs that start themselves when the outside world changes."""

import json
from datetime import datetime, timedelta

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from market_data.calendar import UTC, parse_day, today_in_new_york
from market_data.corporate_actions.reload import days_to_reload, stretches
from market_data.corporate_actions.store import ticker_history
from market_data.datasets import is_pair
from market_data.defs.corporate_actions import corporate_actions_job
from market_data.defs.jobs import historical_bars_job, historical_bars_utc_job
from market_data.defs.resources import (
    FlatFilesResource,
    PipelineSettingsResource,
    RestApiResource,
    WarehouseResource,
)
from market_data.defs.schedules import range_run_request
from market_data.run_tags import SYMBOLS_TAG
from market_data.supersession import (
    published_rest_days,
    rest_sourced_days,
    supersession_symbols,
)
from market_data.warehouse.watchlist import loaded_state, read_watchlist, watchlist_state


@sensor(
    jobs=[historical_bars_job, historical_bars_utc_job, corporate_actions_job],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Backfills the recent history of symbols added to the watchlist (or given options), "
        "without reloading the symbols already there: US symbols over New York days, "
        "crypto and forex pairs over UTC days; and refreshes new stocks' corporate actions."
    ),
)
def watchlist_backfill(
    context: SensorEvaluationContext,
    warehouse: WarehouseResource,
    rest_api: RestApiResource,
    pipeline_settings: PipelineSettingsResource,
) -> SensorResult:
    with warehouse.connection() as conn:
        watchlist = read_watchlist(conn)
        # No cursor (a new Dagster storage): what the table already holds is not new.
        seen = set(json.loads(context.cursor)) if context.cursor else loaded_state(conn, watchlist)
    if watchlist.invalid:
        context.log.warning(f"skipping invalid watchlist symbols: {', '.join(watchlist.invalid)}")
    current = watchlist_state(watchlist)
    cursor = json.dumps(sorted(current))
    removed = sorted({e.split("+")[0] for e in seen} - {e.split("+")[0] for e in current})
    if removed:
        context.log.info(f"no longer loaded (rows kept until retention): {', '.join(removed)}")
    added = sorted({entry.split("+")[0] for entry in current - seen})
    if not added:
        return SensorResult(skip_reason="no new watchlist symbols", cursor=cursor)
    pairs = [s for s in added if is_pair(s)]
    us = [s for s in added if s not in pairs]
    requests = []
    # A new stock's corporate actions first: the run queue starts runs of one symbols tag
    # one at a time, in order, so its backfill then knows its former tickers (FB for META).
    stocks = [e.symbol for e in watchlist.entries if e.symbol in us and e.asset_class == "stock"]
    if stocks and rest_api.configured():
        requests.append(
            RunRequest(
                run_key=f"corporate_actions:{','.join(stocks)}:{today_in_new_york()}",
                job_name=corporate_actions_job.name,
                tags={
                    SYMBOLS_TAG: ",".join(stocks),
                    "market_data/reason": f"added to the watchlist: {', '.join(stocks)}",
                },
            )
        )
    for symbols, job, today in (
        (us, historical_bars_job, today_in_new_york()),
        (pairs, historical_bars_utc_job, datetime.now(UTC).date()),
    ):
        if not symbols:
            continue
        end = today - timedelta(days=1)
        request = range_run_request(
            end - timedelta(days=pipeline_settings.watchlist_backfill_days - 1),
            end,
            f"added to the watchlist: {', '.join(symbols)}",
            run_key=f"watchlist:{','.join(symbols)}:{end}",
            job_name=job.name,
        )
        tags = {**request.tags, SYMBOLS_TAG: ",".join(symbols)}
        requests.append(request.with_replaced_attrs(tags=tags))
    return SensorResult(run_requests=requests, cursor=cursor)


@sensor(
    job=historical_bars_job,
    minimum_interval_seconds=15 * 60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Reloads a day from its flat file once it is published, replacing REST bars.",
)
def flat_file_supersedes_rest(
    context: SensorEvaluationContext, warehouse: WarehouseResource, flat_files: FlatFilesResource
) -> SkipReason | list[RunRequest]:
    with warehouse.connection() as conn:
        rest_days = rest_sourced_days(conn)
        symbols = supersession_symbols(conn)
    if not rest_days:
        return SkipReason("no REST-sourced bars in historical_bars")
    published = published_rest_days(rest_days, flat_files.get_client(), flat_files.bucket, symbols)
    if not published:
        waiting = ", ".join(d.isoformat() for d in sorted(rest_days))
        return SkipReason(f"day files not published yet for {waiting}")
    return [
        RunRequest(run_key=p.run_key, partition_key=p.day.isoformat(), tags=p.tags)
        for p in published
    ]


@sensor(
    job=historical_bars_job,
    minimum_interval_seconds=15 * 60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Loads again, for a renamed stock alone, the loaded days before its rename that hold "
        "none of its bars: days loaded before ticker_changes knew its former ticker (FB for "
        "META)."
    ),
)
def renamed_stock_reload(
    context: SensorEvaluationContext, warehouse: WarehouseResource
) -> SkipReason | list[RunRequest]:
    loaded = [
        parse_day(key)
        for key in context.instance.get_materialized_partitions(AssetKey("historical_bars"))
    ]
    with warehouse.connection() as conn:
        stocks = [e.symbol for e in read_watchlist(conn).entries if e.asset_class == "stock"]
        history = ticker_history(conn, stocks)
        due = days_to_reload(conn, history, loaded)
    if not due:
        return SkipReason("no loaded day lacks a renamed stock's bars of its former ticker")
    requests = []
    for symbol, missing in sorted(due.items()):
        for days in stretches(missing):  # only the days that need it, one run per stretch
            former = sorted({history.ticker_on(symbol, d) for d in days})
            request = range_run_request(
                days[0],
                days[-1],
                f"{symbol} traded as {', '.join(former)}: days loaded before that was known",
                run_key=f"renamed:{symbol}:{days[0]}:{days[-1]}",
                job_name=historical_bars_job.name,
            )
            tags = {**request.tags, SYMBOLS_TAG: symbol}
            requests.append(request.with_replaced_attrs(tags=tags))
    return requests
