"""Every setting market-data reads from the environment (and a git-ignored ``.env``).

This is the one module that reads environment variables: each has a typed function
here that validates it and fails with one clear line naming it. Values are read when
asked for, not at import, so a process that sets them late (the command line, a test)
is honoured. Dagster resources receive secrets as ``EnvVar`` names (``defs/resources.py``
asks ``is_set``), so the UI shows names, never values. README's "Environment" table
lists every variable named here; ``market_data_tests/test_settings.py`` keeps the two
in step.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from dotenv import load_dotenv

from market_data.errors import ConfigurationError

DEFAULT_S3_ENDPOINT = "https://files.massive.com"
DEFAULT_S3_BUCKET = "flatfiles"
DEFAULT_S3_REGION = "us-east-1"
DEFAULT_API_BASE_URL = "https://api.massive.com"
DEFAULT_START_DATE = "2020-01-01"
DEFAULT_RISK_FREE_RATE = 0.04
DEFAULT_PAIR_MISSING_TOLERANCE = 0.05
DEFAULT_STOCK_MISSING_TOLERANCE = 0.02


def load_env_file() -> None:
    """Read ``.env`` from the working directory; real environment variables win."""
    load_dotenv(Path.cwd() / ".env", override=False)


def get(name: str) -> str | None:
    """A variable's value, stripped; None when unset or blank."""
    load_env_file()
    value = os.environ.get(name, "").strip()
    return value or None


def is_set(name: str) -> bool:
    return get(name) is not None


def positive_int(name: str) -> int | None:
    """A whole-number setting of at least 1, or None when unset; anything else is an error."""
    raw = get(name)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def positive_float(name: str, default: float) -> float:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigurationError(f"{name} must be a number above 0, not {raw!r}")
    return value


def share(name: str, default: float) -> float:
    """A fraction from 0 to 1 (``0.02`` = 2 %)."""
    raw = get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ConfigurationError(f"{name} must be a fraction from 0 to 1, not {raw!r}")
    return value


# -- where things are ----------------------------------------------------------------------


def home() -> Path:
    """``MARKET_DATA_HOME``: landing files, Parquet bars, embedded servers."""
    path = Path(get("MARKET_DATA_HOME") or ".market_data").expanduser().absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".writable"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise ConfigurationError(
            f"MARKET_DATA_HOME {path} is not a writable folder ({error.strerror or error})"
        ) from error
    return path


def database_url() -> str | None:
    """``DATABASE_URL``, or None for the embedded cluster."""
    return get("DATABASE_URL")


def dagster_pg_url() -> str | None:
    """``DAGSTER_PG_URL``: Dagster's own storage; None for the data server's ``dagster`` database."""
    return get("DAGSTER_PG_URL")


def dagster_home() -> str | None:
    return get("DAGSTER_HOME")


def pg_bindir() -> str | None:
    """``MARKET_DATA_PG_BINDIR``: the embedded cluster's server binaries, if not Debian's."""
    return get("MARKET_DATA_PG_BINDIR")


def bench_cache() -> Path:
    """``MARKET_DATA_BENCH_CACHE``: the benchmark's generated real-size day files; by default
    in the working directory's ``.market_data`` (the clone's, git-ignored, removed by ``make
    clean``), not under ``MARKET_DATA_HOME``, which benchmarks point at throwaway folders."""
    configured = get("MARKET_DATA_BENCH_CACHE")
    return (
        Path(configured).expanduser() if configured else Path.cwd() / ".market_data" / "bench-cache"
    )


# -- Massive ------------------------------------------------------------------------------


def massive_access_key() -> str | None:
    return get("MASSIVE_AWS_ACCESS_KEY")


def massive_s3_endpoint() -> str | None:
    return get("MASSIVE_S3_ENDPOINT")


def massive_s3_bucket() -> str:
    return get("MASSIVE_S3_BUCKET") or DEFAULT_S3_BUCKET


def massive_s3_region() -> str:
    return get("MASSIVE_S3_REGION") or DEFAULT_S3_REGION


# -- Parquet bars on S3 (README "Environment"; docs/scaling-out.md) --------------------------


def bars_uri() -> str | None:
    """``MARKET_DATA_BARS_URI``: ``s3://bucket/prefix`` for the Parquet bars (None: home)."""
    return get("MARKET_DATA_BARS_URI")


def bars_s3_endpoint() -> str | None:
    """``MARKET_DATA_BARS_S3_ENDPOINT``: another S3-compatible endpoint for the bars."""
    return get("MARKET_DATA_BARS_S3_ENDPOINT")


def aws_region() -> str | None:
    return get("AWS_REGION")


def massive_api_key() -> str | None:
    """``MASSIVE_API_KEY``: the REST API's key (no key: no REST path, no reference data)."""
    return get("MASSIVE_API_KEY")


def massive_api_base_url() -> str:
    return get("MASSIVE_API_BASE_URL") or DEFAULT_API_BASE_URL


def rest_requests_per_minute() -> float:
    """``MASSIVE_API_REQUESTS_PER_MINUTE``: the plan's REST limit (the free plan's 5)."""
    return positive_float("MASSIVE_API_REQUESTS_PER_MINUTE", 5.0)


def rest_window_days() -> int:
    """``MARKET_DATA_REST_WINDOW_DAYS``: how many recent days REST may stand in for files."""
    return positive_int("MARKET_DATA_REST_WINDOW_DAYS") or 2


# -- what runs load, and how ---------------------------------------------------------------


def start_date() -> date:
    """``MARKET_DATA_START_DATE``: the first partition the UI offers."""
    raw = get("MARKET_DATA_START_DATE") or DEFAULT_START_DATE
    try:
        return date.fromisoformat(raw)
    except ValueError as error:
        raise ConfigurationError(
            f"MARKET_DATA_START_DATE must be a day as YYYY-MM-DD, not {raw!r}"
        ) from error


def day_workers() -> int:
    """How many days of a range run are downloaded or parsed at once (``MARKET_DATA_DAY_WORKERS``).

    Downloads wait on the network and parsing mostly runs outside the GIL (ISA-L, Arrow),
    so threads use the cores; loads stay one day at a time on one connection.
    """
    workers = positive_int("MARKET_DATA_DAY_WORKERS")
    return workers or min(4, len(os.sched_getaffinity(0)))  # the cores this process may use


def download_workers() -> int:
    """How many days' files are downloaded at once: ``MARKET_DATA_DAY_WORKERS`` if set, else
    one more than the cores, since each download also waits on the network between the
    bytes it decompresses as they arrive."""
    workers = positive_int("MARKET_DATA_DAY_WORKERS")
    return workers or day_workers() + 1


def partitions_per_run() -> int | None:
    """``MARKET_DATA_PARTITIONS_PER_RUN``: cut backfills into runs of N days (None: one run)."""
    return positive_int("MARKET_DATA_PARTITIONS_PER_RUN")


def watchlist_backfill_days() -> int:
    """``MARKET_DATA_WATCHLIST_BACKFILL_DAYS``: how far back a new watchlist symbol is loaded."""
    return positive_int("MARKET_DATA_WATCHLIST_BACKFILL_DAYS") or 90


def pair_missing_tolerance() -> float:
    """``MARKET_DATA_PAIR_MISSING_TOLERANCE``: the share of its trading minutes a crypto or
    currency pair may lack (thin pairs skip minutes) before ``missing_bars`` warns."""
    return share("MARKET_DATA_PAIR_MISSING_TOLERANCE", DEFAULT_PAIR_MISSING_TOLERANCE)


def stock_missing_tolerance() -> float:
    """``MARKET_DATA_STOCK_MISSING_TOLERANCE``: the share of a session's minutes a stock may
    lack (minutes without trades) before ``missing_bars`` warns."""
    return share("MARKET_DATA_STOCK_MISSING_TOLERANCE", DEFAULT_STOCK_MISSING_TOLERANCE)


# -- alerts (market_data/alerts; README "Alerts") -------------------------------------------

DEFAULT_UI_URL = "http://127.0.0.1:3000"


def alert_webhook_url() -> str | None:
    """``MARKET_DATA_ALERT_WEBHOOK_URL``: where alerts are POSTed as JSON (may hold a token)."""
    return get("MARKET_DATA_ALERT_WEBHOOK_URL")


def alert_slack_token() -> str | None:
    """``MARKET_DATA_ALERT_SLACK_TOKEN``: a Slack bot token (secret)."""
    return get("MARKET_DATA_ALERT_SLACK_TOKEN")


def alert_slack_channel() -> str | None:
    """``MARKET_DATA_ALERT_SLACK_CHANNEL``: the channel the bot posts to, e.g. ``#market-data``."""
    return get("MARKET_DATA_ALERT_SLACK_CHANNEL")


def alert_smtp_url() -> str | None:
    """``MARKET_DATA_ALERT_SMTP_URL``: ``smtp://user:pass@host:port`` (holds a password)."""
    return get("MARKET_DATA_ALERT_SMTP_URL")


def alert_email_to() -> list[str]:
    """``MARKET_DATA_ALERT_EMAIL_TO``: comma-separated recipients."""
    return [a.strip() for a in (get("MARKET_DATA_ALERT_EMAIL_TO") or "").split(",") if a.strip()]


def ui_url() -> str:
    """``MARKET_DATA_UI_URL``: the Dagster UI that alert links point into."""
    return get("MARKET_DATA_UI_URL") or DEFAULT_UI_URL


# -- Reading bars (market_data.read, market-data bars) -----------------------------------


def read_database_url() -> str | None:
    """``MARKET_DATA_READ_URL`` (a backtest's read-only login), else ``DATABASE_URL``; None
    for the embedded cluster."""
    return get("MARKET_DATA_READ_URL") or database_url()


def risk_free_rate() -> float:
    """``MARKET_DATA_RISK_FREE_RATE``: the continuously compounded rate that discounts option
    prices (a decimal: ``0.04`` = 4 %), docs/contracts.md §11."""
    raw = get("MARKET_DATA_RISK_FREE_RATE")
    if raw is None:
        return DEFAULT_RISK_FREE_RATE
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not -0.5 < value < 1:
        raise ConfigurationError(
            f"MARKET_DATA_RISK_FREE_RATE must be a decimal rate such as 0.04, not {raw!r}"
        )
    return value
