"""A local S3-compatible server (moto in server mode) for the embedded demo source.

It runs detached, so it outlives the command that started it and later runs reuse it.
moto keeps objects in memory: after a restart the bucket is empty, and ``seed_bucket``
uploads the files again.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


class LocalS3Error(RuntimeError):
    """The local S3 server could not be started."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/moto-api/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except (urllib.error.URLError, OSError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@dataclass
class LocalS3Server:
    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root).absolute()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{int((self.root / 'port').read_text())}"

    def _pid(self) -> int | None:
        try:
            return int((self.root / "pid").read_text())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self._pid()
        return pid is not None and _alive(pid) and _answers(self.endpoint_url)

    def start(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.running():
                return self.endpoint_url
            server = Path(sys.executable).with_name("moto_server")
            command = (
                [str(server)]
                if server.exists()
                else (
                    [shutil.which("moto_server")]
                    if shutil.which("moto_server")
                    else [sys.executable, "-m", "moto.server"]
                )
            )
            port = _free_port()
            with (self.root / "server.log").open("ab") as log:
                process = subprocess.Popen(
                    [*command, "-H", "127.0.0.1", "-p", str(port)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )  # fmt: skip
            (self.root / "port").write_text(str(port))
            (self.root / "pid").write_text(str(process.pid))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    break
                if _answers(self.endpoint_url):
                    return self.endpoint_url
                time.sleep(0.2)
            process.kill()
            tail = (self.root / "server.log").read_text(errors="replace").splitlines()[-10:]
            raise LocalS3Error("local S3 server did not start:\n" + "\n".join(tail))

    def stop(self) -> None:
        pid = self._pid()
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGTERM)
        (self.root / "pid").unlink(missing_ok=True)


def ensure_local_s3(home: Path) -> str:
    """Start (or reuse) the server under ``home/s3``; its endpoint URL."""
    return LocalS3Server(home / "s3").start()


def seed_bucket(endpoint_url: str, bucket: str, source_dir: Path) -> int:
    """Upload every file under ``source_dir`` (key = relative path) that the bucket lacks."""
    client = boto3.client(
        "s3", endpoint_url=endpoint_url, region_name="us-east-1",
        config=Config(signature_version="s3v4"), **LOCAL_CREDENTIALS,
    )  # fmt: skip
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket)
    present = {
        obj["Key"]: obj["Size"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for obj in page.get("Contents", [])
    }
    uploaded = 0
    for path in sorted(p for p in source_dir.rglob("*") if p.is_file()):
        key = path.relative_to(source_dir).as_posix()
        if key.endswith(".part") or present.get(key) == path.stat().st_size:
            continue
        client.upload_file(str(path), bucket, key)
        uploaded += 1
    return uploaded
