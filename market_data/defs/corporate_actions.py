"""``ticker_changes``, ``splits`` and ``dividends``: Massive's reference data of the
watchlist's stocks, kept in PostgreSQL and applied when bars are read
(docs/corporate-actions.md).

Unpartitioned: each materialization refreshes what is known of the run's stocks (the
whole watchlist, or the symbols of the run's tag when the watchlist sensor adds some).
Splits and dividends are asked for under every ticker a stock has had, so they come
after ``ticker_changes``.
"""

from collections.abc import Callable
from typing import Any

import psycopg
from dagster import (
    AssetExecutionContext,
    AssetSelection,
    DefaultScheduleStatus,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    schedule,
)

from market_data.calendar import NEW_YORK, today_in_new_york
from market_data.corporate_actions.massive import (
    Refreshed,
    refresh_dividends,
    refresh_splits,
    refresh_ticker_changes,
)
from market_data.corporate_actions.store import (
    Changes,
    TableSummary,
    dividends_summary,
    splits_summary,
    ticker_history,
)
from market_data.corporate_actions.tickers import TickerHistory
from market_data.defs.resources import RestApiResource, WarehouseResource
from market_data.defs.run_symbols import run_symbols
from market_data.errors import ConfigurationError
from market_data.sources.rest import RestAggregates

GROUP = "corporate_actions"


NO_REST = "corporate actions come from Massive's REST API, and MASSIVE_API_KEY is not set"


def _client(rest_api: RestApiResource, what: str) -> RestAggregates:
    client = rest_api.client()
    if client is None:
        raise ConfigurationError(f"{what}: {NO_REST}")
    return client


def _stocks(context: AssetExecutionContext, warehouse: WarehouseResource) -> list[str]:
    selected = run_symbols(context, warehouse).selected
    return sorted(e.symbol for e in selected.entries if e.asset_class == "stock")


def _metadata(refreshed: Refreshed, summary: TableSummary) -> dict[str, MetadataValue]:
    return {
        "tickers_refreshed": MetadataValue.int(len(refreshed.tickers)),
        "changes": MetadataValue.text(refreshed.changes.describe()),
        "row_count": MetadataValue.int(summary.rows),
        "tickers": MetadataValue.int(summary.tickers),
        "newest": MetadataValue.text(summary.newest),
    }


def _renames_table(history: TickerHistory) -> str:
    rows = [
        f"| {symbol} | {p.ticker} | {p.valid_from} | {p.composite_figi or ''} |"
        for symbol, p in history.changes()
    ]
    if not rows:
        return "No watchlist stock has traded under another ticker."
    return "\n".join(["| symbol | former ticker | from | composite FIGI |", "| --- |" * 4, *rows])


@asset(
    group_name=GROUP,
    kinds={"postgres"},
    description=(
        "The tickers each watchlist stock has traded under (Massive's ticker events, each "
        "former ticker confirmed by its composite FIGI then), asked for again weekly. A load "
        "takes a renamed stock's rows under the ticker in force that day (FB for META)."
    ),
)
def ticker_changes(
    context: AssetExecutionContext, warehouse: WarehouseResource, rest_api: RestApiResource
) -> MaterializeResult[Any]:
    stocks = _stocks(context, warehouse)
    client = _client(rest_api, "ticker changes")
    with warehouse.connection() as conn:
        refreshed = refresh_ticker_changes(conn, client, stocks)
        history = ticker_history(conn, stocks)
    for note in refreshed.notes:
        context.log.warning(note)
    return MaterializeResult(
        metadata={
            "symbols_checked": MetadataValue.int(len(refreshed.tickers)),
            "changes": MetadataValue.text(refreshed.changes.describe()),
            "renamed_stocks": MetadataValue.int(len({s for s, _ in history.changes()})),
            "left_out": MetadataValue.text("\n".join(refreshed.notes) or "-"),
            "former_tickers": MetadataValue.md(_renames_table(history)),
        }
    )


def _refresh_actions(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    rest_api: RestApiResource,
    what: str,
    refresh: Callable[[psycopg.Connection, RestAggregates, list[str]], Refreshed],
    summarize: Callable[[psycopg.Connection], TableSummary],
) -> MaterializeResult[Any]:
    """Refresh one kind of action for the run's stocks under every ticker they have had:
    Massive lists an action under the ticker of its day or under today's, by entry."""
    stocks = _stocks(context, warehouse)
    client = _client(rest_api, what)
    with warehouse.connection() as conn:
        history = ticker_history(conn, stocks)
        tickers = sorted({t for s in stocks for t in history.tickers_of(s)})
        refreshed = refresh(conn, client, tickers) if tickers else Refreshed([], Changes())
        summary = summarize(conn)
    context.log.info(f"{what} of {len(tickers)} tickers: {refreshed.changes.describe()}")
    return MaterializeResult(metadata=_metadata(refreshed, summary))


@asset(
    group_name=GROUP,
    deps=[ticker_changes],
    kinds={"postgres"},
    description=(
        "Every split of the watchlist's stocks (Massive's /stocks/v1/splits), one per ticker "
        "and day; adjust='splits' and 'all' reads apply them. A refresh that meets a "
        "malformed entry stores nothing."
    ),
)
def splits(
    context: AssetExecutionContext, warehouse: WarehouseResource, rest_api: RestApiResource
) -> MaterializeResult[Any]:
    return _refresh_actions(context, warehouse, rest_api, "splits", refresh_splits, splits_summary)


@asset(
    group_name=GROUP,
    deps=[ticker_changes],
    kinds={"postgres"},
    description=(
        "Every cash dividend of the watchlist's stocks (Massive's /stocks/v1/dividends), "
        "projected ones included; adjust='all' reads apply those whose ex-date has come."
    ),
)
def dividends(
    context: AssetExecutionContext, warehouse: WarehouseResource, rest_api: RestApiResource
) -> MaterializeResult[Any]:
    return _refresh_actions(
        context,
        warehouse,
        rest_api,
        "dividends",
        refresh_dividends,
        lambda conn: dividends_summary(conn, today_in_new_york()),
    )


CORPORATE_ACTIONS = [ticker_changes, splits, dividends]

corporate_actions_job = define_asset_job(
    name="corporate_actions_job",
    selection=AssetSelection.assets(*CORPORATE_ACTIONS),
    description="Refresh the watchlist stocks' ticker changes, splits and dividends.",
)


@schedule(
    job=corporate_actions_job,
    cron_schedule="30 7 * * *",
    execution_timezone="America/New_York",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "07:30 ET daily, before the pre-market: the stocks' splits and dividends (and ticker "
        "changes weekly), so the day's adjusted reads know yesterday's announcements."
    ),
)
def daily_corporate_actions(
    context: ScheduleEvaluationContext, rest_api: RestApiResource
) -> RunRequest | SkipReason:
    # Without a REST API the refresh would only fail (the watchlist sensor asks the same).
    if not rest_api.configured():
        return SkipReason(NO_REST)
    today = context.scheduled_execution_time.astimezone(NEW_YORK).date()
    return RunRequest(run_key=f"corporate_actions:{today}")
