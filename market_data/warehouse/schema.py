"""The project's tables: ``sql/*.sql`` applied in order, once each, by the project itself.

Each file is recorded in ``schema_migrations`` after it ran, and the whole step holds
an advisory lock, so concurrent runs starting on a fresh database do not race.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

import psycopg

from market_data.errors import ConfigurationError


def _sql_dir() -> Path:
    """``sql/`` beside the package in a checkout (an editable install), else where a plain
    install put it (``share/market-data/sql``, under whichever prefix: a venv, ``--user``,
    ``--prefix``), as the distribution's own file list says."""
    checkout = Path(__file__).resolve().parents[2] / "sql"
    if checkout.is_dir():
        return checkout
    try:
        files = importlib.metadata.files("market-data") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name.endswith(".sql") and "share/market-data/sql" in file.as_posix():
            return Path(str(file.locate())).resolve().parent
    return checkout  # not installed: migration_files says none were found there


SQL_DIR = _sql_dir()
_MIGRATION_LOCK = 0x6D6B7464  # any constant shared by every process of the project


def migration_files(sql_dir: Path = SQL_DIR) -> list[Path]:
    files = sorted(sql_dir.glob("[0-9][0-9][0-9]_*.sql"))
    if not files:
        raise ConfigurationError(f"no migrations found in {sql_dir}")
    return files


def apply_schema(conn: psycopg.Connection, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply the migrations not yet applied; returns their names."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, sha256 text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        for path in migration_files(sql_dir):
            if path.name in done:
                continue
            text = path.read_text()
            conn.execute(text)  # trusted files of this repo
            conn.execute(
                "INSERT INTO schema_migrations (name, sha256) VALUES (%s, %s)",
                (path.name, hashlib.sha256(text.encode()).hexdigest()),
            )
            applied.append(path.name)
    return applied
