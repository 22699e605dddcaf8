"""market-data option analytics benchmark: ``option_greeks`` against ``option_bars``.

    .venv/bin/python -W ignore bench/options.py              # one real-size day, best of 3
    .venv/bin/python -W ignore bench/options.py --quick      # a tenth of the contracts

Starts its own PostgreSQL cluster under a temporary folder and writes one session of an
S&P-sized chain straight into ``historical_bars`` (nothing is landed or downloaded: the
bars are stored before the clock starts): 10 expirations x 76 strikes x call and put,
each contract trading in about 60 % of the 390 regular minutes (about 350,000 option
bars), priced by Black-76 on a forward with a dividend carry and a smile, and the
underlying's minutes. Then, best of ``--repeat``:

- ``option_bars(underlying, day)``: reading the prices (the floor of a read);
- ``option_greeks(underlying, day)``: the same rows with underlying price, forward, IV
  and greeks (target: at most 2x ``option_bars``);
- the analytics alone on arrays already in memory (rows per second), and the IV solver
  with the greeks alone.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
from scipy.special import ndtr  # noqa: E402

from bench.targets import Target, add_targets_argument, print_table, report  # noqa: E402
from bench.timing import best_of  # noqa: E402
from market_data.calendar import NEW_YORK, day_window, session  # noqa: E402
from market_data.options.black import greeks, implied_volatility  # noqa: E402
from market_data.read import option_bars, option_greeks  # noqa: E402
from market_data.warehouse.db import connect  # noqa: E402
from market_data.warehouse.load import ensure_month_partitions  # noqa: E402
from market_data.warehouse.schema import apply_schema  # noqa: E402
from market_data_local.postgres import EmbeddedPostgres  # noqa: E402

DAY = date(2025, 11, 19)
UNDERLYING, SPOT, RATE, CARRY = "SPY", 590.0, 0.04, 0.013
TRADED_SHARE = 0.6


def _copy(conn, data: pa.Table) -> None:
    buffer = io.BytesIO()
    pa_csv.write_csv(data, buffer, write_options=pa_csv.WriteOptions(include_header=False))
    columns = ", ".join(f'"{c}"' for c in data.column_names)
    with conn.cursor().copy(f"COPY historical_bars ({columns}) FROM STDIN (FORMAT csv)") as cp:
        cp.write(buffer.getvalue())


def write_day(conn, strikes: int) -> int:
    """The underlying's regular minutes and its chain's bars; the option rows written."""
    regular = session(DAY)
    assert regular is not None
    ensure_month_partitions(conn, day_window(DAY))
    minutes = np.arange(regular.open_ms, regular.close_ms, 60_000, dtype=np.int64)
    rng = np.random.default_rng(11)
    spot = SPOT + np.cumsum(rng.normal(0, 0.08, minutes.size))
    n = minutes.size
    _copy(
        conn,
        pa.table(
            {
                "symbol": [UNDERLYING] * n,
                "timeframe": ["1m"] * n,
                "timestamp": minutes,
                "open": spot,
                "high": spot + 0.05,
                "low": spot - 0.05,
                "close": spot,
                "volume": np.full(n, 1e5),
                "transactions": np.full(n, 100),
                "source": ["flat_file"] * n,
                "dataset": ["stocks"] * n,
                "underlying": [UNDERLYING] * n,
            }
        ),
    )
    expirations = [DAY + timedelta(days=d) for d in (2, 5, 9, 12, 16, 23, 30, 44, 58, 86)]
    grid = SPOT + np.arange(-(strikes // 2), strikes - strikes // 2) * 1.0
    rows = 0
    for expiration in expirations:
        settle = int(datetime.combine(expiration, clock(16), tzinfo=NEW_YORK).timestamp() * 1000)
        t = (settle - minutes - 60_000) / 60_000 / 525_600
        forward = spot * np.exp((RATE - CARRY) * t)
        for right in ("C", "P"):
            for strike in grid:
                traded = rng.random(n) < TRADED_SHARE
                f, tt = forward[traded], t[traded]
                k = np.log(strike / f)
                sigma = 0.16 + 0.8 * k**2 - 0.2 * k
                d1 = (-k + sigma**2 * tt / 2) / (sigma * np.sqrt(tt))
                d2 = d1 - sigma * np.sqrt(tt)
                call = np.exp(-RATE * tt) * (f * ndtr(d1) - strike * ndtr(d2))
                price = call if right == "C" else call - np.exp(-RATE * tt) * (f - strike)
                price = np.maximum(np.round(price, 2), 0.01)
                ticker = f"O:{UNDERLYING}{expiration:%y%m%d}{right}{round(strike * 1000):08d}"
                m = int(traded.sum())
                _copy(
                    conn,
                    pa.table(
                        {
                            "symbol": [ticker] * m,
                            "timeframe": ["1m"] * m,
                            "timestamp": minutes[traded],
                            "open": price,
                            "high": price,
                            "low": price,
                            "close": price,
                            "volume": np.full(m, 10.0),
                            "transactions": np.full(m, 3),
                            "source": ["flat_file"] * m,
                            "dataset": ["options"] * m,
                            "underlying": [UNDERLYING] * m,
                        }
                    ),
                )
                rows += m
    conn.execute("ANALYZE historical_bars")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the strikes")
    add_targets_argument(parser)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="market-data-bench-options-"))
    work.chmod(0o755)
    cluster = EmbeddedPostgres(work / "postgres")
    try:
        cluster.start()
        url = cluster.ensure_database("bench_options")
        with connect(url) as conn:
            apply_schema(conn)
            stored = write_day(conn, 8 if args.quick else 76)
        print(f"{stored:,} option bars of {UNDERLYING} on {DAY} (stored before timing)")

        bars_s, bars = best_of(
            args.repeat, lambda: option_bars(UNDERLYING, DAY, DAY, database_url=url)
        )
        greeks_s, table = best_of(
            args.repeat,
            lambda: option_greeks(UNDERLYING, DAY, DAY, rate=RATE, database_url=url),
        )
        n = len(table)  # type: ignore[arg-type]
        solved = float(table["iv"].notna().mean())  # type: ignore[index]

        # The IV solver and greeks alone, on the arrays of the read.
        price = table["close"].to_numpy(float)  # type: ignore[index]
        forward = table["forward"].to_numpy(float)  # type: ignore[index]
        strike = table["strike"].to_numpy(float)  # type: ignore[index]
        t = table["t_years"].to_numpy(float)  # type: ignore[index]
        is_call = (table["right"] == "call").to_numpy()  # type: ignore[index]
        spot = table["underlying_price"].to_numpy(float)  # type: ignore[index]
        discount = np.exp(-RATE * t)

        def solve() -> object:
            iv, _ = implied_volatility(price, forward, strike, t, discount, is_call)
            return greeks(forward, strike, t, RATE, iv, is_call, spot)

        solve_s, _ = best_of(args.repeat, solve)
        print_table(
            ("one day of option bars", "seconds", "rows", "rows/s"),
            [
                (
                    "option_bars (read)",
                    f"{bars_s:.3f}",
                    f"{len(bars):,}",
                    f"{len(bars) / bars_s:,.0f}",
                ),  # type: ignore[arg-type]
                (
                    "option_greeks (read + analytics)",
                    f"{greeks_s:.3f}",
                    f"{n:,}",
                    f"{n / greeks_s:,.0f}",
                ),
                ("IV + greeks on arrays", f"{solve_s:.3f}", f"{n:,}", f"{n / solve_s:,.0f}"),
            ],
        )
        notes = table["iv_note"].replace("", "(solved)").value_counts()  # type: ignore[index]
        print(
            f"\n{solved:.1%} of the bars have an implied volatility; iv_note: "
            + ", ".join(f"{k} {v:,}" for k, v in notes.items())
        )
        ratio = greeks_s / bars_s
        targets = [
            Target(
                "option_greeks vs option_bars, one day",
                f"{ratio:.2f}x ({greeks_s:.2f} s vs {bars_s:.2f} s)",
                "<= 2x",
                ratio <= 2,
            ),
            Target(
                "IV + greeks on arrays",
                f"{n / solve_s:,.0f} rows/s",
                "reported",
                True,
                size_bound=False,
            ),
            Target("bars with an IV", f"{solved:.1%}", ">= 95 %", solved >= 0.95, size_bound=False),
        ]
        report("options.py", targets, args.targets_file, quick=args.quick)
        return 0 if all(t.holds for t in targets) else 1
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
