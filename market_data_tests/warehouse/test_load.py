"""Loading a day into a real PostgreSQL: replace semantics, idempotency, flat file beats REST."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from market_data.bar_schema import BARS_SCHEMA
from market_data.calendar import day_window
from market_data.datasets import DATASETS
from market_data.warehouse.load import DatasetBars, load_day
from market_data.warehouse.schema import SQL_DIR, apply_schema

DAY = date(2025, 11, 25)
WINDOW = day_window(DAY)
OPEN_MS = WINDOW.start_ms + (14 * 60 + 30) * 60_000 - 5 * 3_600_000  # 09:30 ET in EST


def bars(symbol: str, minutes: range, close: float = 10.0, underlying: str | None = None):
    rows = [
        {
            "symbol": symbol,
            "underlying": underlying or symbol,
            "timestamp": OPEN_MS + m * 60_000,
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": 100.0,
            "vwap": None,
            "transactions": 7,
        }
        for m in minutes
    ]
    return pa.Table.from_pylist(rows, schema=BARS_SCHEMA)


def table_rows(db, symbol: str | None = None):
    query = "SELECT symbol, timestamp, close, source FROM historical_bars"
    params: tuple = ()
    if symbol:
        query += " WHERE symbol = %s"
        params = (symbol,)
    return db.execute(query + " ORDER BY symbol, timestamp", params).fetchall()


def test_schema_is_applied_once(db):
    assert apply_schema(db) == []
    names = [r[0] for r in db.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == [p.name for p in sorted((SQL_DIR).glob("*.sql"))]
    assert names[:2] == ["001_watchlist.sql", "002_historical_bars.sql"]


def test_verification_query_runs_unchanged(db):
    load_day(
        db, WINDOW, [DatasetBars(DATASETS["stocks"], frozenset({"SPY"}), bars("SPY", range(3)))]
    )
    rows = db.execute(
        "SELECT symbol, timeframe, COUNT(*) as rows, MIN(to_timestamp(timestamp/1000)) as oldest_date,"
        " MAX(to_timestamp(timestamp/1000)) as newest_date FROM historical_bars"
        " GROUP BY symbol, timeframe ORDER BY symbol, timeframe;"
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("SPY", "1m", 3)]
    assert rows[0][3].isoformat() == "2025-11-25T14:30:00+00:00"


def test_reload_is_idempotent_and_replaces_the_day(db):
    stocks = DATASETS["stocks"]
    first = load_day(
        db,
        WINDOW,
        [
            DatasetBars(
                stocks,
                frozenset({"SPY", "QQQ"}),
                pa.concat_tables([bars("SPY", range(5)), bars("QQQ", range(2))]),
            )
        ],
    )
    assert first.rows_copied == 7 and first.rows_deleted == 0
    before = table_rows(db)
    again = load_day(
        db,
        WINDOW,
        [
            DatasetBars(
                stocks,
                frozenset({"SPY", "QQQ"}),
                pa.concat_tables([bars("SPY", range(5)), bars("QQQ", range(2))]),
            )
        ],
    )
    assert again.rows_deleted == 7
    assert table_rows(db) == before

    # A republished file with new values and one bar fewer for SPY, and no QQQ at all.
    load_day(
        db,
        WINDOW,
        [DatasetBars(stocks, frozenset({"SPY", "QQQ"}), bars("SPY", range(4), close=11.0))],
    )
    assert [(r[0], r[2]) for r in table_rows(db)] == [("SPY", 11.0)] * 4


def test_only_the_loaded_underlyings_are_replaced(db):
    stocks = DATASETS["stocks"]
    load_day(
        db,
        WINDOW,
        [
            DatasetBars(
                stocks,
                frozenset({"SPY", "QQQ"}),
                pa.concat_tables([bars("SPY", range(2)), bars("QQQ", range(2))]),
            )
        ],
    )
    # A backfill of QQQ alone leaves SPY untouched.
    load_day(
        db, WINDOW, [DatasetBars(stocks, frozenset({"QQQ"}), bars("QQQ", range(1), close=5.0))]
    )
    assert len(table_rows(db, "SPY")) == 2
    assert [(r[2]) for r in table_rows(db, "QQQ")] == [5.0]


def test_rest_never_overwrites_flat_file_and_flat_file_replaces_rest(db):
    stocks = DATASETS["stocks"]
    scope = frozenset({"SPY"})
    load_day(db, WINDOW, [DatasetBars(stocks, scope, bars("SPY", range(3), close=1.0), "rest")])
    assert {r[3] for r in table_rows(db)} == {"rest"}

    load_day(db, WINDOW, [DatasetBars(stocks, scope, bars("SPY", range(2), close=2.0))])
    # The file has two bars: the REST-only third bar is gone, the others are the file's.
    assert [(r[2], r[3]) for r in table_rows(db)] == [(2.0, "flat_file")] * 2

    load_day(db, WINDOW, [DatasetBars(stocks, scope, bars("SPY", range(4), close=3.0), "rest")])
    got = [(r[2], r[3]) for r in table_rows(db)]
    assert got == [(2.0, "flat_file")] * 2 + [(3.0, "rest")] * 2


def test_a_failed_load_leaves_the_table_as_it_was(db):
    stocks = DATASETS["stocks"]
    load_day(db, WINDOW, [DatasetBars(stocks, frozenset({"SPY"}), bars("SPY", range(3)))])
    before = table_rows(db)
    broken = bars("SPY", range(3)).set_column(3, "open", pa.nulls(3, pa.float64()))  # NOT NULL
    with pytest.raises(Exception, match="null value"):
        load_day(db, WINDOW, [DatasetBars(stocks, frozenset({"SPY"}), broken)])
    assert table_rows(db) == before


def test_month_partitions_cover_a_day_across_a_utc_month_end(db):
    window = day_window(date(2025, 11, 30))  # ends 2025-12-01 05:00 UTC
    load_day(db, window, [])
    names = {
        r[0]
        for r in db.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'historical_bars'::regclass"
        )
    }
    assert {"historical_bars_2025_11", "historical_bars_2025_12"} <= names


def test_a_conflict_outside_the_scope_falls_back_to_the_upsert(db):
    # The same symbol from two datasets: the second load cannot COPY straight in.
    load_day(
        db, WINDOW, [DatasetBars(DATASETS["stocks"], frozenset({"SPY"}), bars("SPY", range(3)))]
    )
    result = load_day(
        db,
        WINDOW,
        [DatasetBars(DATASETS["indices"], frozenset({"SPY"}), bars("SPY", range(3), close=7.0))],
    )
    assert result.rows_written == 3
    got = db.execute("SELECT close, dataset FROM historical_bars ORDER BY timestamp").fetchall()
    assert got == [(7.0, "indices")] * 3
