"""Corporate actions end to end, with real components: the local REST server speaking
Massive's reference endpoints (the demo's splits, dividends and FB → META rename), the
S3 server holding the demo's generated stocks files, PostgreSQL, and the assets run by
Dagster. The facts checked come from ``local/demo_reference.py``, not from the code
under test."""

from __future__ import annotations

import copy
import gzip
from datetime import date

import pytest
from dagster import DagsterInstance, materialize

from market_data.cli import main
from market_data.corporate_actions import massive
from market_data.corporate_actions.massive import refresh_splits
from market_data.corporate_actions.model import MalformedReference
from market_data.datasets import DATASETS
from market_data.defs.assets import DATASET_ASSETS, historical_bars
from market_data.defs.corporate_actions import CORPORATE_ACTIONS
from market_data.defs.resources import RestApiResource
from market_data.read import bars
from market_data.reports.against_massive import compare_adjusted
from market_data.sources.rest import RestAggregates
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.demo_actions import DEMO_API_KEY, demo_file_ticker, demo_price_factor
from market_data_local.demo_reference import demo_reference
from market_data_local.generate import generate_day_file
from market_data_local.rest_server import LocalRestServer
from market_data_tests.conftest import chain_resources

pytestmark = pytest.mark.slow  # reference data, reloads and verify --adjusted through runs

STOCKS = DATASETS["stocks"]
# NVDA's 4-for-1 split executes on Mon 11-10 (AAPL's dividend too); META was FB until 11-13.
DAYS = [date(2025, 11, 7), date(2025, 11, 10), date(2025, 11, 13), date(2025, 11, 14)]
WATCH = ("NVDA", "AAPL", "META")


def file_minutes(path, ticker: str) -> dict[int, tuple[float, float]]:
    """ms → (close, volume) of ``ticker``'s rows in a day file, read with plain text."""
    out = {}
    with gzip.open(path, "rt") as f:
        header = f.readline().strip().split(",")
        at = {name: i for i, name in enumerate(header)}
        for line in f:
            cells = line.rstrip("\n").split(",")
            if cells[0] == ticker:
                out[int(cells[at["window_start"]]) // 10**6] = (
                    float(cells[at["close"]]),
                    float(cells[at["volume"]]),
                )
    return out


def rest_bars_from(source):
    """The REST server's aggregates: a day's rows of the ticker from the generated file."""

    def bars_of(ticker: str, day: date) -> list[dict]:
        path = source / STOCKS.key(day)
        if not path.exists():
            return []
        with gzip.open(path, "rt") as f:
            header = f.readline().strip().split(",")
            rows = [dict(zip(header, line.strip().split(","), strict=True)) for line in f]
        return [
            {
                "t": int(r["window_start"]) // 10**6,
                "o": float(r["open"]),
                "h": float(r["high"]),
                "l": float(r["low"]),
                "c": float(r["close"]),
                "v": float(r["volume"]),
                "n": int(r["transactions"]),
            }
            for r in rows
            if r["ticker"] == ticker
        ]

    return bars_of


@pytest.fixture
def world(db, database_url, s3_client, s3_endpoint, bucket, tmp_path):
    source = tmp_path / "source"
    for day in DAYS:
        path = source / STOCKS.key(day)
        generate_day_file(STOCKS, day, path)
        s3_client.upload_file(str(path), bucket, STOCKS.key(day))
    for symbol in WATCH:
        add_to_watchlist(db, symbol)
    with LocalRestServer(
        DEMO_API_KEY, rest_bars_from(source), reference=demo_reference()
    ) as server:
        rest_api = RestApiResource(
            base_url=server.base_url, api_key=DEMO_API_KEY, requests_per_minute=0
        )
        resources = chain_resources(s3_endpoint, bucket, database_url, tmp_path, rest_api=rest_api)
        yield {"resources": resources, "source": source, "server": server, "url": database_url}


def refresh(resources):
    return materialize(
        CORPORATE_ACTIONS,
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def load(resources, day: date):
    result = materialize(
        [*DATASET_ASSETS, historical_bars],
        partition_key=day.isoformat(),
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert result.success, day


def test_the_assets_store_massives_reference_data_and_adjusted_reads_undo_the_split(world, db):
    result = refresh(world["resources"])
    assert result.success
    splits = db.execute(
        "SELECT ticker, execution_date, split_from, split_to FROM splits ORDER BY ticker"
    ).fetchall()
    assert splits == [("NVDA", date(2025, 11, 10), 1.0, 4.0)]
    meta = result.asset_materializations_for_node("splits")[0].metadata
    assert meta["row_count"].value == 1 and meta["newest"].value == "NVDA 4-for-1 on 2025-11-10"
    dividends = db.execute("SELECT ticker, ex_dividend_date, cash_amount FROM dividends").fetchall()
    assert ("AAPL", date(2025, 11, 10), 0.26) in dividends
    changes = db.execute("SELECT symbol, ticker, valid_from FROM ticker_changes").fetchall()
    assert ("META", "FB", date(2012, 5, 18)) in changes or any(t == "FB" for _, t, _ in changes)
    assert ("META", "META", date(2025, 11, 14)) in changes

    for day in DAYS:
        load(world["resources"], day)
    raw = bars("NVDA", DAYS[0], DAYS[-1], database_url=world["url"])
    adjusted = bars("NVDA", DAYS[0], DAYS[-1], adjust="splits", database_url=world["url"])
    first = raw["timestamp"].dt.date == DAYS[0]
    assert demo_price_factor("NVDA", DAYS[0]) == 4.0
    assert (raw[first]["close"] / adjusted[first]["close"]).round(12).eq(4.0).all()
    assert (adjusted[first]["volume"] / raw[first]["volume"]).round(12).eq(4.0).all()
    later = ~first
    assert (raw[later]["close"].to_numpy() == adjusted[later]["close"].to_numpy()).all()


def test_a_renamed_stock_is_loaded_under_its_symbol_from_its_former_tickers_rows(world, db):
    assert refresh(world["resources"]).success
    for day in DAYS:
        load(world["resources"], day)
    meta = bars("META", DAYS[0], DAYS[-1], database_url=world["url"])
    for day in DAYS:
        ticker = demo_file_ticker("META", day)
        want = file_minutes(world["source"] / STOCKS.key(day), ticker)
        got = meta[meta["timestamp"].dt.date == day]
        assert len(got) == len(want) > 0, day
        assert dict(
            zip(got["timestamp"].dt.as_unit("ms").astype("int64"), got["close"], strict=True)
        ) == {t: c for t, (c, _) in want.items()}
        stored = db.execute(
            "SELECT DISTINCT file_ticker FROM historical_bars WHERE symbol = 'META'"
            ' AND "timestamp" >= %s AND "timestamp" < %s',
            (STOCKS.window(day).start_ms, STOCKS.window(day).end_ms),
        ).fetchall()
        assert stored == [("FB" if ticker == "FB" else None,)]


def test_pagination_and_retried_429_and_5xx(world, db, monkeypatch):
    server = world["server"]
    monkeypatch.setattr(massive, "TICKERS_PER_REQUEST", 2)
    server.queue_fault(429, '{"status":"ERROR"}', {"Retry-After": "0"})
    server.queue_fault(503, "unavailable")
    client = RestAggregates(server.base_url, DEMO_API_KEY, requests_per_minute=0)
    client.backoff_seconds = 0.01
    listed = massive.fetch_dividends(client, ["AAPL", "MSFT", "NVDA"])
    assert {(d.ticker, d.ex_dividend_date) for d in listed} >= {
        ("AAPL", date(2025, 11, 10)),
        ("MSFT", date(2025, 11, 20)),
        ("NVDA", date(2025, 11, 5)),
    }
    asked = [r for r in server.state.requests if r.startswith("/stocks/v1/dividends")]
    assert len(asked) == 4  # two refused, then one request per group of two tickers
    # Each dividend listed three times (Massive repeats entries), two to a page.
    server.state.reference.dividends = [
        dict(d, id=f"{d.get('id')}-{i}") for i, d in enumerate(demo_reference().dividends * 3)
    ]
    monkeypatch.setattr(massive, "PAGE_SIZE", 2)
    again = massive.fetch_dividends(client, ["AAPL", "MSFT", "NVDA"])
    assert {(d.ticker, d.ex_dividend_date) for d in again} == {
        (d.ticker, d.ex_dividend_date) for d in listed
    }
    pages = [r for r in server.state.requests if "cursor=" in r and "dividends" in r]
    assert pages, "the listing was not paged through next_url"


def test_a_malformed_entry_stores_nothing_and_adjusted_reads_stay(world, db):
    assert refresh(world["resources"]).success
    load(world["resources"], DAYS[0])
    before = bars("NVDA", DAYS[0], DAYS[0], adjust="splits", database_url=world["url"])
    reference = world["server"].state.reference
    good = copy.deepcopy(reference.splits)
    reference.splits = [*good, dict(good[0], execution_date="2025-11-12", split_to=0, id="EBAD")]
    result = refresh(world["resources"])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error, message = failure.event_specific_data.error, ""
    while error is not None:  # Dagster wraps the asset's own error
        message, error = message + error.message, error.cause
    assert "Massive split of NVDA on 2025-11-12 (id EBAD): split_to is 0" in message
    assert db.execute("SELECT count(*) FROM splits").fetchone()[0] == 1
    after = bars("NVDA", DAYS[0], DAYS[0], adjust="splits", database_url=world["url"])
    assert before.equals(after)
    client = RestAggregates(world["server"].base_url, DEMO_API_KEY, requests_per_minute=0)
    with pytest.raises(MalformedReference):
        refresh_splits(db, client, ["NVDA"])


def test_verify_adjusted_agrees_with_massives_adjusted_bars(world, db, monkeypatch, capsys):
    assert refresh(world["resources"]).success
    for day in DAYS[:2]:
        load(world["resources"], day)
    client = RestAggregates(world["server"].base_url, DEMO_API_KEY, requests_per_minute=0)
    comparison = compare_adjusted(client, "NVDA", DAYS[0], DAYS[1], world["url"])
    assert comparison.minutes_compared > 0 and comparison.agrees, comparison
    close = next(f for f in comparison.fields if f.name == "close")
    assert 0 < close.rounding <= 0.00005 and close.max_abs <= close.rounding
    # Without the split on our side, the 4x difference is reported.
    db.execute("DELETE FROM splits")
    assert not compare_adjusted(client, "NVDA", DAYS[0], DAYS[1], world["url"]).agrees

    monkeypatch.setenv("MASSIVE_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("MASSIVE_API_BASE_URL", world["server"].base_url)
    monkeypatch.setenv("DATABASE_URL", world["url"])
    # A configured deployment: the command must not start the demo's servers.
    monkeypatch.setenv("MASSIVE_AWS_ACCESS_KEY", "test-access")
    monkeypatch.setenv("MASSIVE_S3_ENDPOINT", "http://127.0.0.1:1")
    args = ["verify", "--adjusted", "NVDA", "--start", "2025-11-07", "--end", "2025-11-10"]
    assert main(args) == 1
    assert "NO" in capsys.readouterr().out
    assert refresh(world["resources"]).success
    assert main(args) == 0
