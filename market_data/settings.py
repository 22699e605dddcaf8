"""Configuration from the environment (and a git-ignored ``.env``), as DESIGN.md §2 names it.

Values are read when they are needed, not at import, so a process that sets them
late (the command line, a test) is honoured. Dagster resources take the variables
themselves as ``EnvVar``s (``defs/resources.py``), so secrets stay out of the UI.
"""

from __future__ import annotations

import os
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


def database_url() -> str | None:
    """``DATABASE_URL``, or None for the embedded cluster."""
    load_env_file()
    return _get("DATABASE_URL")


def dagster_pg_url() -> str | None:
    load_env_file()
    return _get("DAGSTER_PG_URL")


def positive_int(name: str) -> int | None:
    """A whole-number setting of at least 1, or None when unset; anything else is an error."""
    load_env_file()
    raw = _get(name)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def day_workers() -> int:
    """How many days of a range run are downloaded or parsed at once (``MARKET_DATA_DAY_WORKERS``).

    Downloads wait on the network and parsing mostly runs outside the GIL (ISA-L, Arrow),
    so threads use the cores; loads stay one day at a time on one connection.
    """
    workers = positive_int("MARKET_DATA_DAY_WORKERS")
    return workers or min(4, len(os.sched_getaffinity(0)))  # the cores this process may use
