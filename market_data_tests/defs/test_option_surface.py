"""The ``option_surface`` asset and its checks on a day of model-priced SPY options."""

from __future__ import annotations

import math

import pytest
from dagster import materialize

from market_data.defs.option_surface import (
    iv_coverage_of,
    option_iv_coverage,
    option_parity,
    option_surface,
    parity_of,
)
from market_data.defs.resources import PipelineSettingsResource, WarehouseResource
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_tests.read.stored_options import (
    CARRY,
    DAY,
    FRIDAY,
    RATE,
    minute_starts,
    settle_ms,
    spot_at,
    ticker,
    write_option_day,
)


@pytest.fixture
def url(db, database_url, monkeypatch) -> str:
    monkeypatch.setenv("MARKET_DATA_RISK_FREE_RATE", str(RATE))
    write_option_day(db)
    add_to_watchlist(db, "SPY", include_options=True)
    add_to_watchlist(db, "QQQ", include_options=True)  # watched, but no option bars
    return database_url


def run(url: str, day=DAY):
    return materialize(
        [option_surface, option_parity, option_iv_coverage],
        partition_key=day.isoformat(),
        resources={
            "warehouse": WarehouseResource(database_url=url),
            "pipeline_settings": PipelineSettingsResource(),
        },
        raise_on_error=False,
    )


def surface_rows(db):
    return db.execute(
        "SELECT underlying, root, expiration, forward_source, forward, atm_iv, put25_iv,"
        " call25_iv, parity_spread, near_money, near_money_solved, t_years"
        " FROM option_surface WHERE day = %s ORDER BY expiration",
        (DAY,),
    ).fetchall()


def test_the_close_gives_the_models_forward_and_smile(url, db):
    result = run(url)
    assert result.success
    rows = surface_rows(db)
    # The 0-DTE has settled at the close: only Friday's expiration is left.
    assert [(r[0], r[1], r[2]) for r in rows] == [("SPY", "SPY", FRIDAY)]
    (_, _, _, source, forward, atm, put25, call25, spread, near, solved, t_years) = rows[0]
    close = minute_starts(DAY, *_session())[-1]
    assert t_years == pytest.approx((settle_ms(FRIDAY) - close - 60_000) / 60_000 / 525_600)
    assert source == "parity"
    assert forward == pytest.approx(spot_at(close) * math.exp((RATE - CARRY) * t_years), rel=1e-9)
    assert atm == pytest.approx(0.18, abs=2e-4)  # the smile's bottom sits at K = F
    assert put25 > atm and call25 > atm
    assert spread == pytest.approx(0, abs=1e-9) and near > 0 and solved == near
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"option_parity": True, "option_iv_coverage": True}
    metadata = result.asset_materializations_for_node("option_surface")[0].metadata
    assert metadata["surface_plot"].value.startswith("![option surface 2025-11-19](data:image/png")
    assert "QQQ: no option bars are stored for QQQ" in metadata["surface_plot"].value


def _session():
    from datetime import time

    return time(9, 30), time(16)


def test_a_broken_parity_and_prices_below_intrinsic_warn(url, db):
    close = minute_starts(DAY, *_session())[-1]
    # A stale put next to the money: its strike's forward disagrees with its neighbours'.
    db.execute(
        'UPDATE historical_bars SET close = close + 0.40 WHERE symbol = %s AND "timestamp" = %s',
        (ticker(FRIDAY, False, 590.0), close),
    )
    assert run(url).success
    passed, _, metadata = parity_of(DAY, db)
    assert not passed and "SPY SPY 2025-11-21: forwards 0.4" in metadata["problems"].value
    # Every price of the close above its no-arbitrage bound: no IV at all.
    db.execute(
        "UPDATE historical_bars SET close = 1000 WHERE symbol LIKE 'O:SPY251121%%'"
        ' AND "timestamp" = %s',
        (close,),
    )
    result = run(url)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["option_iv_coverage"].passed
    assert checks["option_iv_coverage"].severity.value == "WARN"
    passed, _, metadata = iv_coverage_of(DAY, db)
    assert not passed and "near the money have an IV" in metadata["problems"].value
    # What an alert says of it: the expiration and how many of its contracts have no IV.
    from market_data.alerts.records import check_problems

    listed = metadata["problems"].value.removeprefix("- ")
    assert check_problems(checks["option_iv_coverage"]) == [listed]


def test_a_weekend_keeps_no_surface(url, db):
    from datetime import date

    result = run(url, date(2025, 11, 22))
    assert result.success
    assert db.execute("SELECT count(*) FROM option_surface").fetchone()[0] == 0
