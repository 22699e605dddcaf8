"""``market-data ui``: the Dagster webserver and daemon on the project's workspace and instance."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from market_data.instance import REPO_ROOT, prepare_dagster_home


def port_is_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0


def serve(host: str, port: int) -> int:
    """Run both until Ctrl-C (or until one of them exits), then stop both."""
    if port_is_taken(host, port):
        print(f"market-data ui: port {port} on {host} is taken; choose another with --port",
              file=sys.stderr)  # fmt: skip
        return 1
    prepare_dagster_home()
    workspace = str(REPO_ROOT / "workspace.yaml")
    bindir = Path(sys.executable).parent
    commands = [
        [str(bindir / "dagster-webserver"), "-w", workspace, "-h", host, "-p", str(port)],
        [str(bindir / "dagster-daemon"), "run", "-w", workspace],
    ]
    # Own sessions and default signal handling, so SIGTERM stops them (platform-notes).
    processes = [
        subprocess.Popen(c, cwd=REPO_ROOT, env=os.environ.copy(), start_new_session=True)
        for c in commands
    ]
    print(f"Dagster UI: http://{host}:{port}   (Ctrl-C stops the webserver and the daemon)")
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("market-data ui: a Dagster process exited; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
