"""``market-data bars``: the CSV is ``bars()`` as text; a bad request is one line and exit 2."""

from __future__ import annotations

import io
from datetime import date, time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from market_data.cli import main
from market_data.read import bars
from market_data_tests.read.stored_minutes import write_minutes

DAY = date(2025, 11, 28)  # the early close


@pytest.fixture
def url(db, database_url, monkeypatch) -> str:
    write_minutes(db, "SPY", [DAY], dataset="stocks", seed=5)
    write_minutes(db, "SPX", [DAY], dataset="indices", hours=(time(9, 30), time(13)), seed=6)
    monkeypatch.setenv("MARKET_DATA_READ_URL", database_url)
    return database_url


@pytest.mark.parametrize(
    ("timeframe", "session"), [("1min", "all"), ("5min", "regular"), ("1d", "extended")]
)
def test_the_csv_is_bars_as_text(url, capsysbinary, timeframe, session):
    args = [
        "bars",
        "--symbols",
        "SPY,SPX",
        "--start",
        DAY.isoformat(),
        "--end",
        DAY.isoformat(),
        "--timeframe",
        timeframe,
        "--session",
        session,
    ]
    assert main(args) == 0
    text = capsysbinary.readouterr().out.decode()
    header, first = text.splitlines()[:2]
    assert header == "symbol,timestamp,open,high,low,close,volume,transactions"
    assert first.split(",")[1].endswith("-05:00")
    got = pd.read_csv(
        io.StringIO(text), keep_default_na=False, na_values=[""], dtype={"volume": float}
    )
    want = bars(["SPY", "SPX"], DAY, DAY, timeframe=timeframe, session=session)
    assert got["symbol"].tolist() == want["symbol"].tolist()
    assert got["timestamp"].tolist() == [t.isoformat() for t in want["timestamp"]]
    for column in ("open", "high", "low", "close", "volume"):
        pd.testing.assert_series_equal(got[column], want[column], check_names=False)
    assert got["transactions"].astype("Int64").tolist() == want["transactions"].tolist()
    assert ",SPX," not in text or ",," in text  # an index's volume and transactions are empty


def test_parquet_to_a_file(url, tmp_path):
    out = tmp_path / "bars.parquet"
    args = [
        "bars",
        "--symbols",
        "SPY",
        "--start",
        "2025-11-28",
        "--end",
        "2025-11-28",
        "--timeframe",
        "15min",
        "--format",
        "parquet",
        "--output",
        str(out),
    ]
    assert main(args) == 0
    pd.testing.assert_frame_equal(
        pq.read_table(out).to_pandas(types_mapper={}.get).astype({"transactions": "Int64"}),
        bars("SPY", DAY, DAY, timeframe="15min"),
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--symbols", "NOPE"], "no bars are stored for NOPE"),
        (["--timeframe", "2h"], "timeframe must be one of"),
        (["--start", "2025-11-29"], "the range is empty"),
        (["--adjust", "dividends"], "adjust must be one of"),
        (["--format", "xlsx"], "--format must be csv or parquet"),
    ],
)
def test_a_bad_request_is_one_line_and_exit_2(url, capsys, extra, message):
    args = {"--symbols": "SPY", "--start": "2025-11-28", "--end": "2025-11-28"}
    args |= dict(zip(extra[::2], extra[1::2], strict=True))
    assert main(["bars", *[x for pair in args.items() for x in pair]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("market-data bars: ")
