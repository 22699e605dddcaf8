"""A large watchlist: 500 stocks over 20 real-size days, loaded on top of a table that
crosses 50 M rows, each day next to a raw COPY at the same table size.

    .venv/bin/python -W ignore bench/large_watchlist.py           # real sizes, about 5 minutes
    .venv/bin/python -W ignore bench/large_watchlist.py --quick   # small: seconds, targets n/a

Starts its own PostgreSQL cluster under a temporary folder (the table wants about 15 GB
of disk), then:

1. prefills ``historical_bars`` in SQL (``INSERT … SELECT generate_series``, a day per
   statement in the order the loads would have written them, two connections side by
   side): the 500 stocks' minutes of the sessions before the 20 days, one of them
   (``READ_SYMBOL``) back to a year before the last day, and 500 other stocks on the 20
   days themselves, so that every month partition the loads write into already holds
   millions of rows; then ``VACUUM ANALYZE``, as a table at rest would be;
2. for each of the 20 sessions ending ``LAST_DAY``: parses the real-size stocks file
   (``bench/run.py``'s sizes, cached like the backfill's) for the 500 stocks, and times
   the project's loader (``load_day``: delete the day's scope, COPY, one transaction) and
   a raw COPY of the same rows under other names (``R:AAPL``…) into the same table, in
   alternating order, each after a ``CHECKPOINT``; both stay, so the table grows by
   twice the watchlist's bars;
3. reports bytes per bar on disk (every partition, table + indexes), reloads the last
   day (the round-1 reload case, now at full table size), and times
   ``market_data.read.bars`` for the read symbol over its year against a raw binary COPY
   of the same rows (``bench/read.py``'s floor).

The 500 stocks are the file's most active tickers; the generator gives them 430-765 bars a
day (real large caps have more in extended hours), 236k a day in all.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402

from bench.backfill import cache_folder  # noqa: E402
from bench.read import raw_copy_into_arrow  # noqa: E402
from bench.run import FULL, QUICK  # noqa: E402
from bench.targets import Target, add_targets_argument, print_table, report  # noqa: E402
from bench.timing import best_of  # noqa: E402
from market_data.calendar import NEW_YORK  # noqa: E402
from market_data.datasets import DATASETS  # noqa: E402
from market_data.read import bars  # noqa: E402
from market_data.read.sessions import sessions_between  # noqa: E402
from market_data.transform.parse import parse_day_file  # noqa: E402
from market_data.warehouse.db import connect  # noqa: E402
from market_data.warehouse.load import (  # noqa: E402
    COLUMNS,
    DatasetBars,
    _csv_payload,
    _delete_scope,
    ensure_month_partitions,
    load_day,
)
from market_data.warehouse.schema import apply_schema  # noqa: E402
from market_data_local.generate import GeneratorSizes, generate_day_file  # noqa: E402
from market_data_local.postgres import EmbeddedPostgres  # noqa: E402

STOCKS = DATASETS["stocks"]
LAST_DAY = date(2025, 11, 25)
READ_SYMBOL = "AAPL"  # one of the 500: its year is read back at the end
PREFILL_MINUTES = 960  # 04:00-20:00 New York, every minute
RAW_PREFIX = "R:"  # the raw COPY's rows: the same bars under other names
LOAD_RATIO = 0.6  # a day's load vs raw COPY, every day (issue 18, item 4)
RELOAD_RATIO = 0.4  # round 1's reload target
READ_RATIO = 0.5  # round 1's read target
FREE_DISK_GB = 25


@dataclass(frozen=True)
class Mode:
    sizes: GeneratorSizes
    watched: int  # stocks on the watchlist
    days: int  # sessions loaded
    prefill_rows: int  # rows in the table before the first load (about)
    crossing: int  # the table size the loads must carry the table past
    read_repeat: int


REAL = Mode(FULL, 500, 20, 45_000_000, 50_000_000, 5)
SMALL = Mode(QUICK, 50, 3, 400_000, 500_000, 3)


def day_files(days: list[date], sizes: GeneratorSizes) -> dict[date, Path]:
    """The stocks files of ``days``, from the benchmark's cache (generated where missing)."""
    folder = cache_folder(sizes)
    files = {day: folder / STOCKS.key(day) for day in days}
    missing = [day for day, path in files.items() if not path.exists()]
    if missing:
        print(f"  generating {len(missing)} stocks files into {folder} (once) ...", flush=True)
        started = time.perf_counter()
        for day in missing:
            generate_day_file(STOCKS, day, files[day], sizes)
        print(f"  generated in {time.perf_counter() - started:.0f}s", flush=True)
    return files


def most_active(path: Path, count: int, skip: int = 0) -> list[str]:
    """The file's ``count`` tickers with the most bars, after the ``skip`` most active."""
    tickers = pa_csv.read_csv(
        path, convert_options=pa_csv.ConvertOptions(include_columns=["ticker"])
    )["ticker"]
    counts = pc.value_counts(tickers)
    order = pc.sort_indices(
        pa.table({"n": counts.field("counts"), "t": counts.field("values")}),
        sort_keys=[("n", "descending"), ("t", "ascending")],
    )
    ranked = pc.take(counts.field("values"), order).to_pylist()
    return ranked[skip : skip + count]


def four_am_ms(day: date) -> int:
    return int(datetime.combine(day, clock(4), tzinfo=NEW_YORK).timestamp() * 1000)


PREFILL = f"""
INSERT INTO historical_bars (symbol, timeframe, "timestamp", open, high, low, close, volume,
                             vwap, transactions, source, dataset, underlying)
SELECT u.symbol, '1m', %(start)s + m * 60000, p, p + 0.05, p - 0.05, p + 0.01,
       100 + (m * 7919 + u.i) %% 5000, p + 0.002, 1 + (m * 31 + u.i) %% 97,
       'flat_file', 'stocks', u.symbol
FROM unnest(%(symbols)s::text[]) WITH ORDINALITY AS u(symbol, i),
     LATERAL generate_series(0, {PREFILL_MINUTES - 1}) AS m,
     LATERAL (SELECT 10 + u.i %% 400 + m * 0.01 + %(shift)s AS p) AS price
"""


def prefill(url: str, plan: list[tuple[date, list[str]]]) -> int:
    """Insert ``PREFILL_MINUTES`` bars per symbol of each (day, symbols), symbol after
    symbol as a day file has them, on two connections (even and odd months apart, so that
    each writes its partitions in day order); the rows inserted."""
    with connect(url) as conn:
        for day, _ in plan:
            ensure_month_partitions(conn, STOCKS.window(day))
    lanes = [[(d, s) for d, s in plan if d.month % 2 == lane] for lane in (0, 1)]
    total = sum(len(symbols) for _, symbols in plan) * PREFILL_MINUTES
    started, done = time.perf_counter(), [0]

    def run(lane: list[tuple[date, list[str]]]) -> int:
        rows = 0
        with connect(url) as conn:
            for n, (day, symbols) in enumerate(lane):
                params = {"start": four_am_ms(day), "symbols": symbols, "shift": n % 50 / 10}
                rows += conn.execute(PREFILL, params).rowcount
                done[0] += len(symbols) * PREFILL_MINUTES
                if n % 25 == 24:
                    seconds = time.perf_counter() - started
                    print(
                        f"    {done[0] / 1e6:,.1f} M of {total / 1e6:,.1f} M rows "
                        f"({seconds:.0f}s, {done[0] / seconds:,.0f} rows/s)",
                        flush=True,
                    )
        return rows

    with ThreadPoolExecutor(2) as pool:
        return sum(pool.map(run, lanes))


def renamed(table: pa.Table) -> pa.Table:
    """The same bars under other names, for the raw COPY: the loaded rows stay as they are."""
    for column in ("symbol", "underlying"):
        i = table.schema.get_field_index(column)
        table = table.set_column(
            i, table.schema.field(i), pc.binary_join_element_wise(RAW_PREFIX, table[column], "")
        )
    return table


def raw_copy(conn, payload: bytes) -> None:
    quoted = ", ".join(f'"{c}"' for c in COLUMNS)
    with (
        conn.transaction(),
        conn.cursor().copy(f"COPY historical_bars ({quoted}) FROM STDIN (FORMAT csv)") as copy,
    ):
        copy.write(payload)


def timed(conn, step: Callable[[], object]) -> float:
    """Seconds of ``step``, started after a checkpoint so that neither side pays the
    other's dirty pages."""
    conn.execute("CHECKPOINT")
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


class Explained:
    """A connection that plans the loader's statements instead of running them (EXPLAIN):
    the plan a load's delete of its scope gets, with the loader's own SQL, deleting nothing."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.plan: dict[str, Any] = {}

    def execute(self, query, params=None):
        cursor = self.conn.execute("EXPLAIN (FORMAT JSON) " + query, params)
        self.plan = cursor.fetchone()[0][0]["Plan"]
        return cursor


def delete_plan(conn, day: date, part: DatasetBars) -> str:
    """How PostgreSQL would find the day's bars to replace: the scans of the partitions."""
    explained = Explained(conn)
    _delete_scope(explained, STOCKS.window(day), [part])  # type: ignore[arg-type]
    scans, nodes = [], [explained.plan]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if str(node.get("Relation Name", "")).startswith("historical_bars_"):
            scans.append(node["Node Type"])
    return ", ".join(sorted(set(scans))) or "none"


@dataclass(frozen=True)
class DayLoad:
    day: date
    rows: int
    table_rows: int  # before the day's two loads
    parse: float
    raw: float
    ours: float
    plan: str  # the scans of the loader's delete of the day's scope

    @property
    def ratio(self) -> float:
        return self.raw / self.ours


def millions(n: float) -> str:
    return f"{n / 1e6:,.1f} M"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small table: targets n/a")
    add_targets_argument(parser)
    args = parser.parse_args()
    mode = SMALL if args.quick else REAL
    wall = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="market-data-bench-large-"))
    work.chmod(0o755)  # as root, the cluster runs as `postgres`, which must reach it
    free = shutil.disk_usage(work).free / 1e9
    if not args.quick and free < FREE_DISK_GB:
        shutil.rmtree(work)
        raise SystemExit(f"{work}: {free:.0f} GB free, the table wants {FREE_DISK_GB} GB")
    cluster = EmbeddedPostgres(work / "postgres")
    try:
        cluster.start()
        url = cluster.ensure_database("bench_large")
        sessions = [s.day for s in sessions_between(LAST_DAY - timedelta(days=400), LAST_DAY)]
        days = sessions[-mode.days :]
        year = (LAST_DAY - timedelta(days=364), LAST_DAY)
        before = [d for d in sessions if year[0] <= d < days[0]]
        files = day_files(days, mode.sizes)
        watched = most_active(files[days[0]], mode.watched)
        if READ_SYMBOL not in watched:
            watched[-1] = READ_SYMBOL
        others = most_active(files[days[0]], mode.watched, skip=mode.watched)
        watch = frozenset(watched)

        # The sessions before the 20 days: the 500 as far back as the prefill's size
        # wants, the read symbol alone before that.
        per_day = mode.watched * PREFILL_MINUTES
        history = -(-(mode.prefill_rows - mode.days * per_day) // per_day)
        if history > len(before):
            raise SystemExit(f"{history} sessions of history wanted, {len(before)} in the year")
        prefill_plan = [(d, [READ_SYMBOL]) for d in before[: len(before) - history]]
        prefill_plan += [(d, watched) for d in before[len(before) - history :]]
        prefill_plan += [(d, others) for d in days]
        print(
            f"large watchlist: {mode.watched} stocks x {mode.days} sessions "
            f"({days[0]} .. {days[-1]}); prefill: the {mode.watched} over {history} sessions before, "
            f"{READ_SYMBOL} back to {year[0]}, {mode.watched} other stocks on the "
            f"{mode.days} sessions",
            flush=True,
        )
        started = time.perf_counter()
        with connect(url) as conn:
            apply_schema(conn)
        table_rows = prefill(url, prefill_plan)
        prefill_seconds = time.perf_counter() - started
        started = time.perf_counter()
        with connect(url) as conn:
            conn.execute("VACUUM ANALYZE historical_bars")
        vacuum_seconds = time.perf_counter() - started
        print(
            f"  prefilled {table_rows:,} rows in {prefill_seconds:.0f}s "
            f"({table_rows / prefill_seconds:,.0f} rows/s), VACUUM ANALYZE {vacuum_seconds:.0f}s",
            flush=True,
        )
        first_size = table_rows

        loads: list[DayLoad] = []
        with connect(url) as conn:
            for n, day in enumerate(days):
                started = time.perf_counter()
                parsed = parse_day_file(files[day], STOCKS, STOCKS.window(day), watch)
                parse_seconds = time.perf_counter() - started
                part = DatasetBars(STOCKS, watch, parsed.bars)
                plan = delete_plan(conn, day, part)
                payload, rows = _csv_payload([DatasetBars(STOCKS, watch, renamed(parsed.bars))])

                def ours(day: date = day, part: DatasetBars = part) -> object:
                    return load_day(conn, STOCKS.window(day), [part])

                def raw(payload: bytes = payload) -> None:
                    raw_copy(conn, payload)

                if n % 2 == 0:
                    raw_seconds, ours_seconds = timed(conn, raw), timed(conn, ours)
                else:
                    ours_seconds, raw_seconds = timed(conn, ours), timed(conn, raw)
                load = DayLoad(
                    day, rows, table_rows, parse_seconds, raw_seconds, ours_seconds, plan
                )
                loads.append(load)
                table_rows += 2 * rows
                print(
                    f"  {day}: {rows:,} bars, table {millions(load.table_rows)} rows: raw COPY "
                    f"{rows / raw_seconds:,.0f}/s, ours {rows / ours_seconds:,.0f}/s "
                    f"({load.ratio:.0%}; delete planned as {plan}); parse {parse_seconds:.2f}s",
                    flush=True,
                )

            counted = conn.execute("SELECT count(*) FROM historical_bars").fetchone()
            assert counted is not None and counted[0] == table_rows, (counted, table_rows)
            heap, total = conn.execute(
                "SELECT sum(pg_table_size(relid)), sum(pg_total_relation_size(relid))"
                " FROM pg_partition_tree('historical_bars') WHERE isleaf"
            ).fetchone() or (0, 0)
            heap, total = int(heap), int(total)

            # Reloading a day of the 500 (delete its bars, COPY them again) at full size.
            last = loads[-1]
            part = DatasetBars(
                STOCKS,
                watch,
                parse_day_file(files[last.day], STOCKS, STOCKS.window(last.day), watch).bars,
            )
            reload_seconds = timed(conn, lambda: load_day(conn, STOCKS.window(last.day), [part]))

        read_seconds, frame = best_of(
            mode.read_repeat, lambda: bars(READ_SYMBOL, *year, database_url=url)
        )
        with connect(url) as conn:
            floor_seconds, floor = best_of(
                mode.read_repeat, lambda: raw_copy_into_arrow(conn, READ_SYMBOL, year)
            )
        read_rows = len(frame)  # type: ignore[arg-type]
        assert read_rows == floor.num_rows, (read_rows, floor.num_rows)  # type: ignore[attr-defined]

        print_table(
            (
                "day",
                "bars",
                "table rows before",
                "raw COPY rows/s",
                "ours rows/s",
                "ours/raw",
                "the loader's delete, planned as",
            ),
            [
                (
                    f"{d.day}",
                    f"{d.rows:,}",
                    millions(d.table_rows),
                    f"{d.rows / d.raw:,.0f}",
                    f"{d.rows / d.ours:,.0f}",
                    f"{d.ratio:.0%}",
                    d.plan,
                )
                for d in loads
            ],
        )
        below = [d for d in loads if d.table_rows < mode.crossing]
        above = [d for d in loads if d.table_rows >= mode.crossing]
        worst = min(loads, key=lambda d: d.ratio)
        loaded = sum(d.rows for d in loads)
        summary = [
            (
                f"all {len(loads)} days",
                f"{loaded:,}",
                f"{loaded / sum(d.raw for d in loads):,.0f}",
                f"{loaded / sum(d.ours for d in loads):,.0f}",
                f"{statistics.median(d.ratio for d in loads):.0%} median, {worst.ratio:.0%} lowest",
            )
        ]
        groups = [
            (f"table < {millions(mode.crossing)}", below),
            (f"table >= {millions(mode.crossing)}", above),
        ]
        for scans in sorted({d.plan for d in loads}):
            groups.append((f"delete planned as {scans}", [d for d in loads if d.plan == scans]))
        for label, group in groups:
            if group:
                rows = sum(d.rows for d in group)
                summary.append(
                    (
                        f"{label} ({len(group)} days)",
                        f"{rows:,}",
                        f"{rows / sum(d.raw for d in group):,.0f}",
                        f"{rows / sum(d.ours for d in group):,.0f}",
                        f"{sum(d.raw for d in group) / sum(d.ours for d in group):.0%}",
                    )
                )
        print_table(("loads", "bars", "raw COPY rows/s", "ours rows/s", "ours/raw"), summary)
        reload_ratio = last.raw / reload_seconds
        read_ratio = floor_seconds / read_seconds
        print_table(
            ("at the end", "figure"),
            [
                ("rows in historical_bars", f"{table_rows:,}"),
                ("bytes per bar, table + indexes", f"{total / table_rows:.0f} B"),
                ("… table (heap)", f"{heap / table_rows:.0f} B"),
                ("… indexes", f"{(total - heap) / table_rows:.0f} B"),
                ("on disk", f"{total / 1e9:.1f} GB"),
                (
                    f"reload of {last.day} (delete + COPY {last.rows:,} bars)",
                    f"{reload_seconds:.2f} s, {last.rows / reload_seconds:,.0f} rows/s, "
                    f"{reload_ratio:.0%} of raw COPY",
                ),
                (
                    f"bars({READ_SYMBOL!r}, {year[0]}, {year[1]}), 1min, all",
                    f"{read_seconds:.3f} s, {read_rows:,} rows",
                ),
                ("raw binary COPY of the same rows into Arrow", f"{floor_seconds:.3f} s"),
                ("wall time of this benchmark", f"{time.perf_counter() - wall:.0f} s"),
            ],
        )
        targets = [
            Target(
                f"{mode.watched} stocks x {mode.days} days: table size during the loads",
                f"{millions(first_size)} -> {millions(table_rows)} rows",
                f"crosses {millions(mode.crossing)}",
                first_size < mode.crossing <= table_rows,
            ),
            Target(
                f"{mode.watched} stocks x {mode.days} days: load vs raw COPY, lowest day",
                f"{worst.ratio:.0%} ({worst.day}, table {millions(worst.table_rows)})",
                f">= {LOAD_RATIO:.0%} every day",
                worst.ratio >= LOAD_RATIO,
            ),
            Target(
                f"reload of a day of {mode.watched} stocks, table {millions(table_rows)}: vs raw COPY",
                f"{reload_ratio:.0%}",
                f">= {RELOAD_RATIO:.0%}",
                reload_ratio >= RELOAD_RATIO,
            ),
            Target(
                f"bars({READ_SYMBOL}, a year), table {millions(table_rows)}: vs raw binary COPY",
                f"{read_ratio:.0%} ({read_seconds:.3f} s)",
                f">= {READ_RATIO:.0%}",
                read_ratio >= READ_RATIO,
            ),
        ]
        report("large_watchlist.py", targets, args.targets_file, quick=args.quick)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
