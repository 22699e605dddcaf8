"""A deployment installs the product alone (``pip install .``, no ``local`` extra): no moto,
no stand-ins needed, and ``market-data bars`` reads a configured database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, time
from pathlib import Path

import pytest

from market_data_tests.read.stored_minutes import write_minutes

pytestmark = pytest.mark.slow  # a fresh virtualenv, pip install .

REPO = Path(__file__).resolve().parents[1]
DAY = date(2025, 11, 19)


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory) -> Path:
    """A fresh virtualenv with ``pip install <a copy of the checkout>`` (the copy keeps the
    build's files out of the working tree)."""
    root = tmp_path_factory.mktemp("plain-install")
    source = root / "source"
    tracked = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in tracked:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(source),
        ],
        check=True,
        timeout=900,
    )
    return venv


def run(venv: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MARKET_DATA", "MASSIVE", "DATABASE_URL", "DAGSTER"))
    }
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean | env,
    )


def test_a_plain_install_has_no_stand_ins_dependencies(plain_venv):
    probe = "import importlib.util as u; print(u.find_spec('moto') is None)"
    assert run(plain_venv, "python", "-c", probe, env={}).stdout.strip() == "True"


def test_a_plain_install_reads_bars_and_applies_its_schema(plain_venv, db, database_url, tmp_path):
    write_minutes(
        db, "SPY", [DAY], dataset="stocks", hours=(time(9, 30), time(9, 35)), keep_share=1.0
    )
    env = {"DATABASE_URL": database_url, "MARKET_DATA_HOME": str(tmp_path)}
    read = run(
        plain_venv,
        "market-data",
        "bars",
        "--symbols",
        "SPY",
        "--start",
        str(DAY),
        "--end",
        str(DAY),
        env=env,
    )
    assert read.returncode == 0, read.stderr
    lines = read.stdout.splitlines()
    assert lines[0] == "symbol,timestamp,open,high,low,close,volume,transactions"
    assert len(lines) == 6 and lines[1].startswith("SPY,2025-11-19T09:30:00-05:00,")
    # The migrations travel with the install: a fresh database gets every table.
    db.execute("DROP TABLE historical_bars CASCADE")
    db.execute("DELETE FROM schema_migrations")
    apply = "from market_data.warehouse.schema import apply_schema; from market_data.warehouse.db import connect; import os; print(len(apply_schema(connect(os.environ['DATABASE_URL']))))"
    applied = run(plain_venv, "python", "-c", apply, env=env)
    assert applied.returncode == 0, applied.stderr
    assert int(applied.stdout) == len(list((REPO / "sql").glob("*.sql")))


def test_without_a_database_a_plain_install_says_what_to_set_or_install(plain_venv, tmp_path):
    read = run(
        plain_venv,
        "market-data",
        "bars",
        "--symbols",
        "SPY",
        "--start",
        str(DAY),
        "--end",
        str(DAY),
        env={"MARKET_DATA_HOME": str(tmp_path)},
    )
    assert read.returncode != 0
    assert "not set: DATABASE_URL" in read.stderr and "market-data[local]" in read.stderr
