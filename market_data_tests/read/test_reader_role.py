"""``market_data_reader``: a backtest's login in it reads bars and can do nothing else."""

from __future__ import annotations

import uuid
from datetime import date, time

import psycopg
import pytest

from market_data.read import bars
from market_data.warehouse.schema import SQL_DIR, apply_schema
from market_data_tests.read.stored_minutes import write_minutes

DAY = date(2025, 11, 25)


@pytest.fixture
def reader_url(db, database_url):
    login = f"backtest_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE ROLE {login} LOGIN IN ROLE market_data_reader")
    yield database_url.replace("postgres@", f"{login}@", 1)
    db.execute(f"DROP OWNED BY {login}")
    db.execute(f"DROP ROLE {login}")


def test_the_reader_reads_bars_and_nothing_else(db, reader_url):
    write_minutes(db, "SPY", [DAY], dataset="stocks", hours=(time(9, 30), time(16)))
    assert len(bars("SPY", DAY, DAY, timeframe="1h", database_url=reader_url)) == 7
    with psycopg.connect(reader_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM watchlist")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM historical_bars")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO daily_bars_days (day) VALUES ('2025-11-25')")
    assert db.execute(
        "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'market_data_reader'"
    ).fetchone() == (False,)


def test_the_role_migration_is_idempotent(db):
    sql = (SQL_DIR / "005_reader_role.sql").read_text()
    db.execute(sql)
    db.execute(sql)
    assert apply_schema(db) == []
