"""``market-data demo``: the embedded default from nothing, as the README's first command runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from dagster import build_sensor_context

from market_data.defs.resources import PipelineSettingsResource, RestApiResource, WarehouseResource
from market_data.defs.sensors import watchlist_backfill
from market_data_local.demo_source import demo_rest_server
from market_data_local.postgres import EmbeddedPostgres
from market_data_local.s3 import LocalS3Server

pytestmark = pytest.mark.slow  # market-data demo end to end


def test_demo_runs_end_to_end_on_embedded_servers():
    # Not under pytest's tmp dir: as root the embedded server runs as `postgres`.
    home = Path(tempfile.mkdtemp(prefix="market-data-demo-"))
    home.chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MASSIVE_", "DAGSTER_", "DATABASE_URL"))
    }
    env["MARKET_DATA_HOME"] = str(home)
    cluster = EmbeddedPostgres(home / "postgres")
    try:
        demo = subprocess.run(
            [sys.executable, "-m", "market_data.cli", "demo"],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert demo.returncode == 0, demo.stderr[-3000:]
        lines = demo.stdout.splitlines()
        spx = next(line for line in lines if line.startswith("SPX "))
        assert spx.split()[1:3] == ["1m", "9,180"]  # 23 sessions of 390 bars and one of 210
        assert any(line.startswith("SPY options: ") for line in lines)
        # Its last lines: a UI command that works as typed, what still runs, how to stop it.
        typed = next(line for line in lines if line.startswith("Open the UI:")).split()[3]
        assert shutil.which(typed, path=env.get("PATH")) or (home / typed).is_file(), typed
        assert "Still running" in demo.stdout and "PostgreSQL on 127.0.0.1:" in demo.stdout
        assert "market-data stop   (or: make stop)" in demo.stdout
        # The generation of the day files shows progress, in a pipe as plain lines.
        assert "generating the demo's day files (once): " in demo.stdout
        with psycopg.connect(cluster.url("market_data")) as conn:
            sources = conn.execute("SELECT DISTINCT source FROM historical_bars").fetchall()
        assert sources == [("flat_file",)]
        with psycopg.connect(cluster.url("market_data")) as conn:
            # The demo's corporate actions: META's days before 2025-11-14 are FB's rows.
            renamed = conn.execute(
                "SELECT DISTINCT file_ticker FROM historical_bars WHERE symbol = 'META'"
            ).fetchall()
            assert sorted(renamed, key=str) == [("FB",), (None,)]
            assert conn.execute("SELECT count(*) FROM splits").fetchone()[0] == 1
        # …and the adjusted series it prints: NVDA's closes before the split, quartered.
        series = [line.split() for line in lines if line.startswith("2025-11-")]
        stored = {row[0]: float(row[1].replace(",", "")) for row in series}
        adjusted = {row[0]: float(row[2].replace(",", "")) for row in series}
        assert stored["2025-11-07"] == pytest.approx(4 * adjusted["2025-11-07"], rel=1e-3)
        assert stored["2025-11-10"] == adjusted["2025-11-10"]
        with psycopg.connect(cluster.url("dagster")) as conn:
            # corporate_actions_job, then historical_bars_job
            assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
        # The UI's watchlist sensor, on a new Dagster storage, finds the demo's symbols
        # loaded: it starts no backfill (of 90 days and four symbols) behind the user's back.
        with build_sensor_context(
            resources={
                "warehouse": WarehouseResource(database_url=cluster.url("market_data")),
                "rest_api": RestApiResource(),
                "pipeline_settings": PipelineSettingsResource(),
            }
        ) as context:
            assert not watchlist_backfill(context).run_requests
    finally:
        demo_rest_server(home).stop()
        LocalS3Server(home / "s3").stop()
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
