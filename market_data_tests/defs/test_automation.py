"""The watchlist sensor and the schedules, evaluated against a real database."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from dagster import DagsterInstance, build_schedule_context, build_sensor_context

from market_data.calendar import NEW_YORK, day_window, today_in_new_york
from market_data.definitions import defs
from market_data.defs.corporate_actions import daily_corporate_actions
from market_data.defs.resources import (
    EmbeddedFlatFilesResource,
    FlatFilesResource,
    PipelineSettingsResource,
    RestApiResource,
    WarehouseResource,
)
from market_data.defs.schedules import daily_after_close, weekly_bulk, weekly_retention
from market_data.defs.sensors import watchlist_backfill
from market_data.run_tags import SYMBOLS_TAG
from market_data.warehouse.load import ensure_month_partitions
from market_data.warehouse.watchlist import add_to_watchlist

START, END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
KEY = "test-key"  # a configured REST API (corporate actions come from it)
BACKFILL_DAYS = 30  # MARKET_DATA_WATCHLIST_BACKFILL_DAYS, passed in as the settings resource


def tick(database_url: str, cursor: str | None, api_key: str | None = KEY):
    """A tick of the watchlist sensor; with an ``api_key`` the REST API is configured (new
    stocks' corporate actions are refreshed)."""
    with build_sensor_context(
        instance=DagsterInstance.ephemeral(),
        cursor=cursor,
        definitions=defs,
        resources={
            "warehouse": WarehouseResource(database_url=database_url),
            "rest_api": RestApiResource(api_key=api_key),
            "pipeline_settings": PipelineSettingsResource(watchlist_backfill_days=BACKFILL_DAYS),
        },
    ) as context:
        return watchlist_backfill(context)


def bars_requests(result) -> list:
    """The backfill runs of a tick (not the corporate-actions refresh of new stocks)."""
    return [r for r in result.run_requests or [] if r.job_name != "corporate_actions_job"]


def refresh_of(result) -> str | None:
    """The symbols whose corporate actions a tick refreshes, if any."""
    [*refresh] = [r for r in result.run_requests or [] if r.job_name == "corporate_actions_job"]
    return refresh[0].tags[SYMBOLS_TAG] if refresh else None


def test_new_symbols_are_backfilled_alone_and_the_cursor_survives(db, database_url):
    add_to_watchlist(db, "SPX")
    first = tick(database_url, None)
    [request] = bars_requests(first)
    assert request.tags[SYMBOLS_TAG] == "SPX"
    assert refresh_of(first) is None  # an index has no corporate actions
    yesterday = today_in_new_york() - timedelta(days=1)
    assert request.tags[END] == yesterday.isoformat()
    assert request.tags[START] == (yesterday - timedelta(days=BACKFILL_DAYS - 1)).isoformat()

    # A new evaluation (a restarted daemon) with the stored cursor: nothing new, no run.
    again = tick(database_url, first.cursor)
    assert again.run_requests in (None, []) and again.skip_reason is not None

    add_to_watchlist(db, "QQQ")
    add_to_watchlist(db, "SPY", include_options=True)
    second = tick(database_url, first.cursor)
    [request] = bars_requests(second)
    assert request.tags[SYMBOLS_TAG] == "QQQ,SPY"  # SPX is not reloaded
    assert refresh_of(second) == "QQQ,SPY"
    # Queued first: the backfill of the same symbols waits for it (one run per symbols tag).
    assert second.run_requests[0].job_name == "corporate_actions_job"

    # Options switched on for a symbol already there: that symbol alone.
    db.execute("UPDATE watchlist SET include_options = true WHERE symbol = 'QQQ'")
    [request] = bars_requests(tick(database_url, second.cursor))
    assert request.tags[SYMBOLS_TAG] == "QQQ"


def test_a_new_dagster_storage_backfills_only_what_the_table_lacks(db, database_url):
    for symbol, options in (("SPX", False), ("SPY", True), ("QQQ", False)):
        add_to_watchlist(db, symbol, include_options=options)
    # The table holds SPX and SPY's own bars, but no SPY options and nothing of QQQ.
    ensure_month_partitions(db, day_window(date(2025, 11, 25)))
    db.execute(
        "INSERT INTO historical_bars (symbol, timeframe, timestamp, open, high, low, close,"
        " source, dataset, underlying) VALUES"
        " ('SPX', '1m', 1764081000000, 1, 1, 1, 1, 'flat_file', 'indices', 'SPX'),"
        " ('SPY', '1m', 1764081000000, 1, 1, 1, 1, 'flat_file', 'stocks', 'SPY')"
    )
    [request] = bars_requests(tick(database_url, None))
    assert request.tags[SYMBOLS_TAG] == "QQQ,SPY"  # SPY for its options; SPX is there


def test_removed_and_invalid_symbols_request_nothing(db, database_url):
    add_to_watchlist(db, "SPX")
    cursor = tick(database_url, None).cursor
    db.execute("DELETE FROM watchlist WHERE symbol = 'SPX'")
    db.execute("INSERT INTO watchlist(symbol) VALUES ('bad symbol; --'), ('../x')")
    result = tick(database_url, cursor)
    assert not result.run_requests
    assert result.cursor == "[]"


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=NEW_YORK)


def test_schedules_request_the_documented_days():
    assert daily_after_close.cron_schedule == "0 17 * * *"
    assert weekly_bulk.cron_schedule == "0 6 * * 1"
    assert {s.execution_timezone for s in (daily_after_close, weekly_bulk, weekly_retention)} == {
        "America/New_York"
    }
    daily = daily_after_close(
        build_schedule_context(scheduled_execution_time=at(date(2025, 11, 25), 17))
    )
    assert (daily.tags[START], daily.tags[END]) == ("2025-11-24", "2025-11-25")
    weekly = weekly_bulk(build_schedule_context(scheduled_execution_time=at(date(2025, 11, 24), 6)))
    assert (weekly.tags[START], weekly.tags[END]) == ("2025-11-17", "2025-11-23")
    assert weekly_retention.job_name == "retention_job"
    assert defs.resolve_schedule_def("daily_after_close").default_status.value == "RUNNING"


def test_new_pairs_are_backfilled_over_utc_days_by_their_own_job(db, database_url):
    add_to_watchlist(db, "SPY")
    add_to_watchlist(db, "X:BTC-USD")
    add_to_watchlist(db, "C:EURUSD")
    result = tick(database_url, None)
    by_job = {r.job_name: r for r in result.run_requests}
    assert set(by_job) == {
        "historical_bars_job",
        "historical_bars_utc_job",
        "corporate_actions_job",
    }
    assert refresh_of(result) == "SPY"  # not the pairs
    assert by_job["historical_bars_job"].tags[SYMBOLS_TAG] == "SPY"
    assert by_job["historical_bars_utc_job"].tags[SYMBOLS_TAG] == "C:EURUSD,X:BTCUSD"


def corporate_actions_schedule(rest_api: RestApiResource):
    """The 07:30 corporate-actions schedule of 2025-11-25 with ``rest_api``."""
    with build_schedule_context(
        scheduled_execution_time=at(date(2025, 11, 25), 7), resources={"rest_api": rest_api}
    ) as context:
        return daily_corporate_actions(context)


def test_without_the_rest_api_no_corporate_actions_refresh_is_requested(db, database_url):
    add_to_watchlist(db, "SPY")
    result = tick(database_url, None, api_key=None)
    assert [r.tags[SYMBOLS_TAG] for r in bars_requests(result)] == ["SPY"]
    assert refresh_of(result) is None
    skipped = corporate_actions_schedule(RestApiResource())
    assert "MASSIVE_API_KEY is not set" in skipped.skip_message
    requested = corporate_actions_schedule(RestApiResource(api_key=KEY))
    assert requested.run_key == "corporate_actions:2025-11-25"


def test_retention_keeps_the_demos_generated_weeks_and_prunes_real_data():
    monday = at(date(2026, 12, 7), 6)

    def evaluate(flat_files):
        with build_schedule_context(
            scheduled_execution_time=monday, resources={"flat_files": flat_files}
        ) as context:
            return weekly_retention(context)

    skipped = evaluate(EmbeddedFlatFilesResource())
    assert "the demo's generated data is kept" in skipped.skip_message
    assert evaluate(FlatFilesResource(bucket="flatfiles")).run_key == "retention:2026-12-07"
