"""mypy and the benchmarks' quick runs, as a developer types them, so that neither rots.

They run here rather than before pytest so that ``make test`` spreads them over its
worker processes with the other suites."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each starts its own processes (servers, a Dagster run)

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

COMMANDS = {
    "mypy": [str(BIN / "mypy")],
    "bench/run.py --quick": [sys.executable, "-W", "ignore", "bench/run.py", "--quick"],
    "bench/options.py --quick": [
        sys.executable,
        *("-W", "ignore", "bench/options.py", "--quick", "--repeat", "1"),
    ],
}


def developer_environment() -> dict[str, str]:
    """The environment without what the test fixtures or a deployment may have set."""
    prefixes = ("MASSIVE_", "DAGSTER_", "MARKET_DATA_", "DATABASE_URL")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_runs_clean(name: str):
    done = subprocess.run(
        COMMANDS[name],
        cwd=REPO,
        env=developer_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
