"""``market-data ui`` stopped by each signal a person or a supervisor sends: its terminal
shows the URL, the log's path and nothing alarming, and nothing is left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from market_data.ui import port_is_taken
from market_data_tests.conftest import free_port

pytestmark = [pytest.mark.ui, pytest.mark.slow]

SIGNALS = {
    "Ctrl-C to its process group": lambda p: os.killpg(p.pid, signal.SIGINT),
    "SIGINT to its pid": lambda p: p.send_signal(signal.SIGINT),
    "SIGTERM to its pid": lambda p: p.send_signal(signal.SIGTERM),
}


@pytest.mark.parametrize("how", list(SIGNALS))
def test_each_signal_stops_everything_quietly(how, pg_cluster, s3_endpoint, tmp_path):
    port, name = free_port(), f"ui_signals_{abs(hash(how)) % 10**6}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MASSIVE_", "DAGSTER_"))}
    env |= {
        "DATABASE_URL": pg_cluster.ensure_database(name),
        "DAGSTER_PG_URL": pg_cluster.ensure_database(f"{name}_dagster"),
        "MASSIVE_S3_ENDPOINT": s3_endpoint,
        "MASSIVE_AWS_ACCESS_KEY": "ui",
        "MASSIVE_AWS_SECRET_KEY": "ui-secret",
        "MARKET_DATA_HOME": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "market_data.cli", "ui", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    try:
        lines, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline and not any(
            line.startswith("Dagster's log") for line in lines
        ):
            line = process.stdout.readline()
            assert line or process.poll() is None, "".join(lines)
            lines.append(line)
        time.sleep(5)  # the daemon's first ticks
        SIGNALS[how](process)
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    shown = "".join(lines) + rest
    assert process.returncode == 0, shown
    assert lines[0].startswith(f"Dagster UI: http://127.0.0.1:{port}")
    for alarming in ("ERROR", "Warning", "RUN_FAILURE", "Traceback", "Unreachable"):
        assert alarming not in shown, shown
    assert not port_is_taken("127.0.0.1", port)
    assert processes_of(tmp_path) == []


def processes_of(home) -> list[str]:
    """The command lines of the processes started with ``MARKET_DATA_HOME=home``."""
    marker = f"MARKET_DATA_HOME={home}".encode()
    found = []
    for proc in os.listdir("/proc"):
        if not proc.isdigit():
            continue
        try:
            with open(f"/proc/{proc}/environ", "rb") as environ:
                if marker not in environ.read().split(b"\0"):
                    continue
            with open(f"/proc/{proc}/cmdline", "rb") as cmdline:
                found.append(cmdline.read().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found
