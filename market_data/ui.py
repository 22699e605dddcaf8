"""``market-data ui``: Dagster's webserver and daemon on the project's instance.

One long-lived code server serves the definitions to both (a ``grpc_server``
workspace): with a plain module workspace the daemon would start a new code server
every minute. All three run in their own sessions, so a signal to ``market-data ui``
(Ctrl-C, SIGINT or SIGTERM to its pid or its process group) reaches it alone, and it
stops them one after the other: the daemon first (it ticks sensors against the code
server), then the webserver, the code server last.

Their output (Dagster's warnings, ticks and every run's DEBUG events) goes to
``MARKET_DATA_HOME/logs/ui.log``; the terminal shows the URL, the log's path and the
errors (``UiLogFilter``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from market_data import settings
from market_data.errors import LocalServerError
from market_data.instance import REPO_ROOT, prepare_dagster_home

READY_TIMEOUT_SECONDS = 120


class UiError(LocalServerError):
    """The webserver or daemon could not be started."""


# Dagster's log lines: "2026-11-28 10:00:00 -0500 - dagster.daemon - ERROR - message".
LOG_LINE = re.compile(r" - (?P<level>WARNING|ERROR|CRITICAL) - (?P<message>.*)$")
COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # Dagster colours its level names


class UiLogFilter:
    """Which lines of the Dagster processes' log reach the terminal: errors only. Warnings
    (Dagster's API previews, a sensor's first tick without a cursor) stay in the log."""

    def __call__(self, line: str) -> str | None:
        match = LOG_LINE.search(COLOUR.sub("", line))
        if match is None or match["level"] not in ("ERROR", "CRITICAL"):
            return None
        return f"{match['level']}: {match['message'].strip()}"


def log_path() -> Path:
    return settings.home() / "logs" / "ui.log"


def _follow(path: Path, keep: UiLogFilter, stop: threading.Event) -> None:
    """Print the lines ``keep`` keeps as the Dagster processes append them to ``path``."""
    with path.open(encoding="utf-8", errors="replace") as log:
        while not stop.is_set():
            line = log.readline()
            if not line:
                time.sleep(0.3)
                continue
            shown = keep(line.rstrip("\n"))
            if shown:
                print(shown, file=sys.stderr, flush=True)


# One long-lived code server for the webserver and the daemon (the tests start it too).
LOCATION = "market_data"
CODE_SERVER_ARGS = (
    "code-server",
    "start",
    "-h",
    "127.0.0.1",
    "-m",
    "market_data.definitions",
    "--location-name",
    LOCATION,
)


def write_grpc_workspace(path: Path, code_port: int) -> Path:
    """A workspace that points at the code server on ``code_port``."""
    path.write_text(
        "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
        f"      port: {code_port}\n      location_name: {LOCATION}\n"
    )
    return path


def free_port() -> int:
    """A port nothing listens on now, for the code server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def _wait(check: Callable[[], bool], what: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        if any(p.poll() is not None for p in processes):
            raise UiError(f"{what} did not start: a Dagster process exited")
        time.sleep(0.5)
    raise UiError(f"{what} did not start within {READY_TIMEOUT_SECONDS}s")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


STOP_TIMEOUT_SECONDS = 30


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop the processes last started first, each gone before the next is asked: the
    daemon must not tick against a code server that has already left."""
    for p in reversed(processes):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def serve(host: str, port: int) -> int:
    """Run until Ctrl-C (or until one of the processes exits), then stop all of them."""
    if port_is_taken(host, port):
        print(
            f"market-data ui: port {port} on {host} is taken; choose another with --port",
            file=sys.stderr,
        )
        return 1
    # Started from a script with `&`, SIGINT may be ignored: restore Ctrl-C, and treat
    # SIGTERM the same, so the children are always stopped.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    dagster_home = prepare_dagster_home()
    bindir = Path(sys.executable).parent
    code_port = free_port()
    workspace = write_grpc_workspace(dagster_home / "workspace.yaml", code_port)
    env = os.environ.copy()
    log = log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    log_file = log.open("w")  # this session's log; the children write to it directly
    stop_following = threading.Event()
    threading.Thread(target=_follow, args=(log, UiLogFilter(), stop_following), daemon=True).start()

    def start(*args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(bindir / args[0]), *args[1:]],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(start("dagster", *CODE_SERVER_ARGS, "-p", str(code_port)))
        _wait(lambda: port_is_taken("127.0.0.1", code_port), "the code server", processes)
        processes.append(
            start("dagster-webserver", "-w", str(workspace), "-h", host, "-p", str(port))
        )
        processes.append(start("dagster-daemon", "run", "-w", str(workspace)))
        url = f"http://{host}:{port}"
        _wait(lambda: _answers(f"{url}/server_info"), "the webserver", processes)
        print(
            f"Dagster UI: {url}   (Ctrl-C stops the webserver, the daemon and the code server)\n"
            f"Dagster's log: {log}   (here: errors only)",
            flush=True,
        )
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("market-data ui: a Dagster process exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except UiError as error:
        print(f"market-data ui: {error} (Dagster's log: {log})", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C or a supervisor's repeated SIGTERM must not cut the stop short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop(processes)
        stop_following.set()
        log_file.close()
