"""Configuration from the environment (and a git-ignored ``.env``), as DESIGN.md §2 names it.

Values are read when they are needed, not at import, so a process that sets them
late (the command line, a test) is honoured. Secrets are held only in memory and
never appear in ``repr`` output.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv

DEFAULT_S3_ENDPOINT = "https://files.massive.com"
DEFAULT_S3_BUCKET = "flatfiles"
DEFAULT_S3_REGION = "us-east-1"
DEFAULT_API_BASE_URL = "https://api.massive.com"


def load_env_file() -> None:
    """Read ``.env`` from the working directory; real environment variables win."""
    load_dotenv(Path.cwd() / ".env", override=False)


def _get(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def home() -> Path:
    """Local state: landing files, Parquet bars, embedded servers."""
    path = Path(_get("MARKET_DATA_HOME") or ".market_data").expanduser().absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".writable"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise PermissionError(
            f"MARKET_DATA_HOME {path} is not a writable folder ({error.strerror or error})"
        ) from None
    return path


@dataclass(frozen=True)
class FlatFileSettings:
    """Where the day files come from. No credentials means the embedded demo source."""

    endpoint_url: str | None
    bucket: str
    region: str
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)

    @property
    def embedded(self) -> bool:
        """Neither credentials nor an endpoint: serve generated files from a local server."""
        return self.access_key is None and self.endpoint_url is None

    @classmethod
    def from_env(cls) -> FlatFileSettings:
        load_env_file()
        return cls(
            endpoint_url=_get("MASSIVE_S3_ENDPOINT"),
            bucket=_get("MASSIVE_S3_BUCKET") or DEFAULT_S3_BUCKET,
            region=_get("MASSIVE_S3_REGION") or DEFAULT_S3_REGION,
            access_key=_get("MASSIVE_AWS_ACCESS_KEY"),
            secret_key=_get("MASSIVE_AWS_SECRET_KEY"),
        )


def database_url() -> str | None:
    """``DATABASE_URL``, or None for the embedded cluster."""
    load_env_file()
    return _get("DATABASE_URL")


def dagster_pg_url() -> str | None:
    load_env_file()
    return _get("DAGSTER_PG_URL")


def secret_values() -> list[str]:
    """Every configured secret, so that output can be checked or scrubbed for them."""
    load_env_file()
    names = ("MASSIVE_AWS_ACCESS_KEY", "MASSIVE_AWS_SECRET_KEY", "MASSIVE_API_KEY")
    return [v for v in (_get(n) for n in names) if v]
