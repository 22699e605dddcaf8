"""A local S3-compatible server (moto in server mode) for the embedded demo source.

Without Massive credentials the pipeline still reads day files through S3, so the code path
is the one production uses. The server runs detached: it outlives the command that started
it and later runs reuse it. moto keeps objects in memory, so after a restart the bucket is
empty and ``seed_bucket`` uploads the files again.
"""

from __future__ import annotations

import shutil
import sys
import urllib.error
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from market_data.errors import LocalServerError
from market_data_local.detached import NO_PROXY, DetachedServer

LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
"""moto accepts any key; fixed dummy ones keep boto3 from looking for real ones."""


class LocalS3Error(LocalServerError):
    """The local S3 server could not be started."""


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
class LocalS3Server(DetachedServer):
    """One moto server per ``root``, which holds ``port``, ``pid`` and ``server.log``; its
    objects go with it when it stops."""

    name: ClassVar[str] = "local S3 server"
    error: ClassVar[type[LocalServerError]] = LocalS3Error
    marker: ClassVar[bytes] = b"moto"

    def command(self, port: int) -> list[str]:
        return [*_server_command(), "-H", "127.0.0.1", "-p", str(port)]

    def answers(self, url: str) -> bool:
        """Any HTTP answer counts: it proves a server listens, not that a bucket exists."""
        try:
            with NO_PROXY.open(url + "/moto-api/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False

    @property
    def endpoint_url(self) -> str:
        return self.url


def ensure_local_s3(home: Path) -> str:
    """Start (or reuse) the server under ``home/s3``; its endpoint URL."""
    return LocalS3Server(Path(home) / "s3").start()


def seed_bucket(endpoint_url: str, bucket: str, source_dir: Path) -> int:
    """Upload every file under ``source_dir`` (key = relative posix path) that the bucket
    lacks at the same size; the number uploaded. A restarted moto is empty, hence this.

    ``.part`` files are downloads or generations still being written, and dot-files the
    generator's own (its version, its lock): never day files.
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
        hidden = any(part.startswith(".") for part in Path(key).parts)
        if hidden or key.endswith(".part") or present.get(key) == path.stat().st_size:
            continue
        client.upload_file(str(path), bucket, key)
        uploaded += 1
    return uploaded
