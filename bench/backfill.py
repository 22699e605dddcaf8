"""The backfill benchmark: many days of real-size files into ``historical_bars`` the way users run it.

Day files are generated once into a cache (a file depends only on its day and sizes)
and put into the local S3 server; then ``market-data backfill-watchlist`` loads every
day of the range in one range run (days downloaded and parsed side by side), and
``market-data backfill --symbols`` adds one symbol over the same days, which must take
the landed files as they are and parse only the datasets that symbol is in.

The backfill's floor is measured in the same run: the time ISA-L takes to decompress the
same files on one core (read from the page cache, nothing else done with the bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

from boto3.s3.transfer import TransferConfig
from isal import igzip

from market_data import settings
from market_data.datasets import DATASETS
from market_data_local.generate import GeneratorSizes, generate_day_file, has_file

REPO = Path(__file__).resolve().parents[1]
CACHE = settings.bench_cache()
# One PUT per file: moto assembles multipart uploads slowly and the files are < 5 GB.
SINGLE_PUT = TransferConfig(multipart_threshold=5 * 1024**3)

WATCHLIST = {
    "indices": ("SPX", "NDX", "RUT", "VIX", "DJI"),
    "stocks": ("SPY", "QQQ", "AAPL", "MSFT", "NVDA"),
}
ADDED_SYMBOL = "IWM"  # a stock: the indices files must not be opened for it


@dataclass(frozen=True)
class BackfillFigures:
    days: int
    files: int
    bytes: int
    seconds: float
    floor_seconds: float  # ISA-L decompressing the same files on one core
    # CPU seconds during the backfill: the market-data command (with the processes it
    # waited for), the S3 server, PostgreSQL (its postmaster and the backends it reaped)
    cpu_seconds: dict[str, float]
    rows: int
    added_seconds: float
    added_downloads: int
    added_rows: int
    added_rows_read: dict[str, int]


def range_days(last: date, count: int) -> list[date]:
    return [last - timedelta(days=count - 1 - i) for i in range(count)]


def cache_folder(sizes: GeneratorSizes) -> Path:
    """Where the generated files of these sizes are kept (a file depends on its day and sizes)."""
    return CACHE / hashlib.sha1(repr(asdict(sizes)).encode()).hexdigest()[:12]


def cached_day_files(days: list[date], sizes: GeneratorSizes) -> list[tuple[str, Path]]:
    """(key, path) of every indices and stocks file of ``days``, generated where missing."""
    folder = cache_folder(sizes)
    wanted = [
        (DATASETS[name], day) for day in days for name in WATCHLIST if has_file(DATASETS[name], day)
    ]
    files = [(d.key(day), folder / d.key(day)) for d, day in wanted]
    missing = [
        (d, day, path)
        for (d, day), (_, path) in zip(wanted, files, strict=True)
        if not path.exists()
    ]
    if missing:
        print(
            f"  generating {len(missing)} day files into {folder} (once; later runs reuse them)",
            flush=True,
        )
        started = time.perf_counter()
        for i, (dataset, day, path) in enumerate(missing, start=1):
            generate_day_file(dataset, day, path, sizes)
            if i % 20 == 0 or i == len(missing):
                print(f"    {i}/{len(missing)} ({time.perf_counter() - started:.0f}s)", flush=True)
    return files


def isal_decompress_seconds(paths: list[Path]) -> float:
    """The backfill's floor: every file decompressed by ISA-L on one core, bytes discarded."""
    for path in paths:  # into the page cache first, as the downloads leave them
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass
    buffer = bytearray(1 << 23)
    started = time.perf_counter()
    for path in paths:
        with igzip.open(path, "rb") as stream:
            while stream.readinto(buffer):
                pass
    return time.perf_counter() - started


def seed(client, bucket: str, files: list[tuple[str, Path]]) -> None:
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda f: client.upload_file(str(f[1]), bucket, f[0], Config=SINGLE_PUT), files
            )
        )
    size = sum(p.stat().st_size for _, p in files)
    print(
        f"  {len(files)} files ({size / 1e9:.2f} GB) into the S3 server in "
        f"{time.perf_counter() - started:.0f}s",
        flush=True,
    )


def process_cpu_seconds(pid: int, with_children: bool = False) -> float:
    """User + system CPU seconds of a running process (``/proc``), its reaped children's too."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def profiled(command: list[str], out: Path, rate: int = 100, py_spy: str = "py-spy") -> list[str]:
    """``command`` under py-spy, its stacks (raw format, every thread) recorded to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return [py_spy, "record", "-r", str(rate), "-f", "raw", "-o", str(out), "--", *command]


def market_data_cli(env: dict[str, str], *args: str, profile: Path | None = None) -> float:
    """Run ``market-data`` as a user would; its log goes to a file beside the work. With
    ``profile``, py-spy records the command's stacks there (raw format, every thread)."""
    log = Path(env["MARKET_DATA_HOME"]) / f"{args[0]}.log"
    command = [sys.executable, "-m", "market_data.cli", *args]
    if profile is not None:
        command = profiled(command, profile)
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(
            command,
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    seconds = time.perf_counter() - started
    if done.returncode:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise RuntimeError(f"market-data {' '.join(args)} failed; log {log}:\n{tail}")
    return seconds


@dataclass(frozen=True)
class RunRecord:
    metadata: dict[str, dict[str, object]]  # per asset, its materialization metadata
    steps: dict[str, float]  # seconds per step, start to success


def latest_run(env: dict[str, str]) -> RunRecord:
    """The newest run's metadata per asset and its step durations, from the Dagster instance."""
    code = """
import json
from dagster import DagsterEventType
from market_data.instance import get_instance
instance = get_instance()
run = instance.get_runs(limit=1)[0]
metadata, started, steps = {}, {}, {}
for record in instance.all_logs(run.run_id):
    event = record.dagster_event
    if event is None:
        continue
    if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
        m = event.event_specific_data.materialization
        metadata.setdefault(m.asset_key.to_user_string(), {
            k: v.value for k, v in m.metadata.items() if isinstance(v.value, (int, float, str))})
    elif event.event_type == DagsterEventType.STEP_START:
        started[event.step_key] = record.timestamp
    elif event.event_type == DagsterEventType.STEP_SUCCESS:
        steps[event.step_key] = record.timestamp - started[event.step_key]
print(json.dumps({"metadata": metadata, "steps": steps}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    return RunRecord(**json.loads(done.stdout.strip().splitlines()[-1]))


def rows_read(record: RunRecord, asset: str) -> int:
    """Rows a bars asset read in the run: 0 when it skipped its dataset, an error if unknown."""
    metadata = record.metadata.get(asset)
    if metadata is None or not ("rows_read" in metadata or "skipped" in metadata):
        raise RuntimeError(f"the run recorded no rows_read for {asset}: {metadata}")
    return int(metadata.get("rows_read", 0))


def print_steps(label: str, record: RunRecord) -> None:
    steps = ", ".join(
        f"{key} {seconds:.1f}s" for key, seconds in record.steps.items() if seconds >= 0.05
    )
    print(f"    {label} steps: {steps}", flush=True)


def run_backfill(
    client,
    bucket: str,
    s3_endpoint: str,
    url: str,
    work: Path,
    last: date,
    count: int,
    sizes: GeneratorSizes,
    s3_pid: int,
    postgres_pid: int,
    profile: Path | None = None,
) -> BackfillFigures:
    from market_data.warehouse.db import connect
    from market_data.warehouse.schema import apply_schema
    from market_data.warehouse.watchlist import add_to_watchlist

    days = range_days(last, count)
    files = cached_day_files(days, sizes)
    seed(client, bucket, files)
    with connect(url) as conn:
        apply_schema(conn)
        conn.execute("TRUNCATE historical_bars")
        conn.execute("DELETE FROM watchlist")
        for symbol in (s for symbols in WATCHLIST.values() for s in symbols):
            add_to_watchlist(conn, symbol, include_options=False)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MASSIVE_S3_ENDPOINT": s3_endpoint,
        "MASSIVE_S3_BUCKET": bucket,
        "MASSIVE_AWS_ACCESS_KEY": "local",
        "MASSIVE_AWS_SECRET_KEY": "local",
        "MARKET_DATA_HOME": str(work / "backfill-home"),
    }
    env.pop("DAGSTER_HOME", None)
    env.pop("MASSIVE_API_KEY", None)
    Path(env["MARKET_DATA_HOME"]).mkdir(parents=True, exist_ok=True)
    span = ("--start", days[0].isoformat(), "--end", days[-1].isoformat())

    # A deployment's Dagster storage exists already; creating it is not part of a backfill.
    subprocess.run(
        [sys.executable, "-c", "from market_data.instance import get_instance; get_instance()"],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    print(
        f"  backfill-watchlist, {count} days x {sum(map(len, WATCHLIST.values()))} symbols "
        "(files landed before: no, a fresh landing area) ...",
        flush=True,
    )
    servers = {"S3 server": s3_pid, "PostgreSQL": postgres_pid}
    cpu_before = {name: process_cpu_seconds(pid, True) for name, pid in servers.items()}
    cli_before = children_cpu_seconds()
    seconds = market_data_cli(
        env, "backfill-watchlist", *span, profile=profile / "backfill.txt" if profile else None
    )
    cpu_seconds = {"market-data": children_cpu_seconds() - cli_before} | {
        name: process_cpu_seconds(pid, True) - cpu_before[name] for name, pid in servers.items()
    }
    print_steps("backfill-watchlist", latest_run(env))
    with connect(url) as conn:
        rows = conn.execute("SELECT count(*) FROM historical_bars").fetchone()[0]
    floor_seconds = isal_decompress_seconds([path for _, path in files])
    print(
        f"    floor: ISA-L decompresses the {len(files)} files on one core in "
        f"{floor_seconds:.1f}s; the backfill took {seconds / floor_seconds:.2f}x that",
        flush=True,
    )
    cores = len(os.sched_getaffinity(0))
    print(
        "    CPU during the backfill: "
        + ", ".join(f"{name} {cpu:.1f}s" for name, cpu in cpu_seconds.items())
        + f"; {sum(cpu_seconds.values()) / floor_seconds:.2f}x the floor in all, so at least "
        f"{sum(cpu_seconds.values()) / cores / floor_seconds:.2f}x of it in wall time on "
        f"{cores} cores",
        flush=True,
    )

    landing = Path(env["MARKET_DATA_HOME"]) / "landing"
    before = {p: p.stat().st_mtime_ns for p in landing.rglob("*.csv.gz")}
    with connect(url) as conn:
        add_to_watchlist(conn, ADDED_SYMBOL, include_options=False)
    print(
        f"  backfill --symbols {ADDED_SYMBOL} over the same days "
        "(files landed before: yes, by the backfill above) ...",
        flush=True,
    )
    added_seconds = market_data_cli(env, "backfill", "--symbols", ADDED_SYMBOL, *span)
    after = {p: p.stat().st_mtime_ns for p in landing.rglob("*.csv.gz")}
    added = latest_run(env)
    print_steps(f"backfill --symbols {ADDED_SYMBOL}", added)
    with connect(url) as conn:
        added_rows = conn.execute(
            "SELECT count(*) FROM historical_bars WHERE symbol = %s", (ADDED_SYMBOL,)
        ).fetchone()[0]
    return BackfillFigures(
        days=count,
        files=len(files),
        bytes=sum(p.stat().st_size for _, p in files),
        seconds=seconds,
        floor_seconds=floor_seconds,
        cpu_seconds=cpu_seconds,
        rows=rows,
        added_seconds=added_seconds,
        added_downloads=sum(after.get(p) != m for p, m in before.items())
        + len(after.keys() - before.keys()),
        added_rows=added_rows,
        added_rows_read={name: rows_read(added, f"{name}_bars") for name in DATASETS},
    )
