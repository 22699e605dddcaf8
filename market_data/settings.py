"""Every setting market-data reads from the environment (and a git-ignored ``.env``).

This is the one module that reads environment variables: each has a typed function
here that validates it and fails with one clear line naming it. ``Settings.from_env()``
reads them all at once into one typed object: the Dagster definitions are built from it
(``definitions.py`` reads it once per process and passes it to the resources, which carry
its values into runs, checks and sensors). No module reads settings at import; the
command line and the read API read the few they need when called, so a process that
sets them late (a backtest, a test) is honoured. Secrets are not values of ``Settings``:
it names which are set, and resources receive them as ``EnvVar`` names
(``defs/resources.py``), so the UI shows names, never values. README's "Environment"
table lists every variable named here; ``market_data_tests/test_settings.py`` keeps the
two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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
DEFAULT_WATCHLIST_BACKFILL_DAYS = 90


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


# -- what is left to the embedded default (market_data/embedded.py) -----------------------


def wants_embedded_database() -> bool:
    """No ``DATABASE_URL``: the data lives in the embedded cluster."""
    return database_url() is None


def wants_embedded_source() -> bool:
    """No Massive credentials nor endpoint: the day files come from the demo source."""
    return massive_access_key() is None and massive_s3_endpoint() is None


def wants_embedded_rest() -> bool:
    """No ``MASSIVE_API_KEY`` and the demo source: the demo's REST server answers, with the
    demo's corporate actions. (Real day files without a key: no REST path at all.)"""
    return massive_api_key() is None and wants_embedded_source()


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
    return positive_int("MARKET_DATA_WATCHLIST_BACKFILL_DAYS") or DEFAULT_WATCHLIST_BACKFILL_DAYS


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


# -- all of them, as one typed object -----------------------------------------------------

# The variables whose values are secrets: a resource gets them as ``EnvVar`` names.
SECRETS = (
    "MASSIVE_AWS_ACCESS_KEY",
    "MASSIVE_AWS_SECRET_KEY",
    "MASSIVE_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MARKET_DATA_ALERT_WEBHOOK_URL",
    "MARKET_DATA_ALERT_SLACK_TOKEN",
    "MARKET_DATA_ALERT_SMTP_URL",
)


@dataclass(frozen=True)
class Settings:
    """Every setting the Dagster definitions are built from, read and checked at once."""

    home: Path
    database_url: str | None
    massive_s3_endpoint: str | None
    massive_s3_bucket: str
    massive_s3_region: str
    massive_api_base_url: str
    rest_requests_per_minute: float
    rest_window_days: int
    bars_uri: str | None
    bars_s3_endpoint: str | None
    aws_region: str | None
    start_date: date
    partitions_per_run: int | None
    day_workers: int
    download_workers: int
    watchlist_backfill_days: int
    stock_missing_tolerance: float
    pair_missing_tolerance: float
    risk_free_rate: float
    alert_slack_channel: str | None
    alert_email_to: tuple[str, ...]
    ui_url: str
    secrets_set: frozenset[str]  # the names in SECRETS that are set; never their values
    embedded_database: bool  # what the embedded default stands in for
    embedded_source: bool
    embedded_rest: bool

    @classmethod
    def from_env(cls) -> Settings:
        """The environment (and ``.env``) now; the first bad value fails naming its variable."""
        return cls(
            home=home(),
            database_url=database_url(),
            massive_s3_endpoint=massive_s3_endpoint(),
            massive_s3_bucket=massive_s3_bucket(),
            massive_s3_region=massive_s3_region(),
            massive_api_base_url=massive_api_base_url(),
            rest_requests_per_minute=rest_requests_per_minute(),
            rest_window_days=rest_window_days(),
            bars_uri=bars_uri(),
            bars_s3_endpoint=bars_s3_endpoint(),
            aws_region=aws_region(),
            start_date=start_date(),
            partitions_per_run=partitions_per_run(),
            day_workers=day_workers(),
            download_workers=download_workers(),
            watchlist_backfill_days=watchlist_backfill_days(),
            stock_missing_tolerance=stock_missing_tolerance(),
            pair_missing_tolerance=pair_missing_tolerance(),
            risk_free_rate=risk_free_rate(),
            alert_slack_channel=alert_slack_channel(),
            alert_email_to=tuple(alert_email_to()),
            ui_url=ui_url(),
            secrets_set=frozenset(name for name in SECRETS if is_set(name)),
            embedded_database=wants_embedded_database(),
            embedded_source=wants_embedded_source(),
            embedded_rest=wants_embedded_rest(),
        )

    def has_secret(self, name: str) -> bool:
        if name not in SECRETS:
            raise ConfigurationError(f"{name} is not one of the secret settings")
        return name in self.secrets_set
