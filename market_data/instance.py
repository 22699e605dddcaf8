"""The Dagster instance: run history, event logs and schedules in PostgreSQL (dagster-postgres).

``dagster.yaml`` names ``ProjectPostgresStorage``, which finds its database the way
README "Environment" says: ``DAGSTER_PG_URL`` if set, else the project's own server
(``DATABASE_URL``, or the embedded cluster) in a database of its own, ``dagster``.
So the plain ``dagster`` CLI, the webserver and ``market-data`` all share one history
without any variable having to be set.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as db
from dagster import AssetKey, DagsterInstance
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.storage import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from market_data import settings
from market_data.dagster_internals import (
    AssetCheckExecutionsTable,
    AssetKeyTable,
    ConfigurableClassData,
    SqlEventLogStorageTable,
)
from market_data.warehouse.db import connect, plain_url

log = logging.getLogger(__name__)

DAGSTER_DATABASE = "dagster"
REPO_ROOT = Path(__file__).resolve().parents[1]
_WIPE_BATCH = 1000  # partition keys per statement


def psycopg2_url(url: str) -> str:
    """dagster-postgres needs the psycopg2 driver spelled out: under SQLAlchemy 2.1 a plain
    ``postgresql://`` URL maps to psycopg 3 and every event write fails."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.split("+")[0] in ("postgresql", "postgres"):
        return f"postgresql+psycopg2://{rest}"
    return url


def _with_database(url: str, dbname: str) -> str:
    info = conninfo_to_dict(plain_url(url))
    info["dbname"] = dbname
    return make_conninfo("", **info)


def _as_url(conninfo: str) -> str:
    info = conninfo_to_dict(conninfo)
    auth = str(info.get("user") or "")
    if info.get("password"):
        auth += f":{info['password']}"
    host = info.get("host", "localhost")
    return f"postgresql://{auth}@{host}:{info.get('port', 5432)}/{info['dbname']}"


def _ensure_database(server_url: str, dbname: str) -> str | None:
    """Create ``dbname`` on the server of ``server_url`` if missing; None if not allowed."""
    with connect(server_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            except psycopg.errors.DuplicateDatabase:
                pass
            except psycopg.errors.InsufficientPrivilege:
                return None
    return _as_url(_with_database(server_url, dbname))


def dagster_storage_url() -> str:
    """Where Dagster keeps its runs and events (psycopg2 URL)."""
    explicit = settings.dagster_pg_url()
    if explicit:
        return psycopg2_url(explicit)
    data_url = settings.database_url()
    if data_url is None:
        from market_data.embedded import embedded_dagster_database

        return psycopg2_url(embedded_dagster_database(DAGSTER_DATABASE))
    own = _ensure_database(data_url, DAGSTER_DATABASE)
    if own is None:
        log.warning(
            "no privilege to create database %r: Dagster's tables go into DATABASE_URL's "
            "database; set DAGSTER_PG_URL to keep them apart",
            DAGSTER_DATABASE,
        )
        own = plain_url(data_url)
    return psycopg2_url(own)


class ProjectEventLogStorage(PostgresEventLogStorage):
    """dagster-postgres's event log, able to forget partitions of an asset.

    Dagster's SQL storages refuse ``wipe_asset_partitions`` ("not supported yet"), so days
    that retention removed kept showing as materialized in the UI, and the UI's "Wipe
    materializations" of a few partitions failed. Here a wipe takes the partitions out of
    the asset's partition index in one transaction: their materializations, planned and
    failed attempts no longer count for those partitions (the events stay in their runs'
    logs and the asset's history), their check results are deleted, and the asset's cached
    partition status is dropped, to be rebuilt from what is left. The UI then shows those
    partitions as never materialized.
    """

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True) -> None:
        super().__init__(postgres_url, should_autocreate_tables)
        # dagster-postgres opens a connection for each statement (about 6 ms here), and a
        # range run writes an event per day per step: a 90-day backfill's ~900 events spent
        # ~10 s connecting. One connection is kept, more opened while threads log at once,
        # each checked before use (a restarted server is reconnected to).
        self._engine.dispose()
        self._engine = create_pg_engine(
            postgres_url,
            isolation_level="AUTOCOMMIT",
            pool_size=1,
            max_overflow=8,
            pool_pre_ping=True,
            pool_recycle=3600,
        )

    def wipe_asset_partitions(self, asset_key: AssetKey, partition_keys: Sequence[str]) -> None:
        keys = sorted(set(partition_keys))
        if not keys:
            return
        name = asset_key.to_string()
        events, checks = SqlEventLogStorageTable, AssetCheckExecutionsTable
        has_checks = self.has_table("asset_check_executions")
        with self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="READ COMMITTED")
            with conn.begin():
                for first in range(0, len(keys), _WIPE_BATCH):
                    batch = keys[first : first + _WIPE_BATCH]
                    conn.execute(
                        events.update()
                        .where(events.c.asset_key == name, events.c.partition.in_(batch))
                        .values(partition=None)
                    )
                    if has_checks:
                        conn.execute(
                            checks.delete().where(
                                checks.c.asset_key == name, checks.c.partition.in_(batch)
                            )
                        )
                conn.execute(
                    AssetKeyTable.update()
                    .where(AssetKeyTable.c.asset_key == name)
                    .values(cached_status_data=None)
                )

    def partitions_before(self, asset_key: AssetKey, first_kept: str) -> list[str]:
        """The asset's partition keys that sort before ``first_kept`` and have any event
        (a materialization or an attempt): for day keys, the days before a cut-off."""
        events = SqlEventLogStorageTable
        query = (
            db.select(events.c.partition)
            .distinct()
            .where(
                events.c.asset_key == asset_key.to_string(),
                events.c.partition.isnot(None),
                events.c.partition < first_kept,
            )
        )
        with self.index_connection() as conn:
            return sorted(row[0] for row in conn.execute(query))


EVENT_BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"  # read by DagsterInstance per event
EVENT_BATCH_SIZE = 100


class ProjectPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres storage whose URL is resolved as ``dagster_storage_url`` says, with
    an event log that can wipe partitions (``ProjectEventLogStorage``)."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
    ) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data)
        self._event_log_storage = ProjectEventLogStorage(postgres_url, should_autocreate_tables)
        # A range step materializes every day of its range (90 for a backfill); Dagster's
        # opt-in batch writes store them in one insert instead of one round of statements
        # each. Every process that opens the instance (run workers, daemon, CLI) loads this.
        os.environ.setdefault(EVENT_BATCH_SIZE_VARIABLE, str(EVENT_BATCH_SIZE))

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> ProjectPostgresStorage:
        return cls(postgres_url=dagster_storage_url(), inst_data=inst_data)


def prepare_dagster_home() -> Path:
    """Set DAGSTER_HOME (for this process and its children) unless the user has: a folder
    under ``MARKET_DATA_HOME`` holding a copy of the repository's ``dagster.yaml``, so
    Dagster's local files (compute logs, artifacts) stay out of the work tree."""
    os.environ["MARKET_DATA_HOME"] = str(settings.home())
    chosen = settings.dagster_home()
    if chosen:
        return Path(chosen)
    dagster_home = settings.home() / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def get_instance() -> DagsterInstance:
    prepare_dagster_home()
    return DagsterInstance.get()
