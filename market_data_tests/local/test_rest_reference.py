"""The local REST server's reference endpoints and split-adjusted aggregates, in Massive's
shapes, and the demo's corporate actions as the generated files and the server tell them."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from market_data.calendar import NEW_YORK
from market_data.corporate_actions.massive import (
    composite_figi,
    fetch_dividends,
    fetch_splits,
    fetch_ticker_history,
)
from market_data.datasets import DATASETS
from market_data.sources.rest import RestAggregates, RestAuthError, RestNotFound
from market_data_local.demo_actions import (
    DEMO_API_KEY,
    DEMO_DIVIDENDS,
    DEMO_RENAMES,
    DEMO_SPLITS,
    demo_file_ticker,
    demo_price_factor,
)
from market_data_local.demo_reference import demo_reference
from market_data_local.demo_source import day_file_bars
from market_data_local.generate import generate_day_file
from market_data_local.rest_server import LocalRestServer, ReferenceData

pytestmark = pytest.mark.slow  # the demo REST server's reference pages

KEY = "reference-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def split(ticker: str, executed: str, split_from: float, split_to: float, **extra) -> dict:
    return {
        "adjustment_type": "forward_split" if split_to > split_from else "reverse_split",
        "execution_date": executed,
        "historical_adjustment_factor": split_from / split_to if split_to else None,
        "id": f"E{ticker}{executed}",
        "split_from": split_from,
        "split_to": split_to,
        "ticker": ticker,
    } | extra


def dividend(ticker: str, ex: str, cash: float, **extra) -> dict:
    return {
        "cash_amount": cash,
        "currency": "USD",
        "declaration_date": "2025-01-02",
        "distribution_type": "recurring",
        "ex_dividend_date": ex,
        "frequency": 4,
        "historical_adjustment_factor": 0.99,
        "id": f"E{ticker}{ex}",
        "pay_date": ex,
        "record_date": ex,
        "split_adjusted_cash_amount": cash,
        "ticker": ticker,
    } | extra


# Twelve splits, listed out of order.
SPLITS = [
    split("A", "2024-03-15", 1, 2),
    split("B", "2024-09-15", 1, 2),
    split("C", "2024-06-15", 1, 2),
    split("D", "2025-03-15", 1, 2),
    split("C", "2025-09-15", 1, 2),
    split("A", "2025-06-15", 1, 2),
    *(split(ticker, "2023-01-10", 1, 3) for ticker in "ABCDEF"),
]
DIVIDENDS = [dividend(t, f"2025-{m:02d}-10", 0.1 * m) for t in ("MSFT", "AAPL") for m in (2, 5, 8)]
META = {
    "ticker": "META",
    "name": "Meta Platforms, Inc. Class A Common Stock",
    "market": "stocks",
    "active": True,
    "composite_figi": "BBG000MM2P62",
    "share_class_figi": "BBG001SHARE1",
    "cik": "0001326801",
    "list_date": "2012-05-18",
}
META_EVENTS = {
    "name": META["name"],
    "composite_figi": "BBG000MM2P62",
    "cik": "0001326801",
    "events": [
        {"ticker_change": {"ticker": "META"}, "type": "ticker_change", "date": "2022-06-09"},
        {"ticker_change": {"ticker": "FB"}, "type": "ticker_change", "date": "2012-05-18"},
    ],
}
# The "META" of before: another security (an ETF) that had the ticker until 2021.
OTHER_META = {
    "ticker": "MTVR",
    "name": "Roundhill Ball Metaverse ETF",
    "market": "stocks",
    "active": True,
    "composite_figi": "BBG00XOTHER1",
    "share_class_figi": "BBG00XOTHER2",
    "cik": "0001976517",
    "list_date": "2021-06-30",
}
OTHER_META_EVENTS = {
    "name": OTHER_META["name"],
    "composite_figi": "BBG00XOTHER1",
    "cik": "0001976517",
    "events": [
        {"ticker_change": {"ticker": "MTVR"}, "type": "ticker_change", "date": "2021-12-01"},
        {"ticker_change": {"ticker": "META"}, "type": "ticker_change", "date": "2021-06-30"},
    ],
}


def reference() -> ReferenceData:
    return ReferenceData(
        splits=[dict(s) for s in SPLITS],
        dividends=[dict(d) for d in DIVIDENDS],
        tickers=[dict(META), dict(OTHER_META)],
        events=[META_EVENTS, OTHER_META_EVENTS],
    )


@pytest.fixture
def server():
    with LocalRestServer(KEY, lambda ticker, day: [], reference=reference()) as s:
        yield s


def get(server, path: str, **params) -> requests.Response:
    return requests.get(server.base_url + path, params=params, headers=AUTH, timeout=10)


def client(server) -> RestAggregates:
    return RestAggregates(server.base_url, KEY, requests_per_minute=0, backoff_seconds=0.01)


def follow(server, path: str, **params) -> tuple[list[dict], list[dict]]:
    """Every page of a listing, following next_url verbatim minus the host, as the Python
    client does; the results and the pages."""
    pages = [get(server, path, **params).json()]
    while pages[-1].get("next_url"):
        parts = urlsplit(pages[-1]["next_url"])
        assert (parts.scheme, parts.netloc) == ("https", "api.massive.com")
        assert [k for k, _ in parse_qsl(parts.query)] == ["cursor"]
        pages.append(get(server, parts.path + "?" + parts.query).json())
    return [r for page in pages for r in page["results"]], pages


# --- listings ---------------------------------------------------------------------------------


def test_splits_come_in_pages_newest_first_with_a_cursor_only_next_url(server):
    results, pages = follow(server, "/stocks/v1/splits", limit=5)
    assert [len(p["results"]) for p in pages] == [5, 5, 2]
    assert all(p["status"] == "OK" and p["request_id"] for p in pages)
    assert "next_url" not in pages[-1]
    assert results == sorted(SPLITS, key=lambda s: s["execution_date"], reverse=True)
    # Massive's cursors are base64 of the query; this one too, filters included.
    cursor = dict(parse_qsl(urlsplit(pages[0]["next_url"]).query))["cursor"]
    assert dict(parse_qsl(base64.urlsafe_b64decode(cursor).decode())) == {
        "limit": "5",
        "offset": "5",
    }


def test_the_filters_stay_on_every_page(server):
    results, pages = follow(server, "/stocks/v1/splits", **{"ticker.any_of": "A,B", "limit": 1})
    assert len(pages) == len(results) == 5
    assert {r["ticker"] for r in results} == {"A", "B"}
    assert [r["execution_date"] for r in results] == sorted(
        (r["execution_date"] for r in results), reverse=True
    )


def test_the_client_reads_every_page(server, monkeypatch):
    from market_data.corporate_actions import massive

    monkeypatch.setattr(massive, "PAGE_SIZE", 2)
    splits = fetch_splits(client(server), ["A", "B", "C", "D", "E", "F"])
    assert len(splits) == len(SPLITS)
    assert len(server.state.requests) == 6  # 12 entries, 2 a page


@pytest.mark.parametrize(
    ("params", "wanted"),
    [
        ({"ticker": "A"}, {("A", "2024-03-15"), ("A", "2025-06-15"), ("A", "2023-01-10")}),
        ({"ticker": "a"}, set()),  # case-sensitive, as Massive's
        ({"ticker.any_of": "E,F,Z"}, {("E", "2023-01-10"), ("F", "2023-01-10")}),
        (
            {"execution_date.gte": "2025-06-15", "execution_date.lte": "2025-09-15"},
            {("A", "2025-06-15"), ("C", "2025-09-15")},
        ),
        (
            {"execution_date.gt": "2025-06-15", "execution_date.lt": "2026-01-01"},
            {("C", "2025-09-15")},
        ),
        ({"execution_date": "2024-09-15"}, {("B", "2024-09-15")}),
        ({"ticker.gte": "E"}, {("E", "2023-01-10"), ("F", "2023-01-10")}),
        ({"adjustment_type": "reverse_split"}, set()),
    ],
)
def test_split_filters(server, params, wanted):
    body = get(server, "/stocks/v1/splits", **params).json()
    assert {(r["ticker"], r["execution_date"]) for r in body["results"]} == wanted


def test_sort_limit_and_the_dividends_default_order(server):
    ascending = get(server, "/stocks/v1/splits", sort="execution_date.asc").json()["results"]
    assert [r["execution_date"] for r in ascending] == sorted(s["execution_date"] for s in SPLITS)
    by_two = get(server, "/stocks/v1/splits", sort="ticker.asc,execution_date.desc").json()
    assert [(r["ticker"], r["execution_date"]) for r in by_two["results"]] == sorted(
        ((s["ticker"], s["execution_date"]) for s in SPLITS),
        key=lambda k: (k[0], -int(k[1].replace("-", ""))),
    )
    dividends = get(server, "/stocks/v1/dividends").json()["results"]
    assert [d["ticker"] for d in dividends] == ["AAPL"] * 3 + ["MSFT"] * 3  # ticker.asc
    assert set(dividends[0]) == set(DIVIDENDS[0])
    within = get(
        server,
        "/stocks/v1/dividends",
        **{"ticker": "MSFT", "ex_dividend_date.gte": "2025-05-01", "frequency": "4"},
    ).json()["results"]
    assert [d["ex_dividend_date"] for d in within] == ["2025-05-10", "2025-08-10"]


def test_the_default_limit_is_100_and_the_maximum_5000(server):
    server.state.reference.dividends = [
        dividend("T", f"2025-01-{1 + i % 28:02d}", 0.01, id=f"E{i}") for i in range(150)
    ]
    first = get(server, "/stocks/v1/dividends").json()
    assert len(first["results"]) == 100 and first["next_url"]
    assert len(get(server, "/stocks/v1/dividends", limit=5000).json()["results"]) == 150
    for bad in ("5001", "0", "ten"):
        answer = get(server, "/stocks/v1/dividends", limit=bad)
        assert answer.status_code == 400, bad
        assert answer.json()["status"] == "ERROR"
    assert get(server, "/stocks/v1/splits", sort="split_ratio.desc").status_code == 400


def test_entries_are_served_verbatim_even_when_wrong(server):
    zero = split("Z", "2025-02-03", 1, 0)
    twice = split("SHOP", "2022-06-29", 1, 10)
    projected = dividend("CSSEN", "2030-06-12", 0.5, declaration_date="2020-09-09")
    server.state.reference.splits += [zero, twice, dict(twice)]
    server.state.reference.dividends.append(projected)
    listed = get(server, "/stocks/v1/splits", **{"ticker.any_of": "Z,SHOP"}).json()["results"]
    assert sorted(listed, key=lambda s: s["ticker"]) == [twice, twice, zero]
    assert get(server, "/stocks/v1/dividends", ticker="CSSEN").json()["results"] == [projected]


# --- ticker events and details ----------------------------------------------------------------


def test_ticker_events_by_ticker_or_figi(server):
    body = get(server, "/vX/reference/tickers/META/events", types="ticker_change").json()
    assert body["status"] == "OK" and body["request_id"]
    assert body["results"] == META_EVENTS
    by_figi = get(server, "/vX/reference/tickers/BBG000MM2P62/events").json()
    assert by_figi["results"] == META_EVENTS
    missing = get(server, "/vX/reference/tickers/NOPE/events", types="ticker_change")
    assert missing.status_code == 404 and missing.json()["status"] == "NOT_FOUND"


def test_ticker_details_at_a_point_in_time(server):
    now = get(server, "/v3/reference/tickers/META").json()
    assert now["status"] == "OK" and now["results"] == META
    former = get(server, "/v3/reference/tickers/FB", date="2020-01-02").json()["results"]
    assert former["ticker"] == "FB" and former["composite_figi"] == META["composite_figi"]
    # The META of 2021 was another security; today FB names nothing.
    other = get(server, "/v3/reference/tickers/META", date="2021-07-01").json()["results"]
    assert other["composite_figi"] == OTHER_META["composite_figi"]
    for path, params in (
        ("/v3/reference/tickers/FB", {}),
        ("/v3/reference/tickers/FB", {"date": "2012-05-17"}),  # before its listing
        ("/v3/reference/tickers/META", {"date": "2022-01-03"}),  # between the two
        ("/v3/reference/tickers/NOPE", {}),
    ):
        answer = get(server, path, **params)
        assert answer.status_code == 404, (path, params)
        assert answer.json()["status"] == "NOT_FOUND"
    assert get(server, "/v3/reference/tickers/FB", date="2020-13-01").status_code == 400


def test_the_client_confirms_a_former_ticker_by_its_figi(server):
    c = client(server)
    history = fetch_ticker_history(c, "META")
    assert [(p.ticker, p.valid_from) for p in history.periods] == [
        ("FB", date(2012, 5, 18)),
        ("META", date(2022, 6, 9)),
    ]
    assert composite_figi(c, "FB") is None
    assert composite_figi(c, "FB", date(2022, 6, 8)) == "BBG000MM2P62"


# --- keys, faults, limits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/stocks/v1/splits",
        "/stocks/v1/dividends",
        "/vX/reference/tickers/META/events",
        "/v3/reference/tickers/META",
    ],
)
def test_a_wrong_key_is_refused_on_every_path(server, path):
    answer = requests.get(server.base_url + path, headers={"Authorization": "Bearer x"}, timeout=5)
    assert answer.status_code == 401
    assert requests.get(server.base_url + path, timeout=5).status_code == 401
    with pytest.raises(RestAuthError):
        RestAggregates(server.base_url, "wrong", requests_per_minute=0).get(path, {}, path)


def test_faults_and_the_plan_limit_apply_to_the_reference_paths(server):
    server.queue_fault(429, json.dumps({"status": "ERROR"}), {"Retry-After": "0"})
    server.queue_fault(502, "bad gateway")
    assert len(fetch_dividends(client(server), ["AAPL"])) == 3
    assert len(server.state.requests) == 3
    server.state.max_per_second = 1
    assert get(server, "/stocks/v1/splits").status_code == 200
    assert get(server, "/stocks/v1/splits").status_code == 429
    assert server.state.rate_limited == 1
    server.state.max_per_second = None
    with pytest.raises(RestNotFound):
        client(server).get("/v3/reference/tickers/NOPE", {}, "NOPE")


# --- split-adjusted aggregates ----------------------------------------------------------------

DAYS = (date(2025, 11, 7), date(2025, 11, 10))  # a 4-for-1 split executed on the second


def ms(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK).timestamp() * 1000)


def raw_bars(ticker: str, day: date) -> list[dict]:
    if ticker == "I:SPX":
        return [{"o": 6001.25, "h": 6002.5, "l": 6000.0, "c": 6001.0, "t": ms(day, 9, 30)}]
    # 19:59 ET on the 7th is 00:59 UTC on the 8th: still the 7th in New York.
    minutes = [(9, 30), (9, 31), (19, 59)]
    return [
        {
            "o": 563.13 + i,
            "h": 563.99 + i,
            "l": 562.01 + i,
            "c": 563.5 + i,
            "v": 1001.0 + i,
            "vw": 563.4567 + i,
            "n": 7,
            "t": ms(day, h, m),
        }
        for i, (h, m) in enumerate(minutes)
    ]


@pytest.fixture
def bars_server():
    data = ReferenceData(
        splits=[split("NVDA", "2025-11-10", 1, 4), split("I:SPX", "2025-11-10", 1, 4)]
    )
    with LocalRestServer(KEY, raw_bars, reference=data) as s:
        yield s


def aggregates(server, ticker: str, day: date, **params) -> dict:
    path = f"/v2/aggs/ticker/{ticker}/range/1/minute/{day}/{day}"
    return get(server, path, **params).json()


def test_adjusted_bars_before_a_split_are_divided_and_rounded(bars_server):
    before, after = DAYS
    raw = raw_bars("NVDA", before)
    for params in ({}, {"adjusted": "true"}):  # adjusted is the default
        body = aggregates(bars_server, "NVDA", before, **params)
        assert body["adjusted"] is True
        for got, bar in zip(body["results"], raw, strict=True):
            for key in ("o", "h", "l", "c", "vw"):
                assert got[key] == round(bar[key] / 4, 4)
            assert got["v"] == bar["v"] * 4 and got["n"] == bar["n"] and got["t"] == bar["t"]
    assert aggregates(bars_server, "NVDA", before)["results"][0]["vw"] == 140.8642  # 140.864175
    unadjusted = aggregates(bars_server, "NVDA", before, adjusted="false")
    assert unadjusted["adjusted"] is False and unadjusted["results"] == raw
    # From the execution date on, and for indices, nothing changes.
    assert aggregates(bars_server, "NVDA", after)["results"] == raw_bars("NVDA", after)
    spx = aggregates(bars_server, "I:SPX", before)
    assert "adjusted" not in spx and spx["results"] == raw_bars("I:SPX", before)


def test_adjusted_false_stays_on_the_next_pages(bars_server):
    client_ = client(bars_server)
    from market_data.sources import rest

    original, rest.PAGE_LIMIT = rest.PAGE_LIMIT, 1
    try:
        assert client_.minute_bars("NVDA", DAYS[0], adjusted=False) == raw_bars("NVDA", DAYS[0])
        adjusted = client_.minute_bars("NVDA", DAYS[0], adjusted=True)
    finally:
        rest.PAGE_LIMIT = original
    assert [b["c"] for b in adjusted] == [round(b["c"] / 4, 4) for b in raw_bars("NVDA", DAYS[0])]


def test_every_listed_split_is_applied_and_unusable_ones_skipped(bars_server):
    splits = bars_server.state.reference.splits
    splits += [split("NVDA", "2025-11-10", 1, 4), split("NVDA", "2025-11-12", 1, 0)]
    splits.append(split("NVDA", "2025-11-20", 3, 1) | {"execution_date": None})
    body = aggregates(bars_server, "NVDA", DAYS[0])
    # Massive applies a split listed twice twice (polygon-io/issues#311); so does this server.
    assert body["results"][0]["c"] == round(raw_bars("NVDA", DAYS[0])[0]["c"] / 16, 4)


# --- the demo's corporate actions ---------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    for day in (date(2025, 11, 7), date(2025, 11, 10), date(2025, 11, 17), date(2025, 11, 18)):
        generate_day_file(DATASETS["stocks"], day, root / DATASETS["stocks"].key(day))
    return root


def test_the_demo_facts():
    assert {(s.ticker, s.execution_date, s.split_from, s.split_to) for s in DEMO_SPLITS} == {
        ("NVDA", date(2025, 11, 10), 1, 4),
        ("NA", date(2025, 11, 18), 5, 1),
    }
    assert demo_price_factor("NVDA", date(2025, 11, 7)) == 4.0
    assert demo_price_factor("NVDA", date(2025, 11, 10)) == 1.0
    assert demo_price_factor("NA", date(2025, 11, 17)) == 0.2
    assert demo_price_factor("AAPL", date(2025, 11, 7)) == 1.0
    assert [(r.symbol, r.former, r.changed) for r in DEMO_RENAMES] == [
        ("META", "FB", date(2025, 11, 14))
    ]
    assert demo_file_ticker("META", date(2025, 11, 13)) == "FB"
    assert demo_file_ticker("META", date(2025, 11, 14)) == "META"
    assert {d.ticker for d in DEMO_DIVIDENDS} == {"AAPL", "MSFT", "NVDA"}
    assert demo_reference() == demo_reference()  # fixed, whatever the day


def test_the_demo_reference_data_as_the_client_reads_it():
    with LocalRestServer(DEMO_API_KEY, lambda t, d: [], reference=demo_reference()) as s:
        c = RestAggregates(s.base_url, DEMO_API_KEY, requests_per_minute=0)
        splits = fetch_splits(c, ["NVDA", "NA", "AAPL", "META"])
        dividends = fetch_dividends(c, ["NVDA", "AAPL", "MSFT", "SPY"])
        history = fetch_ticker_history(c, "META")
    assert [(s.ticker, s.execution_date, s.price_factor) for s in splits] == [
        ("NA", date(2025, 11, 18), 5.0),
        ("NVDA", date(2025, 11, 10), 0.25),
    ]
    assert [(d.ticker, d.ex_dividend_date, d.cash_amount) for d in dividends] == [
        ("AAPL", date(2025, 11, 10), 0.26),
        ("MSFT", date(2025, 11, 20), 0.91),
        ("NVDA", date(2025, 11, 5), 0.04),
    ]
    nvda = next(d for d in demo_reference().dividends if d["ticker"] == "NVDA")
    assert nvda["split_adjusted_cash_amount"] == 0.01  # before the 4-for-1
    assert [(p.ticker, p.valid_from) for p in history.periods] == [
        ("FB", date(2012, 5, 18)),
        ("META", date(2025, 11, 14)),
    ]
    assert history.left_out == []


def closes(bars: list[dict]) -> tuple[float, float]:
    return bars[0]["o"], bars[-1]["c"]


@pytest.mark.parametrize(
    ("ticker", "before", "on", "factor"),
    [
        ("NVDA", date(2025, 11, 7), date(2025, 11, 10), 4.0),
        ("NA", date(2025, 11, 17), date(2025, 11, 18), 0.2),
    ],
)
def test_the_demo_files_jump_at_a_split_and_the_adjusted_series_does_not(
    demo_files, ticker, before, on, factor
):
    source = day_file_bars(demo_files)
    with LocalRestServer(DEMO_API_KEY, source, reference=demo_reference()) as s:
        c = RestAggregates(s.base_url, DEMO_API_KEY, requests_per_minute=0)
        raw_before = c.minute_bars(ticker, before, adjusted=False)
        raw_on = c.minute_bars(ticker, on, adjusted=False)
        adjusted_before = c.minute_bars(ticker, before, adjusted=True)
        adjusted_on = c.minute_bars(ticker, on, adjusted=True)
    assert raw_before and raw_on
    assert raw_on == adjusted_on == source(ticker, on)
    jump = raw_on[0]["o"] / raw_before[-1]["c"]
    assert jump == pytest.approx(1 / factor, rel=0.25)
    assert adjusted_on[0]["o"] / adjusted_before[-1]["c"] == pytest.approx(1, rel=0.25)
    for raw, adjusted in zip(raw_before, adjusted_before, strict=True):
        assert adjusted["c"] == round(raw["c"] / factor, 4)
        assert adjusted["v"] == pytest.approx(raw["v"] * factor)


def test_the_demo_files_name_meta_fb_before_its_rename(demo_files):
    source = day_file_bars(demo_files)
    assert source("FB", date(2025, 11, 10)) and not source("META", date(2025, 11, 10))
    assert source("META", date(2025, 11, 17)) and not source("FB", date(2025, 11, 17))
    # One company: its price goes on across the rename.
    last, first = (
        source("FB", date(2025, 11, 10))[-1]["c"],
        source("META", date(2025, 11, 17))[0]["o"],
    )
    assert first / last == pytest.approx(1, rel=0.1)
