"""The watchlist as people write it: minimal inserts, hand-made tables, junk symbols."""

from __future__ import annotations

from market_data.warehouse.db import connect
from market_data.warehouse.schema import apply_schema
from market_data.warehouse.watchlist import read_watchlist


def test_a_hand_made_watchlist_is_completed_by_the_schema(database_url):
    with connect(database_url) as conn:
        conn.execute("CREATE TABLE watchlist (symbol text PRIMARY KEY)")
        conn.execute("INSERT INTO watchlist(symbol) VALUES ('SPY')")
        apply_schema(conn)
        conn.execute("INSERT INTO watchlist(symbol) VALUES ('SPX')")
        entries = read_watchlist(conn).entries
    assert [(e.symbol, e.asset_class, e.include_options) for e in entries] == [
        ("SPX", "index", False),
        ("SPY", "stock", False),
    ]


def test_invalid_symbols_are_reported_and_skipped(db):
    db.execute(
        "INSERT INTO watchlist(symbol, include_options) VALUES"
        " ('qqq', true), ('SPY''; DROP TABLE watchlist; --', false), ('../etc', false),"
        " ('', false), ('\uff33\uff30\uff39', false), ('BRK.B', false)"
    )
    watchlist = read_watchlist(db)
    assert [(e.symbol, e.include_options) for e in watchlist.entries] == [
        ("BRK.B", False),
        ("QQQ", True),
    ]
    assert len(watchlist.invalid) == 4
