"""A local S3-compatible server (moto in server mode) for the embedded demo source.

Without Massive credentials the pipeline still reads day files through S3, so the code path
is the one production uses. The server runs detached: it outlives the command that started
it and later runs reuse it. moto keeps objects in memory, so after a restart the bucket is
empty and ``seed_bucket`` uploads the files again.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from market_data.errors import LocalServerError
from market_data.local.state import folder_lock, log_tail

LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
"""moto accepts any key; fixed dummy ones keep boto3 from looking for real ones."""

# Loopback only: an HTTP(S)_PROXY in the environment must not see these requests.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LocalS3Error(LocalServerError):
    """The local S3 server could not be started."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(endpoint: str) -> bool:
    """Any HTTP answer counts: it proves a server listens, not that a bucket exists."""
    try:
        with _NO_PROXY.open(endpoint + "/moto-api/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie child of this process is reaped and counts as gone."""
    with suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _is_moto(pid: int) -> bool:
    """A recycled pid (after a reboot) must not be signalled as if it were the server."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc to ask: trust the pid file
    return b"moto" in cmdline


def _server_command() -> list[str]:
    """The venv's own ``moto_server`` first, so the server matches the installed moto."""
    beside = Path(sys.executable).with_name("moto_server")
    if beside.exists():
        return [str(beside)]
    on_path = shutil.which("moto_server")
    if on_path:
        return [on_path]
    return [sys.executable, "-m", "moto.server"]


@dataclass
class LocalS3Server:
    """One moto server per ``root``, which holds ``port``, ``pid`` and ``server.log``."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root).absolute()

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def endpoint_url(self) -> str:
        try:
            port = int((self.root / "port").read_text())
        except (OSError, ValueError) as error:
            raise LocalS3Error(
                f"the local S3 server in {self.root} has not been started"
            ) from error
        return f"http://127.0.0.1:{port}"

    def _pid(self) -> int | None:
        try:
            return int((self.root / "pid").read_text())
        except (OSError, ValueError):
            return None

    def is_running(self) -> bool:
        """The recorded process lives and its port answers HTTP."""
        pid = self._pid()
        if pid is None or not _alive(pid) or not _is_moto(pid):
            return False
        try:
            return _answers(self.endpoint_url)
        except LocalS3Error:
            return False

    def start(self, timeout: float = 20.0) -> str:
        """Start the server (or reuse a running one); its endpoint URL."""
        with folder_lock(self.root):
            if self.is_running():
                return self.endpoint_url
            port = _free_port()
            with self.log_file.open("ab") as log:
                # Its own session: not killed with this process or by a Ctrl-C in its terminal.
                process = subprocess.Popen(
                    [*_server_command(), "-H", "127.0.0.1", "-p", str(port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            (self.root / "port").write_text(str(port))
            (self.root / "pid").write_text(str(process.pid))
            endpoint = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while process.poll() is None and time.monotonic() < deadline:
                if _answers(endpoint):
                    return endpoint
                time.sleep(0.1)
            if process.poll() is None:
                process.kill()
            process.wait()
            (self.root / "pid").unlink(missing_ok=True)
            raise LocalS3Error(
                f"local S3 server on port {port} did not answer within {timeout:.0f} s "
                f"(exit {process.returncode})\n{log_tail(self.log_file)}"
            )

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the server, killing it if it lingers; its objects go with it."""
        with folder_lock(self.root):
            pid = self._pid()
            if pid is not None and _alive(pid) and _is_moto(pid):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
            (self.root / "pid").unlink(missing_ok=True)


def ensure_local_s3(home: Path) -> str:
    """Start (or reuse) the server under ``home/s3``; its endpoint URL."""
    return LocalS3Server(Path(home) / "s3").start()


def seed_bucket(endpoint_url: str, bucket: str, source_dir: Path) -> int:
    """Upload every file under ``source_dir`` (key = relative posix path) that the bucket
    lacks at the same size; the number uploaded. A restarted moto is empty, hence this.

    ``.part`` files are downloads or generations still being written, never day files.
    """
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
        **LOCAL_CREDENTIALS,
    )
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        # A concurrent seeder may create it first.
        with suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)
    present = {
        obj["Key"]: obj["Size"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for obj in page.get("Contents", [])
    }
    uploaded = 0
    for path in sorted(p for p in Path(source_dir).rglob("*") if p.is_file()):
        key = path.relative_to(source_dir).as_posix()
        if key.endswith(".part") or present.get(key) == path.stat().st_size:
            continue
        client.upload_file(str(path), bucket, key)
        uploaded += 1
    return uploaded
