"""``sql/`` and ``market_data/bar_schema.py`` describe the same ``historical_bars``: a change
to one without the other fails here."""

from __future__ import annotations

from market_data.bar_schema import BARS_SCHEMA, COLUMNS, KEY, TABLE, TABLE_SCHEMA, sql_type


def test_historical_bars_has_the_modules_columns_types_and_nullability(db):
    rows = db.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (TABLE,),
    ).fetchall()
    expected = [(f.name, sql_type(f), "YES" if f.nullable else "NO") for f in TABLE_SCHEMA]
    assert rows == expected


def test_historical_bars_primary_key_is_the_modules_key(db):
    rows = db.execute(
        "SELECT a.attname FROM pg_index i"
        " JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.n",
        (TABLE,),
    ).fetchall()
    assert tuple(name for (name,) in rows) == KEY


def test_a_stored_bar_is_the_table_minus_what_a_load_adds():
    assert tuple(TABLE_SCHEMA.names) == COLUMNS
    for field in BARS_SCHEMA:
        assert TABLE_SCHEMA.field(field.name) == field
