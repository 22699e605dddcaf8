"""The Dagster instance the project's commands use: ``dagster.yaml`` backed by PostgreSQL."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dagster import DagsterInstance

from market_data import settings

REPO_DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"


def psycopg2_url(url: str) -> str:
    """dagster-postgres needs the psycopg2 driver spelled out (platform-notes: a plain
    ``postgresql://`` URL maps to psycopg 3 under SQLAlchemy 2.1 and every event write fails)."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql+psycopg2://{rest}" if sep and scheme.split("+")[0] in (
        "postgresql", "postgres") else url


def prepare_dagster_home() -> Path:
    """Set DAGSTER_HOME and DAGSTER_PG_URL for this process and its children."""
    dagster_home = settings.home() / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_DAGSTER_YAML, dagster_home / "dagster.yaml")
    pg_url = settings.dagster_pg_url()
    if pg_url is None:
        from market_data.local.postgres import EmbeddedPostgres

        cluster = EmbeddedPostgres(settings.home() / "postgres")
        cluster.start()
        pg_url = cluster.ensure_database("dagster")
    os.environ["DAGSTER_PG_URL"] = psycopg2_url(pg_url)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def get_instance() -> DagsterInstance:
    prepare_dagster_home()
    return DagsterInstance.get()
