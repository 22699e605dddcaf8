"""Every ``market-data`` command end to end, as a separate process against real servers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg
import pytest
from matplotlib.image import imread

from market_data.calendar import day_window, today_in_new_york
from market_data.datasets import DATASETS
from market_data.reports.plots import HeatmapLayout
from market_data.warehouse.db import connect
from market_data.warehouse.schema import apply_schema
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.generate import generate_source
from market_data_local.s3 import seed_bucket

pytestmark = pytest.mark.slow  # every command as a user types it, in subprocesses

WEEK = (date(2025, 11, 24), date(2025, 11, 28))


@pytest.fixture(scope="module")
def cli_env(pg_cluster, s3_endpoint, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    source = tmp_path_factory.mktemp("source")
    generate_source(source, *WEEK)
    seed_bucket(s3_endpoint, "cli-flatfiles", source)
    database_url = pg_cluster.ensure_database("cli_test")
    with connect(database_url) as conn:
        apply_schema(conn)
        add_to_watchlist(conn, "SPX")
        add_to_watchlist(conn, "SPY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MASSIVE_", "DAGSTER_"))}
    env |= {
        "DATABASE_URL": database_url,
        "MASSIVE_S3_ENDPOINT": s3_endpoint,
        "MASSIVE_S3_BUCKET": "cli-flatfiles",
        "MASSIVE_AWS_ACCESS_KEY": "cli",
        "MASSIVE_AWS_SECRET_KEY": "cli-secret",
        "MARKET_DATA_HOME": str(home),
    }
    return {"env": env, "home": home, "url": database_url, "cluster": pg_cluster}


def cli(cli_env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "market_data.cli", *args],
        env=cli_env["env"],
        cwd=cli_env["home"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def symbols_in_table(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT DISTINCT symbol FROM historical_bars")}


def test_download_parse_backfill_verify_cleanup(cli_env):
    home, url = cli_env["home"], cli_env["url"]

    done = cli(
        cli_env, "download", "--dataset", "indices", "--start", "2025-11-24", "--end", "2025-11-26"
    )
    assert done.returncode == 0, done.stderr
    # In a pipe, progress is plain lines: one per day, a summary per step, no escape codes.
    for day in ("2025-11-24", "2025-11-25", "2025-11-26"):  # in the order they finish
        assert re.search(rf"\[[123]/3\] indices day file {day}: ", done.stdout), day
    assert "indices day file: 3/3 days, " in done.stdout and "MB/s" in done.stdout
    assert "\x1b[" not in done.stdout + done.stderr and "━" not in done.stdout
    landed = sorted(p.name for p in (home / "landing").rglob("*.csv.gz"))
    assert landed == ["2025-11-24.csv.gz", "2025-11-25.csv.gz", "2025-11-26.csv.gz"]

    parsed = cli(cli_env, "parse", "--dataset", "indices", "--symbols", "SPX,NDX")
    assert parsed.returncode == 0, parsed.stderr
    assert len(list((home / "bars" / "indices").rglob("*.parquet"))) == 3

    backfill = cli(
        cli_env,
        "backfill",
        "--symbols",
        "SPX,NDX",
        "--startDate",
        "2025-11-24",
        "--endDate",
        "2025-11-28",
    )
    assert backfill.returncode == 0, backfill.stderr
    assert symbols_in_table(url) == {"SPX", "NDX"}

    watch = cli(cli_env, "backfill-watchlist", "--start", "2025-11-24", "--end", "2025-11-28")
    assert watch.returncode == 0, watch.stderr
    assert symbols_in_table(url) == {"SPX", "NDX", "SPY"}

    verify = cli(cli_env, "verify", "--days", "4")
    assert verify.returncode == 0, verify.stderr
    assert "SPX" in verify.stdout and "210/210" in verify.stdout

    # A missing hour is a warning; a mostly missing day an error with a non-zero exit.
    day = day_window(date(2025, 11, 25))
    with psycopg.connect(url, autocommit=True) as conn:
        hour = day.start_ms + 11 * 3_600_000  # 11:00 ET
        conn.execute(
            "DELETE FROM historical_bars WHERE symbol = 'SPX' AND timestamp >= %s"
            " AND timestamp < %s",
            (hour, hour + 3_600_000),
        )
    warn = cli(cli_env, "verify", "--days", "4")
    assert warn.returncode == 0
    assert "WARN SPX 2025-11-25: 60 of 390 minutes missing (11:00-11:59)" in warn.stdout
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM historical_bars WHERE symbol = 'SPX' AND timestamp >= %s"
            " AND timestamp < %s",
            (hour, hour + 4 * 3_600_000),
        )
    png = home / "plots" / "coverage.png"
    error = cli(cli_env, "verify", "--days", "4", "--plot", str(png))
    assert error.returncode == 1 and "ERROR SPX 2025-11-25" in error.stdout
    assert f"coverage heatmap (NDX, SPX, SPY by 2025-11-24 … 2025-11-28): {png}" in error.stdout
    # 3 symbols by the 5 calendar days from the first to the last session shown.
    layout = HeatmapLayout.for_grid(3, 5)
    assert imread(png).shape[:2] == (layout.height, layout.width)

    keep = (today_in_new_york() - date(2025, 11, 26)).days  # cut-off: 2025-11-26
    cleanup = cli(cli_env, "cleanup", "--days", str(keep))
    assert cleanup.returncode == 0, cleanup.stderr
    with psycopg.connect(url) as conn:
        oldest = conn.execute("SELECT min(timestamp) FROM historical_bars").fetchone()[0]
        kept = conn.execute(
            "SELECT count(*) FROM historical_bars WHERE timestamp >= %s",
            (day_window(date(2025, 11, 26)).start_ms,),
        ).fetchone()[0]
    assert oldest >= day_window(date(2025, 11, 26)).start_ms and kept > 0
    assert not list((home / "landing").rglob("2025-11-24.csv.gz"))

    # Every command above ran through Dagster and is in the instance's history.
    dagster_url = cli_env["cluster"].url("dagster")
    with psycopg.connect(dagster_url) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] >= 5


def test_bad_input_is_one_clear_line(cli_env):
    bad_symbol = cli(cli_env, "backfill", "--symbols", "SP;X", "--days", "3")
    assert bad_symbol.returncode == 2 and "invalid symbol 'SP;X'" in bad_symbol.stderr
    bad_days = cli(cli_env, "backfill", "--symbols", "SPX", "--days", "abc")
    assert bad_days.returncode == 2
    assert "argument --days: expected a whole number, got 'abc'" in bad_days.stderr
    reversed_days = cli(
        cli_env, "backfill", "--symbols", "SPX", "--start", "2025-11-28", "--end", "2025-11-24"
    )
    assert reversed_days.returncode == 1
    assert reversed_days.stderr.strip().splitlines()[-1] == (
        "market-data backfill: --start 2025-11-28 is after --end 2025-11-24"
    )
    unwritable = dict(cli_env, env=dict(cli_env["env"], MARKET_DATA_HOME="/proc/market-data"))
    home = cli(unwritable, "download", "--days", "1")
    assert home.returncode == 1
    assert "MARKET_DATA_HOME /proc/market-data is not a writable folder" in home.stderr
    future = cli(cli_env, "download", "--start", "2099-01-01", "--end", "2099-01-02")
    assert future.returncode == 1 and "in the future" in future.stderr
    # A session day whose files are not in the bucket: the run fails and says why.
    missing = cli(
        cli_env, "backfill", "--symbols", "SPX", "--start", "2025-12-01", "--end", "2025-12-01"
    )
    assert missing.returncode == 1
    assert (
        "indices_day_file: market_data.transform.landing.FileNotPublished: indices 2025-12-01"
        in (missing.stderr)
    )


def test_help_explains_each_option(cli_env):
    overview = cli(cli_env, "--help")
    assert overview.returncode == 0
    assert "``" not in overview.stdout and "existing deployments" not in overview.stdout
    for command in ("download", "parse", "backfill", "backfill-watchlist", "verify", "cleanup"):
        result = cli(cli_env, command, "--help")
        assert result.returncode == 0
        assert "--days" in result.stdout or command == "download"


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_download_lands_each_named_dataset_watched_or_not(cli_env, dataset):
    # The watchlist has no options; asked for by name, their files land all the same.
    result = cli(
        cli_env, "download", "--dataset", dataset, "--start", "2025-11-28", "--end", "2025-11-28"
    )
    assert result.returncode == 0, result.stderr
    assert (Path(cli_env["home"]) / "landing" / DATASETS[dataset].key(date(2025, 11, 28))).exists()


def test_a_crypto_pair_is_backfilled_over_its_utc_day(cli_env, s3_endpoint, tmp_path):
    import shutil

    from market_data.datasets import UTC_DATASETS

    source = tmp_path / "crypto"
    key = UTC_DATASETS["crypto"].key(date(2025, 1, 1))
    (source / key).parent.mkdir(parents=True)
    samples = Path(__file__).parent / "data" / "massive-samples"
    shutil.copyfile(samples / "crypto_2025-01-01.csv.gz", source / key)
    seed_bucket(s3_endpoint, "cli-flatfiles", source)
    done = cli(
        cli_env,
        "backfill",
        "--symbols",
        "X:BTC-USD",
        "--start",
        "2025-01-01",
        "--end",
        "2025-01-01",
    )
    assert done.returncode == 0, done.stderr
    with psycopg.connect(cli_env["url"]) as conn:
        count = conn.execute(
            "SELECT count(*) FROM historical_bars WHERE symbol = 'X:BTCUSD' AND dataset = 'crypto'"
        ).fetchone()
    assert count == (1440,)
