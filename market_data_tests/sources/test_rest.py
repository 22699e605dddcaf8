"""The REST client against a real HTTP server on loopback speaking the aggregates API."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest

from market_data.datasets import DATASETS
from market_data.sources.rest import RestAggregates, RestAuthError, RestError, fetch_rest_day
from market_data.transform.parse import CandidateBars, finalize_candidates
from market_data_local.rest_server import LocalRestServer

DAY = date(2025, 11, 25)
OPEN_MS = 1764081000000  # 2025-11-25 09:30 ET
KEY = "test-rest-key-1234"


def minute_bars(n: int, with_volume: bool = True) -> list[dict]:
    bars = []
    for i in range(n):
        bar = {"o": 100 + i, "h": 101 + i, "l": 99 + i, "c": 100.5 + i, "t": OPEN_MS + i * 60_000}
        if with_volume:
            bar |= {"v": 1000.5 + i, "vw": 100.25 + i, "n": 10 + i}
        bars.append(bar)
    return bars


BARS = {"SPY": minute_bars(390), "I:SPX": minute_bars(390, with_volume=False), "QQQ": []}


@pytest.fixture
def server():
    with LocalRestServer(KEY, lambda ticker, day: BARS.get(ticker, [])) as s:
        yield s


def client(server, **kwargs) -> RestAggregates:
    options = {"requests_per_minute": 0, "backoff_seconds": 0.01} | kwargs
    return RestAggregates(base_url=server.base_url, api_key=KEY, **options)


def test_pages_are_followed_and_the_key_stays_in_the_header(server):
    from market_data.sources import rest

    original, rest.PAGE_LIMIT = rest.PAGE_LIMIT, 100  # four pages of 100, 100, 100, 90
    try:
        results = client(server).minute_bars("SPY", DAY)
    finally:
        rest.PAGE_LIMIT = original
    assert results == BARS["SPY"]
    assert len(server.state.requests) == 4
    assert all(KEY not in r for r in server.state.requests)
    assert "adjusted=false" in server.state.requests[0]
    assert all("cursor=" in r for r in server.state.requests[1:])


def test_an_empty_day_has_no_results_key(server):
    assert client(server).minute_bars("QQQ", DAY) == []


def test_429_then_success_honours_retry_after(server):
    server.queue_fault(
        429, json.dumps({"status": "ERROR", "error": "maximum requests"}), {"Retry-After": "1"}
    )
    started = time.monotonic()
    assert len(client(server).minute_bars("SPY", DAY)) == 390
    assert time.monotonic() - started >= 1.0
    assert len(server.state.requests) == 2


def test_500s_are_retried_then_reported(server):
    for _ in range(3):
        server.queue_fault(500, "oops")
    with pytest.raises(
        RestError, match=r"REST SPY 2025-11-25: gave up after 3 attempts \(HTTP 500\)"
    ):
        client(server, max_retries=2).minute_bars("SPY", DAY)


def test_403_fails_at_once_with_the_message(server):
    body = {"status": "NOT_AUTHORIZED", "message": "Your plan doesn't include this data timeframe."}
    server.queue_fault(403, json.dumps(body))
    with pytest.raises(
        RestAuthError,
        match=r"HTTP 403 Your plan doesn't include this data timeframe\. \(outside the plan's history\)",
    ):
        client(server).minute_bars("SPY", DAY)
    assert len(server.state.requests) == 1


def test_a_wrong_key_is_401_and_not_retried(server):
    with pytest.raises(RestAuthError, match="HTTP 401 Unknown API Key"):
        RestAggregates(base_url=server.base_url, api_key="wrong").minute_bars("SPY", DAY)
    assert len(server.state.requests) == 1


def test_a_malformed_body_is_an_error(server):
    server.queue_fault(200, "{not json")
    with pytest.raises(RestError, match="not JSON"):
        client(server).minute_bars("SPY", DAY)


def test_the_rate_limit_spaces_requests(server):
    c = client(server, requests_per_minute=600)  # one request per 0.1 s
    started = time.monotonic()
    for _ in range(4):
        c.minute_bars("QQQ", DAY)
    assert time.monotonic() - started >= 0.3


def rest_bars(dataset, rows):
    """REST rows finalised as the pipeline does (``transform.parse.finalize_candidates``)."""
    candidates = CandidateBars(rows=rows, rows_read=rows.num_rows)
    return finalize_candidates(candidates, dataset.window(DAY), f"REST {dataset.name} {DAY}")


def test_a_rest_day_becomes_bars(server):
    stocks = rest_bars(
        DATASETS["stocks"],
        fetch_rest_day(client(server), DATASETS["stocks"], DAY, frozenset({"SPY", "QQQ"})),
    )
    assert stocks.rows_kept == 390
    first = stocks.bars.to_pylist()[0]
    assert first == {
        "symbol": "SPY",
        "underlying": "SPY",
        "timestamp": OPEN_MS,
        "open": 100.0,
        "high": 101.0,
        "low": 99.0,
        "close": 100.5,
        "volume": 1000.5,
        "vwap": 100.25,
        "transactions": 10,
        "file_ticker": None,
    }
    indices = rest_bars(
        DATASETS["indices"],
        fetch_rest_day(client(server), DATASETS["indices"], DAY, frozenset({"SPX"})),
    )
    assert indices.bars.column("volume").null_count == 390
    assert all("adjusted" not in r for r in server.state.requests if "I:SPX" in r)


def test_a_timeout_is_retried_then_reported(server):
    server.queue_fault(200, "{}", delay_seconds=1.0)
    server.queue_fault(200, "{}", delay_seconds=1.0)
    with pytest.raises(RestError, match=r"gave up after 2 attempts \(ReadTimeout\)"):
        client(server, max_retries=1, timeout_seconds=0.3).minute_bars("SPY", DAY)


def test_pagination_that_never_ends_is_bounded(server):
    from market_data.sources import rest

    original, rest.PAGE_LIMIT = rest.PAGE_LIMIT, 10  # 39 pages for 390 bars
    try:
        with pytest.raises(RestError, match="more than 5 pages, stopping"):
            client(server, max_pages=5).minute_bars("SPY", DAY)
    finally:
        rest.PAGE_LIMIT = original
    assert len(server.state.requests) == 5


def test_a_utc_day_is_asked_for_in_epoch_milliseconds(server):
    from market_data.datasets import UTC_DATASETS

    crypto = UTC_DATASETS["crypto"]
    window = crypto.window(DAY)
    client(server).minute_bars("X:BTCUSD", DAY, window=window)
    [request] = server.state.requests
    assert f"/range/1/minute/{window.start_ms}/{window.end_ms - 1}?" in request
