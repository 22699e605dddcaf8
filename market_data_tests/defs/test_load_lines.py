"""What a run's log says of each day it loaded."""

from market_data.defs.assets import describe_load
from market_data.warehouse.load import LoadResult


def test_a_day_without_a_session_says_so():
    line = describe_load(LoadResult(rows_copied=0, rows_deleted=0, rows_written=0, seconds=0.01))
    assert line == "no session (weekend or holiday): nothing to load"


def test_a_loaded_day_says_how_many_rows_from_where():
    result = LoadResult(
        rows_copied=1200, rows_deleted=30, rows_written=1200, seconds=0.5, sources=("flat_file",)
    )
    assert describe_load(result) == "1,200 rows loaded from flat_file, 30 replaced, 2,400 rows/s"
    # A session day whose file held none of the run's symbols is not a day without a session.
    empty = LoadResult(
        rows_copied=0, rows_deleted=0, rows_written=0, seconds=0.1, sources=("rest",)
    )
    assert describe_load(empty).startswith("0 rows loaded from rest")
