"""Retention: bars, landing files and Parquet older than the cut-off are removed.

``historical_bars`` is range-partitioned by month, so whole months older than the
cut-off are dropped (cheap at any size) and only the month straddling it is deleted
from row by row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from market_data.calendar import NEW_YORK
from market_data.datasets import ALL_DATASETS, UTC_DATASETS
from market_data.warehouse.daily_bars import prune_daily_bars
from market_data.warehouse.option_surface import prune_option_surface

if TYPE_CHECKING:
    from dagster import DagsterInstance

_BOUNDS = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")
MS_PER_UTC_DAY = 86_400_000
_DAY_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# The assets whose day partitions hold what retention removes: the landed files
# (``*_day_file``), the Parquet bars (``*_bars``) and the tables' rows.
PRUNED_ASSETS = (
    *(f"{name}_{kind}" for name in ALL_DATASETS for kind in ("day_file", "bars")),
    "historical_bars",
    "historical_bars_utc",
    "daily_bars",
    "option_surface",
)


@dataclass
class PruneResult:
    partitions_dropped: list[str] = field(default_factory=list)
    rows_deleted: int = 0
    daily_rows_deleted: int = 0  # daily_bars, pruned with the minutes


def month_partitions(conn: psycopg.Connection) -> list[tuple[str, int, int]]:
    """(name, from_ms, to_ms) of each partition of historical_bars."""
    rows = conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'historical_bars'::regclass ORDER BY c.relname"
    ).fetchall()
    parts = []
    for name, bound in rows:
        match = _BOUNDS.search(bound or "")
        if match:
            parts.append((name, int(match.group(1)), int(match.group(2))))
    return parts


def prune_bars(conn: psycopg.Connection, cutoff_ms: int) -> PruneResult:
    """Remove every bar starting before ``cutoff_ms`` (a New York midnight), in one
    transaction. Crypto and forex days are UTC days: theirs are removed before the UTC
    midnight of the same date, so that no UTC day is left with its first hours cut off."""
    result = PruneResult()
    utc_cutoff_ms = cutoff_ms - cutoff_ms % MS_PER_UTC_DAY  # a UTC day is exactly 86,400 s
    with conn.transaction():
        conn.execute("LOCK TABLE historical_bars IN SHARE ROW EXCLUSIVE MODE")
        for name, _start, end in month_partitions(conn):
            if end <= min(cutoff_ms, utc_cutoff_ms):
                count = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
                ).fetchone()
                result.rows_deleted += count[0] if count else 0
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                result.partitions_dropped.append(name)
        deleted = conn.execute(
            'DELETE FROM historical_bars WHERE "timestamp" < %s'
            ' AND (dataset <> ALL(%s) OR "timestamp" < %s)',
            (cutoff_ms, list(UTC_DATASETS), utc_cutoff_ms),
        ).rowcount
        result.rows_deleted += max(deleted, 0)
        result.daily_rows_deleted = prune_daily_bars(conn, cutoff_ms)
        cutoff_day = datetime.fromtimestamp(cutoff_ms / 1000, NEW_YORK).date()
        conn.execute("DELETE FROM rest_stand_ins WHERE day < %s", (cutoff_day,))
        prune_option_surface(conn, cutoff_day)
    return result


def forget_pruned_partitions(
    instance: DagsterInstance, cutoff: date, assets: Sequence[str] = PRUNED_ASSETS
) -> dict[str, int]:
    """Wipe the partitions before ``cutoff`` of the assets whose data retention removed, so
    that the UI shows those days as not materialized (their data is gone) instead of as
    loaded. The partitions wiped per asset.

    The project's Dagster storage (``instance.ProjectEventLogStorage``) can wipe partitions;
    another storage that cannot is left as it is (nothing wiped, nothing raised)."""
    from dagster import AssetKey

    storage = instance.event_log_storage
    first_kept = cutoff.isoformat()
    wiped: dict[str, int] = {}
    for name in assets:
        key = AssetKey(name)
        before = getattr(storage, "partitions_before", None)
        if before is not None:
            keys = before(key, first_kept)
        else:
            keys = sorted(p for p in instance.get_materialized_partitions(key) if p < first_kept)
        keys = [k for k in keys if _DAY_KEY.match(k)]
        if not keys:
            continue
        try:
            instance.wipe_asset_partitions(key, keys)
        except NotImplementedError:
            return wiped
        wiped[name] = len(keys)
    return wiped
