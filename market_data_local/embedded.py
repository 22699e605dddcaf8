"""The embedded default: a local PostgreSQL and a local S3 server holding generated day
files, both under ``MARKET_DATA_HOME``, for a machine where nothing is configured.

The commands that want it start it (``market-data demo``, ``ui`` and the other commands
when ``DATABASE_URL`` or Massive's credentials are not set); the resources only point at
it (``defs/resources.py``) and say clearly when it is not running. It outlives the
command that started it, so the UI and the ``dagster`` CLI can use it afterwards;
``market-data stop`` stops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from market_data import settings
from market_data.errors import DatabaseUnavailable, LocalServerError
from market_data_local.demo_actions import DEMO_API_KEY
from market_data_local.demo_source import (
    DEMO_END,
    DEMO_START,
    DemoRestServer,
    demo_rest_server,
    ensure_demo_rest,
    ensure_demo_source,
    publish_due_days,
)
from market_data_local.postgres import EmbeddedPostgres, ensure_embedded_postgres
from market_data_local.s3 import LOCAL_CREDENTIALS, LocalS3Server

# What the product's door (market_data/embedded.py) takes from here.
__all__ = [
    "DEMO_API_KEY",
    "DEMO_END",
    "DEMO_START",
    "LOCAL_CREDENTIALS",
    "EmbeddedServers",
    "embedded_cluster",
    "embedded_database_url",
    "embedded_rest_base_url",
    "embedded_s3_endpoint",
    "ensure_embedded_database",
    "running_embedded",
    "start_embedded",
    "stop_embedded",
]

DATA_DATABASE = "market_data"
NOT_RUNNING = "is not running: `market-data demo` or `market-data ui` starts it"


def _cluster(home: Path) -> EmbeddedPostgres:
    return EmbeddedPostgres(home / "postgres")


def _s3(home: Path) -> LocalS3Server:
    return LocalS3Server(home / "s3")


def _rest(home: Path) -> DemoRestServer:
    return demo_rest_server(home)


@dataclass(frozen=True)
class EmbeddedServers:
    database_url: str | None
    s3_endpoint: str | None
    rest_url: str | None = None


def start_embedded(
    home: Path | None = None, *, database: bool = True, source: bool = True, rest: bool = True
) -> EmbeddedServers:
    """Start (or reuse) the embedded servers asked for (``market_data.embedded`` decides from
    the settings which are left to the embedded default); their addresses.

    The demo source's days are generated once each (the days due since, when this runs
    again or the bucket is next asked for) and uploaded again whenever its server
    restarted (it keeps objects in memory).
    """
    home = home or settings.home()
    database_url = s3_endpoint = rest_url = None
    if database:
        cluster = _cluster(home)
        cluster.start()
        database_url = cluster.ensure_database(DATA_DATABASE)
    if source:
        s3_endpoint = ensure_demo_source(home, settings.massive_s3_bucket())
    if rest:
        rest_url = ensure_demo_rest(home)
    return EmbeddedServers(database_url, s3_endpoint, rest_url)


def embedded_cluster(home: Path | None = None) -> EmbeddedPostgres:
    """The running embedded cluster, or a clear error naming how to start it."""
    cluster = _cluster(home or settings.home())
    if not cluster.is_running():
        raise DatabaseUnavailable(
            f"the embedded PostgreSQL in {cluster.root} {NOT_RUNNING}, or set DATABASE_URL"
        )
    return cluster


def embedded_database_url(home: Path | None = None) -> str:
    return embedded_cluster(home).url(DATA_DATABASE)


def ensure_embedded_database(home: Path | None = None) -> str:
    """The data database of the cluster under ``home``, started (or reused) first."""
    return ensure_embedded_postgres(home or settings.home(), DATA_DATABASE)


def embedded_s3_endpoint(home: Path | None = None) -> str:
    """The running local S3 server's endpoint, or a clear error naming how to start it.

    Its bucket holds the days due by today: yesterday's files, once the day turned, are
    generated and uploaded on the way (``publish_due_days``), so a UI left running for
    days finds each day's files the day after, as from Massive."""
    home = home or settings.home()
    server = _s3(home)
    if not server.is_running():
        raise LocalServerError(
            f"the local S3 server of the demo source in {server.root} {NOT_RUNNING}, "
            "or set MASSIVE_AWS_ACCESS_KEY and MASSIVE_AWS_SECRET_KEY"
        )
    endpoint = server.endpoint_url
    publish_due_days(home, settings.massive_s3_bucket(), endpoint)
    return endpoint


def embedded_rest_base_url(home: Path | None = None) -> str:
    """The running demo REST server's base URL, or a clear error naming how to start it."""
    server = _rest(home or settings.home())
    if not server.is_running():
        raise LocalServerError(
            f"the demo's REST server in {server.root} {NOT_RUNNING}, or set MASSIVE_API_KEY"
        )
    return server.base_url


def running_embedded(home: Path | None = None) -> list[str]:
    """The embedded servers that run, each as a person would look for it."""
    home = home or settings.home()
    cluster, s3 = _cluster(home), _s3(home)
    running = []
    if cluster.is_running():
        running.append(f"PostgreSQL on 127.0.0.1:{cluster.port} in {cluster.root}")
    if s3.is_running():
        running.append(f"S3 server {s3.endpoint_url} in {s3.root}")
    rest = _rest(home)
    if rest.is_running():
        running.append(f"REST server {rest.base_url} in {rest.root}")
    return running


def stop_embedded(home: Path | None = None) -> list[str]:
    """Stop the embedded servers that run; what was stopped, for the user."""
    home = home or settings.home()
    stopped = running_embedded(home)
    cluster, s3 = _cluster(home), _s3(home)
    if cluster.is_running():
        cluster.stop()
    if s3.is_running():
        s3.stop()
    rest = _rest(home)
    if rest.is_running():
        rest.stop()
    return stopped
