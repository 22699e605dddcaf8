"""market-data read benchmark: ``market_data.read`` against a raw binary COPY of the same rows.

    .venv/bin/python bench/read.py            # one symbol x one year of minutes, 500 x 1 year daily
    .venv/bin/python bench/read.py --repeat 9

Starts its own PostgreSQL cluster under a temporary folder, writes generated bars
straight into ``historical_bars`` (one symbol, every minute 04:00-20:00 of the 2025
sessions, about 240k rows) and ``daily_bars`` (500 symbols x the 2025 sessions), then
times, best of ``--repeat``:

- the floor: ``COPY (SELECT …) TO STDOUT (FORMAT binary)`` of the year's minutes, decoded
  into an Arrow table (the read path's own NumPy decoder: the fastest way we know);
- ``bars(symbol, year)`` into a DataFrame (target: at least 50 % of the floor's speed);
- ``bars(..., timeframe="5min")`` (target: no slower than the 1-minute read);
- ``bars(500 symbols, year, timeframe="1d")`` from ``daily_bars`` (target: 0.5 s at most).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from datetime import date, datetime
from datetime import time as clock
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402

from bench.targets import Target, add_targets_argument, print_table, report  # noqa: E402
from bench.timing import best_of  # noqa: E402
from market_data.calendar import NEW_YORK, day_window  # noqa: E402
from market_data.read import bars  # noqa: E402
from market_data.read.api import ROW_LAYOUT, Timeframe  # noqa: E402
from market_data.read.binary_copy import copy_binary, decode_rows  # noqa: E402
from market_data.read.sessions import SessionName, sessions_between  # noqa: E402
from market_data.warehouse.db import connect  # noqa: E402
from market_data.warehouse.load import ensure_month_partitions  # noqa: E402
from market_data.warehouse.schema import apply_schema  # noqa: E402
from market_data_local.postgres import EmbeddedPostgres  # noqa: E402

YEAR = (date(2025, 1, 1), date(2025, 12, 31))
SYMBOL = "BENCH"
DAILY_SYMBOLS = [f"S{n:03d}" for n in range(500)]


def _copy_csv(conn, table: str, columns: list[str], data: pa.Table) -> None:
    buffer = io.BytesIO()
    pa_csv.write_csv(data, buffer, write_options=pa_csv.WriteOptions(include_header=False))
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as cp:
        cp.write(buffer.getvalue())


def write_year_of_minutes(conn) -> int:
    """Every minute 04:00-20:00 of each 2025 session, as one stock would have them."""
    stamps = []
    for session in sessions_between(*YEAR):
        start = datetime.combine(session.day, clock(4), tzinfo=NEW_YORK)
        stamps.append(int(start.timestamp() * 1000) + np.arange(960, dtype=np.int64) * 60_000)
        ensure_month_partitions(conn, day_window(session.day))
    timestamps = np.concatenate(stamps)
    rng = np.random.default_rng(7)
    close = 500 + np.cumsum(rng.normal(0, 0.1, len(timestamps)))
    n = len(timestamps)
    data = pa.table(
        {
            "symbol": pa.array([SYMBOL] * n),
            "timeframe": pa.array(["1m"] * n),
            "timestamp": timestamps,
            "open": close + rng.normal(0, 0.02, n),
            "high": close + 0.05,
            "low": close - 0.05,
            "close": close,
            "volume": rng.integers(1, 10_000, n).astype(float),
            "transactions": rng.integers(1, 100, n),
            "source": pa.array(["flat_file"] * n),
            "dataset": pa.array(["stocks"] * n),
            "underlying": pa.array([SYMBOL] * n),
        }
    )
    _copy_csv(conn, "historical_bars", [f'"{c}"' for c in data.column_names], data)
    conn.execute("ANALYZE historical_bars")
    return n


def write_year_of_daily_bars(conn) -> int:
    """500 symbols x the 2025 sessions in daily_bars, every day marked as built."""
    days = [s.day for s in sessions_between(*YEAR)]
    n = len(days) * len(DAILY_SYMBOLS)
    rng = np.random.default_rng(8)
    close = 100 + rng.normal(0, 1, n)
    data = pa.table(
        {
            "symbol": pa.array(np.repeat(DAILY_SYMBOLS, len(days))),
            "session": pa.array(["regular"] * n),
            "day": pa.array(days * len(DAILY_SYMBOLS), pa.date32()),
            "timestamp": pa.array([day_window(d).start_ms for d in days] * len(DAILY_SYMBOLS)),
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": rng.integers(1, 10**6, n).astype(float),
            "transactions": rng.integers(1, 10**4, n),
            "dataset": pa.array(["stocks"] * n),
            "underlying": pa.array(np.repeat(DAILY_SYMBOLS, len(days))),
        }
    )
    _copy_csv(conn, "daily_bars", [f'"{c}"' for c in data.column_names], data)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO daily_bars_days (day) VALUES (%s)", [(d,) for d in days])
    # Make the 500 symbols known to the read path (it checks each has minutes stored).
    ensure_month_partitions(conn, day_window(days[0]))
    known = pa.table(
        {
            "symbol": DAILY_SYMBOLS,
            "timeframe": ["1m"] * 500,
            "timestamp": [day_window(days[0]).start_ms + 14 * 3_600_000] * 500,
            "open": [1.0] * 500,
            "high": [1.0] * 500,
            "low": [1.0] * 500,
            "close": [1.0] * 500,
            "source": ["flat_file"] * 500,
            "dataset": ["stocks"] * 500,
            "underlying": DAILY_SYMBOLS,
        }
    )
    _copy_csv(conn, "historical_bars", [f'"{c}"' for c in known.column_names], known)
    conn.execute("ANALYZE daily_bars")
    return n


def raw_copy_into_arrow(conn, symbol: str = SYMBOL, days: tuple[date, date] = YEAR) -> pa.Table:
    """The floor: the symbol's stored minutes of ``days``, as they are, through binary COPY
    into Arrow."""
    from psycopg import sql

    window = (day_window(days[0]).start_ms, day_window(days[1]).end_ms)
    query = sql.SQL(
        'SELECT 1::int8, "timestamp", open, high, low, close, volume, transactions::int8'
        " FROM historical_bars WHERE symbol = %(symbol)s AND timeframe = '1m'"
        ' AND "timestamp" >= %(start)s AND "timestamp" < %(end)s ORDER BY "timestamp"'
    )
    params = {"symbol": symbol, "start": window[0], "end": window[1]}
    columns = decode_rows(copy_binary(conn, query, params), ROW_LAYOUT)
    return pa.table({name: columns[name] for name in list(ROW_LAYOUT)[1:]})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="best of N (default 5)")
    add_targets_argument(parser)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="market-data-bench-read-"))
    work.chmod(0o755)
    cluster = EmbeddedPostgres(work / "postgres")
    try:
        cluster.start()
        url = cluster.ensure_database("bench_read")
        with connect(url) as conn:
            apply_schema(conn)
            minutes = write_year_of_minutes(conn)
            daily = write_year_of_daily_bars(conn)
            print(f"{minutes:,} minutes of {SYMBOL}; {daily:,} daily bars of 500 symbols (2025)")
            raw_seconds, raw = best_of(args.repeat, lambda: raw_copy_into_arrow(conn))

        def read(timeframe: Timeframe, session: SessionName = "all", symbols=SYMBOL):
            return lambda: bars(
                symbols, *YEAR, timeframe=timeframe, session=session, database_url=url
            )

        rows = [("raw COPY binary into Arrow (floor)", raw_seconds, raw.num_rows)]  # type: ignore[attr-defined]
        measured: dict[str, float] = {}
        cases: list[tuple[str, Timeframe, SessionName, str | list[str]]] = [
            ("bars 1min, all", "1min", "all", SYMBOL),
            ("bars 1min, regular", "1min", "regular", SYMBOL),
            ("bars 5min, all", "5min", "all", SYMBOL),
            ("bars 1h, regular", "1h", "regular", SYMBOL),
            ("bars 1d from minutes, extended", "1d", "extended", SYMBOL),
            ("bars 1d, 500 symbols, daily_bars", "1d", "regular", DAILY_SYMBOLS),
        ]
        for label, timeframe, session, symbols in cases:
            seconds, frame = best_of(args.repeat, read(timeframe, session, symbols))
            measured[label] = seconds
            rows.append((label, seconds, len(frame)))  # type: ignore[arg-type]
        print_table(
            ("read, one year", "seconds", "rows", "rows/s"),
            [(name, f"{s:.3f}", f"{n:,}", f"{n / s:,.0f}") for name, s, n in rows],
        )

        speed = raw_seconds / measured["bars 1min, all"]
        targets = [
            Target(
                "1min DataFrame vs raw COPY into Arrow", f"{speed:.0%}", ">= 50 %", speed >= 0.5
            ),
            Target(
                "5min read vs 1min read",
                f"{measured['bars 5min, all']:.3f} s vs {measured['bars 1min, all']:.3f} s",
                "<=",
                measured["bars 5min, all"] <= measured["bars 1min, all"],
            ),
            Target(
                "1d, 500 symbols x 1 year",
                f"{measured['bars 1d, 500 symbols, daily_bars']:.3f} s",
                "<= 0.5 s",
                measured["bars 1d, 500 symbols, daily_bars"] <= 0.5,
            ),
        ]
        report("read.py", targets, args.targets_file)
        return 0 if all(t.holds for t in targets) else 1
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
