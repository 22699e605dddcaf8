"""A rename learned after its days were loaded: those days are loaded again for the stock."""

from __future__ import annotations

from datetime import date, time

from dagster import AssetMaterialization, DagsterInstance, SkipReason, build_sensor_context

from market_data.defs.resources import WarehouseResource
from market_data.defs.sensors import renamed_stock_reload
from market_data.run_tags import RANGE_END_TAG, RANGE_START_TAG, SYMBOLS_TAG
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_tests.read.stored_minutes import write_minutes

BEFORE_KNOWN, LOADED_KNOWING = date(2025, 11, 12), date(2025, 11, 13)  # META traded as FB
RENAMED, SATURDAY = date(2025, 11, 14), date(2025, 11, 15)


def evaluate(instance, database_url):
    context = build_sensor_context(
        instance=instance, resources={"warehouse": WarehouseResource(database_url=database_url)}
    )
    return renamed_stock_reload(context)


def test_days_loaded_before_the_rename_was_known_are_loaded_again(db, database_url):
    add_to_watchlist(db, "META")
    db.execute(
        "INSERT INTO ticker_changes (symbol, valid_from, ticker) VALUES"
        " ('META', '2012-05-18', 'FB'), ('META', %s, 'META')",
        (RENAMED,),
    )
    hours = (time(9, 30), time(9, 40))
    # 11-13 was loaded knowing FB (its rows are there), 11-14 is META's own; 11-12 was
    # loaded before the rename was known: no bar of META that day.
    write_minutes(db, "META", [LOADED_KNOWING, RENAMED], dataset="stocks", hours=hours)
    instance = DagsterInstance.ephemeral()
    for day in (BEFORE_KNOWN, LOADED_KNOWING, RENAMED, SATURDAY):
        instance.report_runless_asset_event(
            AssetMaterialization("historical_bars", partition=day.isoformat())
        )

    requests = evaluate(instance, database_url)
    assert len(requests) == 1
    tags = requests[0].tags
    assert (tags[RANGE_START_TAG], tags[RANGE_END_TAG]) == ("2025-11-12", "2025-11-12")
    assert tags[SYMBOLS_TAG] == "META" and "META traded as FB" in tags["market_data/reason"]

    # Once the day holds META's bars (the run loaded FB's rows), nothing is asked again.
    write_minutes(db, "META", [BEFORE_KNOWN], dataset="stocks", hours=hours)
    assert isinstance(evaluate(instance, database_url), SkipReason)


def test_a_stock_never_renamed_asks_for_nothing(db, database_url):
    add_to_watchlist(db, "AAPL")
    instance = DagsterInstance.ephemeral()
    instance.report_runless_asset_event(
        AssetMaterialization("historical_bars", partition="2025-11-12")
    )
    assert isinstance(evaluate(instance, database_url), SkipReason)


def test_missing_days_are_asked_for_in_stretches_that_skip_no_loaded_session():
    from market_data.corporate_actions.reload import stretches

    days = [date(2025, 11, 10), date(2025, 11, 11), date(2025, 11, 13), date(2025, 11, 14)]
    days += [date(2025, 11, 17)]  # after a weekend: the same stretch as the Friday
    assert stretches(days) == [days[:2], days[2:]]
    assert stretches([]) == []
