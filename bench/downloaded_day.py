"""A day that must be downloaded, as a user runs it, next to its floors measured in the same run.

    .venv/bin/python -W ignore bench/downloaded_day.py               # three real-size days
    .venv/bin/python -W ignore bench/downloaded_day.py --profile DIR # and py-spy's stacks of each day's run

Nothing is landed beforehand: each of three session days (indices and stocks files at real
size, the backfill's ten symbols among thousands of filler tickers) is one ``dagster asset
materialize --select '*historical_bars' --partition D`` against the embedded servers, a
fresh landing area. The data work of a day is its run's steps minus those of an empty day's
run (a weekend: the same steps, no file). Next to it, in the same run:

- decompression floor: ISA-L decompressing the same files from memory, one core, bytes dropped;
- transfer floor: the local S3 server serving the same objects to a client that drops them;
- a naive whole-file loader: pyarrow's CSV reader over the gzip bytes in memory, then a
  filter to the watchlist.

The run's metadata says where each day's time went (HEAD, GET, write, decompression, scan,
Parquet, COPY, checks, and what is left: Dagster's own events). The same days are then run
again with their files landed (only the HEAD request, then the parse reads the landed file).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.backfill import (  # noqa: E402
    SINGLE_PUT,
    WATCHLIST,
    cached_day_files,
    latest_run,
    profiled,
)
from bench.run import FULL  # noqa: E402
from bench.run_cost import RSS_LIMIT_MIB, clean_env, materialize_command, measured  # noqa: E402
from bench.targets import Target, add_targets_argument, print_table, report  # noqa: E402

DAYS = [date(2025, 11, 21), date(2025, 11, 24), date(2025, 11, 25)]
EMPTY_DAY = date(2025, 11, 22)  # a Saturday: every step runs, no file, no session
FLOOR_LIMIT = 1.5  # data work, times the larger floor
NAIVE_FACTOR = 2.5  # the naive loader takes at least this many times the data work
LATER_PHASES = ("parse", "parquet", "copy", "charts", "checks")
# Phases of the run's metadata, per asset kind, as the table names them.
DAY_FILE_PHASES = ("head", "get", "write", "wait", "decompress", "scan", "save_lines")


def best(measure: Callable[[], float], n: int = 3) -> float:
    return min(measure() for _ in range(n))


def isal_seconds(blobs: list[bytes]) -> float:
    """ISA-L decompressing the files from memory on one core, nothing kept."""
    from isal import igzip

    buffer = bytearray(1 << 23)
    started = time.perf_counter()
    for blob in blobs:
        with igzip.IGzipFile(fileobj=io.BytesIO(blob), mode="rb") as stream:  # type: ignore[no-untyped-call]
            while stream.readinto(buffer):
                pass
    return time.perf_counter() - started


def transfer_seconds(client, bucket: str, keys: list[str]) -> float:
    """The local S3 server serving the objects to a client that drops the bytes."""
    started = time.perf_counter()
    for key in keys:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        while body.read(1 << 20):
            pass
    return time.perf_counter() - started


def naive_seconds(blobs: list[bytes], symbols: set[str]) -> float:
    """A whole file at a time into pyarrow, then the watchlist's rows."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    keep = pa.array(sorted(symbols))
    started = time.perf_counter()
    for blob in blobs:
        stream = pa.input_stream(pa.BufferReader(blob), compression="gzip")
        table = pa_csv.read_csv(
            stream, convert_options=pa_csv.ConvertOptions(column_types={"ticker": pa.string()})
        )
        table.filter(pc.is_in(table["ticker"], value_set=keep))
        del table
    return time.perf_counter() - started


def step_seconds(steps: dict[str, float]) -> float:
    return sum(steps.values())


def phases_of(record) -> dict[str, float]:
    """Seconds per phase of a day's run, from its materializations' metadata."""
    phases = dict.fromkeys(DAY_FILE_PHASES, 0.0) | {
        "parse": 0.0,
        "parquet": 0.0,
        "copy": 0.0,
        "charts": 0.0,
    }
    for asset, metadata in record.metadata.items():
        if asset.endswith("_day_file"):
            for phase in DAY_FILE_PHASES:
                phases[phase] += float(metadata.get(f"seconds_{phase}", 0.0))
        elif asset.endswith("_bars") and asset != "historical_bars":
            phases["parse"] += float(metadata.get("seconds", 0.0))
            phases["parquet"] += float(metadata.get("seconds_parquet", 0.0))
        elif asset == "historical_bars":
            phases["copy"] += float(metadata.get("seconds", 0.0))
            phases["charts"] += float(metadata.get("seconds_charts", 0.0))
    phases["checks"] = sum(s for key, s in record.steps.items() if "check" in key)
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, help="py-spy's collapsed stacks of each run here")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy command for --profile")
    parser.add_argument(
        "--code",
        type=Path,
        default=REPO,
        help="run the pipeline from this copy of the code (a before/after comparison)",
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs of each day, the fastest kept")
    add_targets_argument(parser)
    args = parser.parse_args()

    import boto3
    from botocore.config import Config

    from market_data import settings
    from market_data_local.embedded import start_embedded, stop_embedded
    from market_data_local.s3 import LOCAL_CREDENTIALS

    files = cached_day_files(DAYS, FULL)
    home = Path(tempfile.mkdtemp(prefix="market-data-downloaded-day-"))
    home.chmod(0o755)  # as root, the embedded cluster runs as `postgres`, which must reach it
    env = clean_env(home)
    # This checkout's code (or --code's) in the runs, whatever the install points at.
    env["PYTHONPATH"] = str(args.code.resolve())
    os.environ.pop("DAGSTER_HOME", None)
    os.environ["MARKET_DATA_HOME"] = str(home)
    try:
        print("starting the embedded servers ...", flush=True)
        servers = start_embedded(home)
        assert servers.database_url and servers.s3_endpoint
        bucket = settings.massive_s3_bucket()
        client = boto3.client(
            "s3",
            endpoint_url=servers.s3_endpoint,
            region_name="us-east-1",
            config=Config(signature_version="s3v4"),
            **LOCAL_CREDENTIALS,
        )
        for key, path in files:
            client.upload_file(str(path), bucket, key, Config=SINGLE_PUT)
        from market_data.defs.resources import direct_warehouse
        from market_data.warehouse.watchlist import add_to_watchlist

        with direct_warehouse().connection() as conn:
            conn.execute("DELETE FROM watchlist")
            for symbol in (s for symbols in WATCHLIST.values() for s in symbols):
                add_to_watchlist(conn, symbol, include_options=False)
        from market_data.instance import prepare_dagster_home

        env["DAGSTER_HOME"] = str(prepare_dagster_home())

        def materialize(day: date, tag: str) -> tuple[float, float, object]:
            command = materialize_command(day)
            if args.code.resolve() != REPO:  # dagster puts its working directory first
                command = ["env", f"--chdir={args.code.resolve()}", *command]
            if args.profile:
                out = args.profile / f"{day}-{tag}.txt"
                command = profiled(command, out, rate=200, py_spy=args.py_spy)
            wall, rss = measured(command, env, home / f"materialize-{day}-{tag}.log")
            return wall, rss, latest_run(env)

        empty = [materialize(EMPTY_DAY, f"empty{i}") for i in range(args.repeat + 1)]
        empty_wall = min(w for w, _, _ in empty)
        empty_steps = min(step_seconds(r.steps) for _, _, r in empty)

        def fastest(runs: list) -> tuple:
            return min(runs, key=lambda run: step_seconds(run[2].steps))

        downloaded, landed = [], []
        for day in DAYS:  # each day's fastest of --repeat runs, nothing landed, then landed
            runs, again = [], []
            for i in range(args.repeat):
                for key, _ in files:  # nothing landed: the files of every day gone
                    for path in (home / "landing").glob(key + "*"):
                        path.unlink()
                runs.append(materialize(day, f"downloaded{i}"))
                again.append(materialize(day, f"landed{i}"))
            downloaded.append((day, *fastest(runs)))
            landed.append((day, *fastest(again)))

        # The floors, in the same run, of the same bytes.
        blobs = [path.read_bytes() for _, path in files]
        keys = [key for key, _ in files]
        decompress_floor = best(lambda: isal_seconds(blobs))
        transfer_floor = best(lambda: transfer_seconds(client, bucket, keys))
        symbols = {s for symbols in WATCHLIST.values() for s in symbols}
        naive = naive_seconds(blobs, symbols)
        floor = max(decompress_floor, transfer_floor)

        def data_work(runs) -> float:
            return sum(step_seconds(r.steps) - empty_steps for _, _, _, r in runs)

        work = data_work(downloaded)
        work_landed = data_work(landed)
        size = sum(len(b) for b in blobs) / 1e6
        print(
            f"\n{len(DAYS)} real-size days (indices + stocks, {size:,.0f} MB gz), "
            f"10 symbols; an empty day's run: {empty_wall:.1f} s wall, {empty_steps:.2f} s of steps"
        )
        rows = []
        quickest_empty = min(empty, key=lambda run: step_seconds(run[2].steps))
        for label, runs in (
            ("no session, no file", [(EMPTY_DAY, *quickest_empty)]),
            ("nothing landed", downloaded),
            ("files landed", landed),
        ):
            for day, wall, rss, record in runs:
                phases = phases_of(record)
                steps = step_seconds(record.steps)
                # get and write run in the download's own thread, beside the scan (wait)
                known = sum(v for p, v in phases.items() if p not in ("get", "write"))
                rows.append(
                    (
                        f"{day} ({label})",
                        f"{wall:.1f}",
                        f"{steps - empty_steps:.2f}",
                        *(f"{phases[p]:.2f}" for p in (*DAY_FILE_PHASES, *LATER_PHASES)),
                        f"{steps - known:.2f}",
                        f"{rss:,.0f}",
                    )
                )
        print_table(
            (
                "day",
                "wall s",
                "data work s",
                *DAY_FILE_PHASES,
                *LATER_PHASES,
                "dagster",
                "RSS MiB",
            ),
            rows,
        )
        print(
            "\n(data work: the run's steps minus the empty day's; head … save_lines: the "
            "download steps (get and write in the download's thread, wait: the scan waiting "
            "for bytes), decompress = reading the stream less that wait; "
            "dagster: the steps' time in none of the phases, its events and the steps' setup)"
        )
        print_table(
            ("the same bytes, same run", "seconds", "data work / it"),
            [
                ("data work, nothing landed", f"{work:.2f}", "1.00x"),
                ("data work, files landed", f"{work_landed:.2f}", f"{work_landed / work:.2f}x"),
                (
                    "ISA-L decompression, one core, from memory",
                    f"{decompress_floor:.2f}",
                    f"{work / decompress_floor:.2f}x",
                ),
                (
                    "S3 server to a client dropping the bytes",
                    f"{transfer_floor:.2f}",
                    f"{work / transfer_floor:.2f}x",
                ),
                (
                    "naive whole-file pyarrow loader, from memory",
                    f"{naive:.2f}",
                    f"{work / naive:.2f}x",
                ),
            ],
        )
        peak = max(rss for _, _, rss, _ in downloaded + landed)
        targets = [
            Target(
                "a downloaded day (nothing landed before): data work / the larger floor",
                f"{work / floor:.2f}x ({work:.2f} s vs {floor:.2f} s)",
                f"<= {FLOOR_LIMIT}x",
                work <= FLOOR_LIMIT * floor,
            ),
            Target(
                "a downloaded day (nothing landed before): naive whole-file loader / data work",
                f"{naive / work:.2f}x ({naive:.2f} s vs {work:.2f} s)",
                f">= {NAIVE_FACTOR}x",
                naive >= NAIVE_FACTOR * work,
            ),
            Target(
                "a downloaded day: peak RSS of its run",
                f"{peak:,.0f} MiB",
                f"<= {RSS_LIMIT_MIB} MiB",
                peak <= RSS_LIMIT_MIB,
            ),
        ]
        print(
            f"\nfiles landed before the first pass: no; ISA-L floor {decompress_floor:.2f} s, "
            f"files landed: data work {work_landed / decompress_floor:.2f}x of it"
        )
        report("downloaded_day.py", targets, args.targets_file)
    finally:
        stop_embedded(home)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
