"""market-data benchmark: the real pipeline code on generated day files, with reference points.

    .venv/bin/python bench/run.py            # real sizes (an indices file of 10,000+ tickers)
    .venv/bin/python bench/run.py --quick    # small files, seconds: CI runs this

It starts its own PostgreSQL cluster and S3-compatible server under a temporary folder,
generates one day of each dataset in Massive's layout, and prints one table: download
MB/s; parse + filter rows/s against plain gzip decompression (the floor for parsing);
load rows/s into ``historical_bars`` against a raw COPY into the same indexed table
(the floor for loading) and against row batches of ``INSERT … ON CONFLICT`` (how the
existing deployments load); end-to-end seconds per partition; peak RSS per step.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import boto3  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from bench.backfill import ADDED_SYMBOL, run_backfill  # noqa: E402
from bench.targets import Target, add_targets_argument, print_table, report  # noqa: E402
from market_data.datasets import DATASETS  # noqa: E402
from market_data_local.generate import GeneratorSizes, generate_day_file  # noqa: E402
from market_data_local.postgres import EmbeddedPostgres  # noqa: E402
from market_data_local.s3 import LOCAL_CREDENTIALS, LocalS3Server  # noqa: E402

DAY = date(2025, 11, 25)
WATCH = {
    "indices": ["SPX", "NDX", "RUT", "VIX", "DJI"],
    "stocks": ["SPY", "QQQ", "AAPL", "MSFT", "NVDA"],
    "options": ["SPY", "SPX"],
}
FULL = GeneratorSizes(other_indices=13_500, other_stocks=8_000, contracts_per_underlying=2_000)
QUICK = GeneratorSizes()


def in_subprocess(code: str) -> dict:
    """Run a step in a fresh interpreter, so its peak RSS is its own."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_decompress(path: Path) -> dict:
    results = {}
    started = time.perf_counter()
    with gzip.open(path, "rb") as f:
        size = sum(len(chunk) for chunk in iter(lambda: f.read(1 << 22), b""))
    results["zlib"] = time.perf_counter() - started
    try:
        from isal import igzip

        started = time.perf_counter()
        with igzip.open(path, "rb") as f:
            for _ in iter(lambda: f.read(1 << 22), b""):
                pass
        results["isal"] = time.perf_counter() - started
    except ImportError:
        pass
    return {"bytes": size, **results}


PARSE_STEP = """
import json, sys, time
from datetime import date
from pathlib import Path
sys.path.insert(0, {repo!r})
from market_data.datasets import DATASETS
from market_data.transform.parse import parse_day_file
d = DATASETS[{name!r}]
started = time.perf_counter()
parsed = parse_day_file(Path({path!r}), d, d.window(date.fromisoformat({day!r})), frozenset({watch!r}))
seconds = time.perf_counter() - started
parsed.bars.to_pandas().to_parquet({out!r})
# VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork and exec.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"seconds": seconds, "rows_read": parsed.rows_read, "rows_kept": parsed.rows_kept,
                  "peak_rss_mib": hwm / 1024}}))
"""


def load_table(n_rows: int) -> pa.Table:
    """Bars for the load measurements: many symbols over one day's minutes."""
    from market_data.calendar import day_window
    from market_data.transform.parse import BARS_SCHEMA

    window = day_window(DAY)
    per_symbol = 960
    symbols = max(1, n_rows // per_symbol)
    index = pa.array(range(symbols * per_symbol), pa.int64())
    symbol = pc.cast(pc.divide(index, per_symbol), pa.string())
    symbol = pc.binary_join_element_wise("S", symbol, "")
    minute = pc.subtract(index, pc.multiply(pc.divide(index, per_symbol), per_symbol))
    ts = pc.add(pc.multiply(minute, 60_000), window.start_ms + 4 * 3_600_000)
    price = pc.add(pc.cast(minute, pa.float64()), 100.25)
    columns = {
        "symbol": symbol,
        "underlying": symbol,
        "timestamp": ts,
        "open": price,
        "high": pc.add(price, 1.0),
        "low": pc.subtract(price, 1.0),
        "close": price,
        "volume": pc.cast(minute, pa.float64()),
        "transactions": pc.cast(minute, pa.int32()),
    }
    # Every other column of a bar (vwap, a renamed stock's file_ticker) is null here.
    return pa.table(
        [columns.get(f.name, pa.nulls(len(index), f.type)) for f in BARS_SCHEMA],
        schema=BARS_SCHEMA,
    )


def measure_loads(url: str, table: pa.Table) -> dict:
    from market_data.calendar import day_window
    from market_data.warehouse.db import connect
    from market_data.warehouse.load import COLUMNS, DatasetBars, _csv_payload, load_day
    from market_data.warehouse.schema import apply_schema

    window = day_window(DAY)
    stocks = DATASETS["stocks"]
    part = DatasetBars(stocks, frozenset(pc.unique(table["underlying"]).to_pylist()), table)
    n = table.num_rows
    out = {"rows": n}
    with connect(url) as conn:
        apply_schema(conn)

        def clear() -> None:
            conn.execute("TRUNCATE historical_bars")
            conn.execute("VACUUM ANALYZE historical_bars")

        clear()
        load_day(conn, window, [])  # month partitions exist before anything is timed
        payload, _ = _csv_payload([part])
        quoted = ", ".join(f'"{c}"' for c in COLUMNS)
        started = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor().copy(f"COPY historical_bars ({quoted}) FROM STDIN (FORMAT csv)") as copy,
        ):
            copy.write(payload)
        out["raw_copy"] = time.perf_counter() - started

        clear()
        started = time.perf_counter()
        load_day(conn, window, [part])
        out["ours_fresh"] = time.perf_counter() - started
        started = time.perf_counter()
        load_day(conn, window, [part])
        out["ours_reload"] = time.perf_counter() - started

        clear()
        inserted = [
            "symbol",
            "underlying",
            "timestamp",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "vwap",
            "transactions",
        ]
        rows = list(zip(*(table[c].to_pylist() for c in inserted), strict=True))
        insert = (
            f"INSERT INTO historical_bars ({', '.join(inserted)}, timeframe, source, dataset)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '1m', 'flat_file', 'stocks')"
            " ON CONFLICT (symbol, timeframe, timestamp) DO UPDATE SET close = EXCLUDED.close"
        )
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            for i in range(0, len(rows), 1000):
                cur.executemany(insert, rows[i : i + 1000])
        out["row_batches"] = time.perf_counter() - started
        clear()
    return out


def end_to_end(s3_endpoint: str, bucket: str, url: str, work: Path) -> float:
    from dagster import DagsterInstance, materialize

    from market_data.defs.assets import DATASET_ASSETS, historical_bars
    from market_data.defs.resources import (
        BarStoreResource,
        FlatFilesResource,
        PipelineSettingsResource,
        RestApiResource,
        WarehouseResource,
    )
    from market_data.warehouse.db import connect
    from market_data.warehouse.watchlist import add_to_watchlist

    with connect(url) as conn:
        for symbols in WATCH.values():
            for s in symbols:
                add_to_watchlist(conn, s, include_options=s in WATCH["options"])
    resources = {
        "flat_files": FlatFilesResource(
            endpoint_url=s3_endpoint,
            bucket=bucket,
            access_key="b",
            secret_key="b",
            landing_dir=str(work / "e2e-landing"),
        ),
        "warehouse": WarehouseResource(database_url=url),
        "bar_store": BarStoreResource(root=str(work / "e2e-bars")),
        "rest_api": RestApiResource(),
        "pipeline_settings": PipelineSettingsResource(),
    }
    started = time.perf_counter()
    result = materialize(
        [*DATASET_ASSETS, historical_bars],
        partition_key=DAY.isoformat(),
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    assert result.success
    return time.perf_counter() - started


CRYPTO_SAMPLE = REPO / "market_data_tests" / "data" / "massive-samples" / "crypto_2025-01-01.csv.gz"


def crypto_day(url: str) -> list[Target]:
    """A real Massive crypto day (every pair of global_crypto 2025-01-01, a real-size file):
    parse against ISA-L gunzip, and its load as historical_bars_utc does it."""
    import csv
    import gzip as gz

    from market_data.datasets import UTC_DATASETS
    from market_data.transform.parse import parse_day_file
    from market_data.warehouse.db import connect
    from market_data.warehouse.load import DatasetBars, load_day
    from market_data.warehouse.schema import apply_schema

    crypto, day = UTC_DATASETS["crypto"], date(2025, 1, 1)
    with gz.open(CRYPTO_SAMPLE, "rt", newline="") as f:
        pairs = frozenset(row["ticker"].replace("-", "") for row in csv.DictReader(f))
    floor = timed_decompress(CRYPTO_SAMPLE)
    fastest = min(v for k, v in floor.items() if k in ("zlib", "isal"))
    started = time.perf_counter()
    parsed = parse_day_file(CRYPTO_SAMPLE, crypto, crypto.window(day), pairs)
    parse_seconds = time.perf_counter() - started
    with connect(url) as conn:
        apply_schema(conn)
        part = DatasetBars(crypto, pairs, parsed.bars)
        started = time.perf_counter()
        loaded = load_day(conn, crypto.window(day), [part])
        load_seconds = time.perf_counter() - started
    size = CRYPTO_SAMPLE.stat().st_size / 1e6
    print_table(
        (
            "crypto day (real)",
            "size",
            "pairs",
            "rows",
            "isal",
            "parse",
            "vs gunzip",
            "load",
            "rows/s",
        ),
        [
            (
                "global_crypto 2025-01-01",
                f"{size:.1f} MB gz",
                f"{len(pairs):,}",
                f"{parsed.rows_kept:,}",
                f"{floor.get('isal', float('nan')):.2f}s",
                f"{parse_seconds:.2f}s",
                f"{fastest / parse_seconds:.0%}",
                f"{load_seconds:.2f}s",
                f"{loaded.rows_copied / load_seconds:,.0f}",
            )
        ],
    )
    return [
        Target(
            "crypto day, every pair: rows loaded = rows in the file",
            f"{loaded.rows_copied:,}",
            f"{parsed.rows_read:,}",
            loaded.rows_copied == parsed.rows_read,
            size_bound=False,
        )
    ]


def one_day(
    client, bucket: str, endpoint: str, url: str, work: Path, sizes: GeneratorSizes, quick: bool
) -> list[Target]:
    """One day of each dataset: download, parse against gunzip, load against COPY, end to end."""
    from market_data.sources.flat_files import fetch_day_file

    rows = []
    measured: dict[str, dict[str, float]] = {}
    for name, dataset in DATASETS.items():
        source = work / "source" / dataset.key(DAY)
        started = time.perf_counter()
        generate_day_file(dataset, DAY, source, sizes)
        generated = time.perf_counter() - started
        client.upload_file(str(source), bucket, dataset.key(DAY))
        landed = fetch_day_file(client, bucket, dataset.key(DAY), work / "landing")
        floor = timed_decompress(landed.path)
        parsed = in_subprocess(
            PARSE_STEP.format(
                repo=str(REPO),
                name=name,
                path=str(landed.path),
                day=DAY.isoformat(),
                watch=sorted(WATCH[name]),
                out=str(work / f"{name}.parquet"),
            )
        )
        mb = landed.size / 1e6
        fastest = min(v for k, v in floor.items() if k in ("zlib", "isal"))
        measured[name] = {
            "parse_vs_gunzip": fastest / parsed["seconds"],
            "peak_rss_mib": parsed["peak_rss_mib"],
            "gz_bytes": landed.size,
        }
        rows.append(
            (
                name,
                f"{mb:,.1f} MB gz / {floor['bytes'] / 1e6:,.0f} MB",
                f"{mb / landed.seconds:,.0f} MB/s",
                f"{floor['zlib']:.2f}s",
                f"{floor.get('isal', float('nan')):.2f}s",
                f"{parsed['seconds']:.2f}s",
                f"{parsed['rows_read'] / parsed['seconds']:,.0f}",
                f"{fastest / parsed['seconds']:.0%}",
                f"{parsed['rows_kept']:,}",
                f"{parsed['peak_rss_mib']:,.0f} MiB",
            )
        )
        print(f"  {name}: generated in {generated:.1f}s", flush=True)
    print_table(
        (
            "dataset",
            "size",
            "download",
            "zlib",
            "isal",
            "parse+filter",
            "rows read/s",
            "vs fastest gunzip",
            "rows kept",
            "peak RSS",
        ),
        rows,
    )

    loads = measure_loads(url, load_table(50_000 if quick else 1_000_000))
    r, fresh, reload = (
        loads["rows"],
        loads["raw_copy"] / loads["ours_fresh"],
        loads["raw_copy"] / loads["ours_reload"],
    )
    batches = loads["row_batches"] / loads["ours_fresh"]
    print_table(
        (
            "load of",
            "rows",
            "raw COPY",
            "ours (fresh day)",
            "ours (reload)",
            "row batches",
            "fresh/COPY",
            "reload/COPY",
            "fresh/batches",
        ),
        [
            (
                "one day",
                f"{r:,}",
                f"{r / loads['raw_copy']:,.0f}/s",
                f"{r / loads['ours_fresh']:,.0f}/s",
                f"{r / loads['ours_reload']:,.0f}/s",
                f"{r / loads['row_batches']:,.0f}/s",
                f"{fresh:.0%}",
                f"{reload:.0%}",
                f"{batches:.1f}x",
            )
        ],
    )
    seconds = end_to_end(endpoint, bucket, url, work)
    print(
        f"\nend to end, one partition (3 datasets, {sum(map(len, WATCH.values()))} "
        f"watchlist entries) through Dagster, files landed before: no: {seconds:.2f}s"
    )

    largest = max(measured, key=lambda name: measured[name]["gz_bytes"])
    rss = measured[largest]["peak_rss_mib"]
    parse = measured["indices"]["parse_vs_gunzip"]
    return [
        Target(
            "parse + filter of indices vs fastest gunzip", f"{parse:.0%}", ">= 50%", parse >= 0.5
        ),
        Target("load, fresh day vs raw COPY", f"{fresh:.0%}", ">= 60%", fresh >= 0.6),
        Target("load, fresh day vs row batches", f"{batches:.1f}x", ">= 4x", batches >= 4),
        Target("load, reload vs raw COPY", f"{reload:.0%}", ">= 40%", reload >= 0.4),
        Target(
            f"peak RSS parsing the largest file ({largest})",
            f"{rss:,.0f} MiB",
            "<= 1024 MiB",
            rss <= 1024,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small files: seconds, for CI")
    parser.add_argument("--days", type=int, help="days of the backfill run (default 90; 5 quick)")
    parser.add_argument("--backfill-only", action="store_true", help="skip the one-day tables")
    parser.add_argument(
        "--profile", type=Path, help="py-spy's stacks of the backfill here (py-spy on PATH)"
    )
    add_targets_argument(parser)
    args = parser.parse_args()
    backfill_days = args.days or (5 if args.quick else 90)
    sizes = QUICK if args.quick else FULL
    work = Path(tempfile.mkdtemp(prefix="market-data-bench-"))
    work.chmod(0o755)
    cluster, s3 = EmbeddedPostgres(work / "postgres"), LocalS3Server(work / "s3")
    try:
        cluster.start()
        endpoint = s3.start()
        url = cluster.ensure_database("bench")
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", **LOCAL_CREDENTIALS
        )
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)

        print(
            f"market-data bench ({'quick' if args.quick else 'full'}) on {platform.node()}, "
            f"{os.cpu_count()} cores, {date.today()}",
            flush=True,
        )
        targets: list[Target] = []
        if not args.backfill_only:
            targets += one_day(client, bucket, endpoint, url, work, sizes, quick=args.quick)
            targets += crypto_day(url)
        print()
        backfill = run_backfill(
            *(client, bucket, endpoint, url, work, DAY, backfill_days, sizes),
            s3_pid=int((work / "s3" / "pid").read_text()),
            postgres_pid=int((cluster.data_dir / "postmaster.pid").read_text().split()[0]),
            profile=args.profile,
        )
        print_table(
            (
                "backfill",
                "files",
                "size",
                "seconds",
                "floor (ISA-L)",
                "MB/s",
                "rows loaded",
                f"+{ADDED_SYMBOL}: seconds",
                "downloads",
                "rows read (indices/stocks)",
                "rows added",
            ),
            [
                (
                    f"{backfill.days} days x 10 symbols",
                    f"{backfill.files}",
                    f"{backfill.bytes / 1e9:.2f} GB",
                    f"{backfill.seconds:.1f}",
                    f"{backfill.floor_seconds:.1f}",
                    f"{backfill.bytes / 1e6 / backfill.seconds:,.0f}",
                    f"{backfill.rows:,}",
                    f"{backfill.added_seconds:.1f}",
                    f"{backfill.added_downloads}",
                    f"{backfill.added_rows_read['indices']:,} / {backfill.added_rows_read['stocks']:,}",
                    f"{backfill.added_rows:,}",
                )
            ],
        )
        targets += [
            Target(
                f"{backfill.days} days x 10 symbols, S3 to historical_bars, vs ISA-L's "
                "decompression of its files on one core",
                f"{backfill.seconds / backfill.floor_seconds:.2f}x "
                f"({backfill.seconds:.0f} s vs {backfill.floor_seconds:.0f} s)",
                "<= 1.0x",
                backfill.seconds <= backfill.floor_seconds,
            ),
            Target(
                f"+{ADDED_SYMBOL} over {backfill.days} days: files downloaded again",
                f"{backfill.added_downloads}",
                "0",
                backfill.added_downloads == 0,
                size_bound=False,
            ),
            Target(
                f"+{ADDED_SYMBOL} over {backfill.days} days: indices rows parsed",
                f"{backfill.added_rows_read['indices']:,}",
                "0 (a stock)",
                backfill.added_rows_read["indices"] == 0,
                size_bound=False,
            ),
        ]
        report("run.py", targets, args.targets_file, quick=args.quick)
        if args.quick:
            print(
                "(quick run: small files, so speed and memory targets are not judged; "
                "the figures show that every step works)"
            )
    finally:
        s3.stop()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
