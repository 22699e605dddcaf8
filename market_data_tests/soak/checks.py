"""What the soak asserts once the simulated weeks are over: the table equals the files'
truth row for row, Dagster agrees with the table, and nothing was left behind."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import psycopg
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance
from dagster._core.storage.partition_status_cache import AssetPartitionStatus

from market_data.calendar import NEW_YORK
from market_data_tests.soak.plan import REMOVED_SYMBOL, Plan
from market_data_tests.soak.source import Row, table_rows, truth_rows

HISTORICAL_BARS = AssetKey("historical_bars")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _day(row: Row) -> date:
    return datetime.fromtimestamp(row[3] / 1000, NEW_YORK).date()


def _describe(rows: set[Row], limit: int = 8) -> str:
    groups = Counter((_day(r), r[0], r[2], r[-1]) for r in rows)
    parts = [f"{day} {ds} {sym} {src}: {n}" for (day, ds, sym, src), n in sorted(groups.items())]
    more = f" … and {len(parts) - limit} more groups" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def rows_check(conn: psycopg.Connection, plan: Plan, source: Path) -> tuple[Check, Check]:
    truth = truth_rows(plan, source, plan.file_days)
    may_keep = truth_rows(plan, source, plan.file_days, removed_symbol=True)
    rows = table_rows(conn)
    held = {r for r in rows if r[2] != REMOVED_SYMBOL}
    kept = {r for r in rows if r[2] == REMOVED_SYMBOL}
    duplicates = [r for r, n in Counter(rows).items() if n > 1]
    (keys,) = conn.execute(
        "SELECT count(*) FROM (SELECT symbol, timeframe, timestamp FROM historical_bars"
        " GROUP BY 1, 2, 3 HAVING count(*) > 1) d"
    ).fetchone() or (0,)
    missing, extra = truth - held, (held - truth) | (kept - may_keep)
    detail = f"{len(rows):,} rows, truth {len(truth):,} (+ {len(kept):,} of {REMOVED_SYMBOL} kept)"
    if missing:
        detail += f"; missing {len(missing):,}: {_describe(missing)}"
    if extra:
        detail += f"; unexpected {len(extra):,}: {_describe(extra)}"
    rest_left = [r for r in held | kept if r[-1] == "rest" and plan.final_version(r[0], _day(r))]
    if rest_left:
        detail += f"; REST rows left on days whose file is out: {_describe(set(rest_left))}"
    return (
        Check(
            "historical_bars equals the truth", not missing and not extra and not rest_left, detail
        ),
        Check(
            "no duplicate bars",
            not duplicates and not keys,
            f"{len(duplicates)} duplicated rows, {keys} duplicated keys",
        ),
    )


def dagster_check(conn: psycopg.Connection, instance: DagsterInstance, plan: Plan) -> Check:
    """Each day's partition status and latest materialization agree with the table: days the
    retention removed show as not materialized, every other day as materialized, and the
    latest materialization names the sources the table holds for the day."""
    from market_data.defs.partitions import daily_partitions

    days = plan.file_days
    keys = [d.isoformat() for d in days]
    status = instance.get_status_by_partition(HISTORICAL_BARS, keys, daily_partitions) or {}
    cutoff = plan.retention_cutoff()
    sources: dict[date, set[str]] = {}
    for day, source in conn.execute(
        "SELECT DISTINCT (to_timestamp(timestamp / 1000.0) AT TIME ZONE 'America/New_York')::date,"
        " source FROM historical_bars"
    ).fetchall():
        sources.setdefault(day, set()).add(source)
    problems = []
    for day, key in zip(days, keys, strict=True):
        pruned = cutoff is not None and day < cutoff
        state = status.get(key)
        if pruned:
            if state is not None:
                problems.append(f"{key} removed by retention but shows {state.value}")
            continue
        if state != AssetPartitionStatus.MATERIALIZED:
            problems.append(f"{key} holds its day but shows {state.value if state else 'missing'}")
            continue
        [record] = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=HISTORICAL_BARS, asset_partitions=[key]), limit=1
        ).records
        metadata = record.asset_materialization.metadata if record.asset_materialization else {}
        named = str(metadata["source"].value) if "source" in metadata else ""
        named_set = {s.strip() for s in named.split(",")} - {"(no rows)", ""}
        held = sources.get(day, set())
        single = "partition_span" in metadata and "…" not in str(metadata["partition_span"].value)
        if not held <= named_set or (single and held != named_set):
            problems.append(
                f"{key}: table holds {sorted(held) or 'no rows'}, Dagster says {named!r}"
            )
    detail = f"{len(days)} partitions" + (
        f"; {len(problems)} disagree: " + "; ".join(problems[:8]) if problems else ", all agree"
    )
    return Check("Dagster's partitions agree with the table", not problems, detail)


def leftovers_check(conn: psycopg.Connection, home: Path) -> tuple[Check, Check, Check]:
    temp = sorted(
        str(p.relative_to(home))
        for p in home.rglob("*")
        if p.is_file()
        and p.name != ".soak-filler"
        and (".part" in p.name or p.name.startswith(".") or p.suffix == ".tmp")
    )
    staging = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE c.relname LIKE '%%staging%%'"
    ).fetchall()
    idle = conn.execute(
        "SELECT datname, application_name, state, left(query, 80) FROM pg_stat_activity"
        " WHERE state LIKE 'idle in transaction%%'"
    ).fetchall()
    return (
        Check("no .part or temp files", not temp, ", ".join(temp[:10]) or "none"),
        Check("no staging tables", not staging, ", ".join(s[0] for s in staging) or "none"),
        Check(
            "no idle-in-transaction connections",
            not idle,
            "; ".join(f"{d} {a!r}: {q}" for d, a, _, q in idle) or "none",
        ),
    )
