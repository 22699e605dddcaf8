"""``market-data demo``: the embedded default from nothing, as the README's first command runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from market_data.local.postgres import EmbeddedPostgres
from market_data.local.s3 import LocalS3Server


def test_demo_runs_end_to_end_on_embedded_servers():
    # Not under pytest's tmp dir: as root the embedded server runs as `postgres`.
    home = Path(tempfile.mkdtemp(prefix="market-data-demo-"))
    home.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MASSIVE_", "DAGSTER_", "DATABASE_URL"))}  # fmt: skip
    env["MARKET_DATA_HOME"] = str(home)
    cluster = EmbeddedPostgres(home / "postgres")
    try:
        demo = subprocess.run(
            [sys.executable, "-m", "market_data.cli", "demo"],
            env=env, cwd=home, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert demo.returncode == 0, demo.stderr[-3000:]
        lines = demo.stdout.splitlines()
        spx = next(line for line in lines if line.startswith("SPX "))
        assert spx.split()[1:3] == ["1m", "9,180"]  # 23 sessions of 390 bars and one of 210
        assert any(line.startswith("SPY options: ") for line in lines)
        assert "market-data ui" in demo.stdout
        with psycopg.connect(cluster.url("market_data")) as conn:
            sources = conn.execute("SELECT DISTINCT source FROM historical_bars").fetchall()
        assert sources == [("flat_file",)]
        with psycopg.connect(cluster.url("dagster")) as conn:
            assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    finally:
        LocalS3Server(home / "s3").stop()
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
