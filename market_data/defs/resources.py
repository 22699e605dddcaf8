"""Dagster resources: one per outside system (the flat-file bucket, PostgreSQL, the REST
API) plus the bar store.

Configuration comes from one ``settings.Settings``, read once when the definitions load
and passed to ``resources_from_settings``. A secret (a password in a URL, a key, a token)
is passed as an ``EnvVar`` (``secret``), so the UI shows its name and never its value;
everything else is passed as its value. Where the database or the bucket is not
configured, the embedded resource stands in, which points at the local server a command
started (``market_data/embedded.py``) and never starts one itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from dagster import ConfigurableResource, EnvVar
from dagster_aws.s3 import S3Resource

from market_data import settings
from market_data.embedded import embedded_database_url, embedded_rest, embedded_s3
from market_data.settings import Settings
from market_data.sources.rest import RestAggregates
from market_data.transform.bar_store import BarStore
from market_data.transform.landing import RestPolicy
from market_data.warehouse.db import connect
from market_data.warehouse.rate_limit import SharedRateLimiter
from market_data.warehouse.schema import apply_schema

_schema_lock = threading.Lock()
_schema_applied: set[str] = set()


def secret(config: Settings, name: str) -> Any:
    """An ``EnvVar`` for a secret variable that is set (the UI shows its name), else None."""
    return EnvVar(name) if config.has_secret(name) else None


# ConfigurableResource is generic in what it hands to the code (its TypeVar has no
# default); these resources hand out themselves and, like Dagster's own, leave it out:
# a subscripted base would be a new pydantic class in the MRO.
class FlatFilesResource(ConfigurableResource):  # type: ignore[type-arg]
    """The Massive flat-file bucket, read through dagster-aws's S3 resource."""

    endpoint_url: str | None = None
    bucket: str = settings.DEFAULT_S3_BUCKET
    region: str = settings.DEFAULT_S3_REGION
    access_key: str | None = None
    secret_key: str | None = None
    landing_dir: str | None = None  # MARKET_DATA_HOME/landing unless set

    def landing_root(self) -> Path:
        return Path(self.landing_dir) if self.landing_dir else settings.home() / "landing"

    def get_client(self) -> Any:
        s3 = S3Resource(
            endpoint_url=self.endpoint_url or settings.DEFAULT_S3_ENDPOINT,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            use_unsigned_session=self.access_key is None,
            max_attempts=5,
        )
        return s3.get_client()

    def is_demo(self) -> bool:
        """Whether the files are the demo's generated ones (the embedded source)."""
        return False

    def describe(self) -> str:
        """Where files come from, for metadata and logs (no credentials)."""
        return f"s3://{self.bucket} at {self.endpoint_url or settings.DEFAULT_S3_ENDPOINT}"


class EmbeddedFlatFilesResource(FlatFilesResource):
    """The embedded demo source: the local S3-compatible server that ``market-data demo``
    or ``ui`` started, holding generated day files in Massive's layout."""

    def get_client(self) -> Any:
        endpoint, credentials = embedded_s3()
        s3 = S3Resource(
            endpoint_url=endpoint,
            region_name=self.region,
            aws_access_key_id=credentials["aws_access_key_id"],
            aws_secret_access_key=credentials["aws_secret_access_key"],
            max_attempts=5,
        )
        return s3.get_client()

    def is_demo(self) -> bool:
        return True

    def describe(self) -> str:
        return f"embedded demo source (s3://{self.bucket}, no MASSIVE_AWS_ACCESS_KEY set)"


class WarehouseResource(ConfigurableResource):  # type: ignore[type-arg]  # see FlatFilesResource
    """The PostgreSQL holding ``historical_bars`` and ``watchlist``; its schema is applied on
    first use."""

    database_url: str

    def url(self) -> str:
        return self.database_url

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        url = self.url()
        conn = connect(url)
        try:
            with _schema_lock:
                if url not in _schema_applied:
                    apply_schema(conn)
                    _schema_applied.add(url)
            yield conn
        finally:
            conn.close()


class EmbeddedWarehouseResource(WarehouseResource):
    """The embedded cluster under ``MARKET_DATA_HOME`` that a command started."""

    database_url: str = ""

    def url(self) -> str:
        return embedded_database_url()


class RestApiResource(ConfigurableResource):  # type: ignore[type-arg]  # see FlatFilesResource
    """Massive's REST aggregates API: the stand-in for day files not published yet.

    Without ``MASSIVE_API_KEY`` the REST path is disabled, and a recent day without
    its file fails saying so. With a ``rate_limit_store``, the plan's request rate is
    shared by every run of the instance through that database; without one, by the
    threads of this process only.
    """

    base_url: str = settings.DEFAULT_API_BASE_URL
    api_key: str | None = None
    requests_per_minute: float = 5.0
    window_days: int = 2
    rate_limit_store: WarehouseResource | None = None

    def policy(self) -> RestPolicy:
        return RestPolicy(enabled=bool(self.api_key), window_days=self.window_days)

    def configured(self) -> bool:
        """Whether there is a REST API to ask (a key, or the demo's server)."""
        return bool(self.api_key)

    def client(self) -> RestAggregates | None:
        if not self.api_key:
            return None
        return self._client(self.base_url, self.api_key)

    def _client(self, base_url: str, api_key: str) -> RestAggregates:
        limiter = None
        if self.rate_limit_store is not None:
            with self.rate_limit_store.connection():  # the schema, with its limiter table
                pass
            limiter = SharedRateLimiter(self.rate_limit_store.url(), self.requests_per_minute)
        return RestAggregates(
            base_url=base_url,
            api_key=api_key,
            requests_per_minute=self.requests_per_minute,
            limiter=limiter,
        )


class EmbeddedRestApiResource(RestApiResource):
    """The demo's REST server that ``market-data demo`` or ``ui`` started beside the demo
    source: aggregates from the generated day files and the demo's corporate actions."""

    requests_per_minute: float = 600.0

    def policy(self) -> RestPolicy:
        return RestPolicy(enabled=True, window_days=self.window_days)

    def configured(self) -> bool:
        return True

    def client(self) -> RestAggregates:
        return self._client(*embedded_rest())


class BarStoreResource(ConfigurableResource):  # type: ignore[type-arg]  # see FlatFilesResource
    """Where parsed bars are kept as Parquet: ``MARKET_DATA_HOME/bars`` by default, or an
    S3 prefix (``uri``, ``MARKET_DATA_BARS_URI``) so that runs on several machines share them.

    Without keys, S3 credentials come from the AWS SDK's chain (a pod's or task's role).
    """

    root: str | None = None
    uri: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None

    def store(self) -> BarStore:
        if not self.uri:
            return BarStore(Path(self.root) if self.root else settings.home() / "bars")
        return BarStore.from_uri(
            self.uri,
            endpoint=self.endpoint_url,
            region=self.region,
            access_key=self.access_key,
            secret_key=self.secret_key,
            session_token=self.session_token,
        )


class PipelineSettingsResource(ConfigurableResource):  # type: ignore[type-arg]  # see FlatFilesResource
    """How runs, checks and sensors work (README "Environment"): how many days a range run
    downloads and parses side by side, how far back a new symbol is loaded, what the
    completeness checks tolerate, the rate that discounts option prices."""

    day_workers: int = 2
    download_workers: int = 3
    watchlist_backfill_days: int = settings.DEFAULT_WATCHLIST_BACKFILL_DAYS
    stock_missing_tolerance: float = settings.DEFAULT_STOCK_MISSING_TOLERANCE
    pair_missing_tolerance: float = settings.DEFAULT_PAIR_MISSING_TOLERANCE
    risk_free_rate: float = settings.DEFAULT_RISK_FREE_RATE


def warehouse_from_settings(config: Settings) -> WarehouseResource:
    """``DATABASE_URL``'s server, or the embedded cluster."""
    if config.embedded_database:
        return EmbeddedWarehouseResource()
    return WarehouseResource(database_url=EnvVar("DATABASE_URL"))


def direct_warehouse() -> WarehouseResource:
    """The warehouse for reads outside a run, where ``EnvVar``s are not resolved."""
    url = settings.database_url()
    return WarehouseResource(database_url=url) if url else EmbeddedWarehouseResource()


def flat_files_from_settings(config: Settings) -> FlatFilesResource:
    """Massive's bucket (or another endpoint), or the embedded demo source."""
    bucket, region = config.massive_s3_bucket, config.massive_s3_region
    if config.embedded_source:
        return EmbeddedFlatFilesResource(bucket=bucket, region=region)
    return FlatFilesResource(
        endpoint_url=config.massive_s3_endpoint,
        bucket=bucket,
        region=region,
        access_key=secret(config, "MASSIVE_AWS_ACCESS_KEY"),
        secret_key=secret(config, "MASSIVE_AWS_SECRET_KEY"),
    )


def resources_from_settings(config: Settings) -> dict[str, Any]:
    """The resources as ``config`` says: each outside system that is not configured is the
    embedded one."""
    warehouse = warehouse_from_settings(config)
    rest_api = (
        EmbeddedRestApiResource(window_days=config.rest_window_days, rate_limit_store=warehouse)
        if config.embedded_rest
        else RestApiResource(
            base_url=config.massive_api_base_url,
            api_key=secret(config, "MASSIVE_API_KEY"),
            requests_per_minute=config.rest_requests_per_minute,
            window_days=config.rest_window_days,
            rate_limit_store=warehouse,
        )
    )
    return {
        "flat_files": flat_files_from_settings(config),
        "warehouse": warehouse,
        "rest_api": rest_api,
        "bar_store": BarStoreResource(
            uri=config.bars_uri,
            endpoint_url=config.bars_s3_endpoint,
            region=config.aws_region,
            access_key=secret(config, "AWS_ACCESS_KEY_ID"),
            secret_key=secret(config, "AWS_SECRET_ACCESS_KEY"),
            session_token=secret(config, "AWS_SESSION_TOKEN"),
        ),
        "pipeline_settings": PipelineSettingsResource(
            day_workers=config.day_workers,
            download_workers=config.download_workers,
            watchlist_backfill_days=config.watchlist_backfill_days,
            stock_missing_tolerance=config.stock_missing_tolerance,
            pair_missing_tolerance=config.pair_missing_tolerance,
            risk_free_rate=config.risk_free_rate,
        ),
    }
