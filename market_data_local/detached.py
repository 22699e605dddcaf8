"""A local server that runs detached under a folder of ``MARKET_DATA_HOME``.

The demo's S3 server and its REST server outlive the command that started them (the UI
and the next command reuse them) and are stopped by ``market-data stop``. Both keep
``port``, ``pid`` and ``server.log`` in their folder; this is that life cycle, once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from market_data.errors import LocalServerError
from market_data_local.state import folder_lock, log_tail

# Loopback only: an HTTP(S)_PROXY in the environment must not see these requests.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie child of this process is reaped and counts as gone."""
    with suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def command_line_has(pid: int, marker: bytes) -> bool:
    """Whether ``pid``'s command line holds ``marker``: a recycled pid (after a reboot) must
    not be signalled as if it were the server."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc to ask: trust the pid file
    return marker in cmdline


@dataclass
class DetachedServer:
    """One server process per ``root``; subclasses say how to start and recognise it."""

    root: Path

    name: ClassVar[str] = "server"  # as a person calls it, in errors
    error: ClassVar[type[LocalServerError]] = LocalServerError
    marker: ClassVar[bytes] = b""  # what its command line holds

    def __post_init__(self) -> None:
        self.root = Path(self.root).absolute()

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def answers(self, url: str) -> bool:
        """Whether the server listens at ``url``."""
        raise NotImplementedError

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        try:
            port = int((self.root / "port").read_text())
        except (OSError, ValueError) as error:
            raise self.error(f"the {self.name} in {self.root} has not been started") from error
        return f"http://127.0.0.1:{port}"

    def _pid(self) -> int | None:
        try:
            return int((self.root / "pid").read_text())
        except (OSError, ValueError):
            return None

    def _ours(self, pid: int | None) -> bool:
        return pid is not None and alive(pid) and command_line_has(pid, self.marker)

    def is_running(self) -> bool:
        """The recorded process lives and its port answers."""
        if not self._ours(self._pid()):
            return False
        try:
            return self.answers(self.url)
        except self.error:
            return False

    def start(self, timeout: float = 20.0) -> str:
        """Start the server (or reuse a running one); its URL."""
        with folder_lock(self.root):
            if self.is_running():
                return self.url
            port = free_port()
            with self.log_file.open("ab") as log:
                # Its own session: not killed with this process or by a Ctrl-C in its terminal.
                process = subprocess.Popen(
                    self.command(port),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            (self.root / "port").write_text(str(port))
            (self.root / "pid").write_text(str(process.pid))
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while process.poll() is None and time.monotonic() < deadline:
                if self.answers(url):
                    return url
                time.sleep(0.1)
            if process.poll() is None:
                process.kill()
            process.wait()
            (self.root / "pid").unlink(missing_ok=True)
            raise self.error(
                f"the {self.name} on port {port} did not answer within {timeout:.0f} s "
                f"(exit {process.returncode})\n{log_tail(self.log_file)}"
            )

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the server, killing it if it lingers."""
        with folder_lock(self.root):
            pid = self._pid()
            if pid is not None and self._ours(pid):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            (self.root / "pid").unlink(missing_ok=True)
