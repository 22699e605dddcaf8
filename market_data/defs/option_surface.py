"""``option_surface``: each session's implied-volatility surface of the watched
underlyings with options, rebuilt with its ``historical_bars`` day, and its two checks.

The UI shows the term structure and smile of the run's latest day as a picture in the
materialization's metadata; the table holds every day for queries.
"""

from datetime import date
from typing import Any

import psycopg
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from market_data.defs.assets import historical_bars
from market_data.defs.checks import Evaluation, per_day
from market_data.defs.day_runs import for_each_day
from market_data.defs.partitions import backfill_policy, daily_partitions
from market_data.defs.resources import PipelineSettingsResource, WarehouseResource
from market_data.option_surface import DaySurface, build_day_surface
from market_data.options.surface import NEAR_MONEY, PARITY_TICKS
from market_data.reports.plots import option_surface_png, png_markdown
from market_data.warehouse.watchlist import read_watchlist

# Below this share of near-the-money contracts with an implied volatility, prices are
# stale or wrong rather than merely illiquid.
SOLVED_SHARE = 0.5


def _describe(built: DaySurface) -> str:
    if not built.session:
        return "no NYSE session: no surface"
    done = ", ".join(f"{u} {len(s)} expirations" for u, s in built.surfaces.items())
    skipped = "; ".join(f"{u}: {why}" for u, why in built.skipped.items())
    return "; ".join(part for part in (done, skipped) if part) or "no underlying with options"


@asset(
    name="option_surface",
    deps=[historical_bars],
    group_name="options",
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy(),
    kinds={"postgres"},
    description=(
        "At each session's close, per watched underlying with options and per expiration: "
        "the put-call parity forward, the at-the-money IV and the 25-delta put and call IVs "
        "(PostgreSQL's option_surface), from the contracts' last prices; the UI shows the "
        "latest day's term structure and smile."
    ),
)
def option_surface(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    pipeline_settings: PipelineSettingsResource,
) -> MaterializeResult[Any]:
    rate = pipeline_settings.risk_free_rate
    with warehouse.connection() as conn:
        underlyings = [e for e in read_watchlist(conn).entries if e.include_options]
        outcomes = for_each_day(
            context,
            "option_surface",
            lambda day: build_day_surface(conn, day, underlyings, rate),
            _describe,
            upstream=[historical_bars.key],
        )
    built = [b for _, b in sorted(outcomes.done, key=lambda done: done[0]) if b.session]
    metadata = {
        **outcomes.metadata(),
        "underlyings": MetadataValue.text(", ".join(e.symbol for e in underlyings) or "-"),
        "expirations": MetadataValue.int(sum(b.expirations for b in built)),
        "rate": MetadataValue.float(rate),
    }
    if built:
        latest = built[-1]
        picture = option_surface_png(latest.day, latest.surfaces)
        metadata["surface_plot"] = MetadataValue.md(
            png_markdown(picture, f"option surface {latest.day}", _describe(latest))
        )
    return MaterializeResult(metadata=metadata)


def _rows(conn: psycopg.Connection, day: date, columns: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        f"SELECT underlying, root, expiration, {columns} FROM option_surface"
        " WHERE day = %s ORDER BY underlying, expiration, root",
        (day,),
    ).fetchall()


def parity_of(day: date, conn: psycopg.Connection) -> Evaluation:
    """Forwards implied by the strikes around K* must agree within a few ticks."""
    rows = _rows(conn, day, "parity_spread, parity_tolerance")
    broken = [
        f"{u} {root} {expiration}: forwards {spread:.2f} apart (tolerance {tolerance:.2f})"
        for u, root, expiration, spread, tolerance in rows
        if spread is not None and spread > tolerance
    ]
    metadata = {
        "expirations_checked": sum(r[3] is not None for r in rows),
        "problems": MetadataValue.md("\n".join(f"- {b}" for b in broken) or "none"),
    }
    return not broken, AssetCheckSeverity.WARN, metadata


def iv_coverage_of(day: date, conn: psycopg.Connection) -> Evaluation:
    """At least half the near-the-money contracts of an expiration must have an IV."""
    rows = _rows(conn, day, "near_money, near_money_solved")
    short = [
        f"{u} {root} {expiration}: {solved} of {near} near the money have an IV"
        for u, root, expiration, near, solved in rows
        if near and solved < SOLVED_SHARE * near
    ]
    metadata = {
        "expirations_checked": sum(bool(r[3]) for r in rows),
        "problems": MetadataValue.md("\n".join(f"- {s}" for s in short) or "none"),
    }
    return not short, AssetCheckSeverity.WARN, metadata


@asset_check(
    asset=option_surface,
    partitions_def=daily_partitions,
    description=(
        "Put-call parity holds at the close: the forwards implied by the two strikes on each "
        f"side of K* agree within {PARITY_TICKS} ticks (0.05 for index options, 0.01 for "
        "equity options). WARN otherwise: stale or wrong option prices."
    ),
)
def option_parity(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    with warehouse.connection() as conn:
        return per_day(context, "option_parity", lambda day: parity_of(day, conn))


@asset_check(
    asset=option_surface,
    partitions_def=daily_partitions,
    description=(
        f"At least {SOLVED_SHARE:.0%} of each expiration's contracts with a strike within "
        f"{NEAR_MONEY:.0%} of the forward have an implied volatility at the close. WARN "
        "otherwise: prices outside the no-arbitrage bounds."
    ),
)
def option_iv_coverage(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    with warehouse.connection() as conn:
        return per_day(context, "option_iv_coverage", lambda day: iv_coverage_of(day, conn))
