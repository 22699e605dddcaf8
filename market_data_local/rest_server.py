"""A local HTTP server that speaks Massive's REST API, for the demo and the tests.

It answers, in the response shapes of Massive's API
(``../shared/reference/massive-corporate-actions.md``):

- ``GET /v2/aggs/ticker/{ticker}/range/1/minute/{from}/{to}``: minute bars from a
  ``BarSource`` (given, or read from generated day files). Pages of ``limit`` bars linked
  by ``next_url`` with a cursor, no ``results`` key on an empty day, indices without
  ``v``/``vw``/``n``. ``adjusted=true`` (the default; not for indices) adjusts stock
  bars for the splits of ``ReferenceData`` as Massive does: prices times the product of
  ``split_from / split_to`` over the ticker's splits executed after the bar's New York
  day, rounded to 4 decimals; volumes divided by the same product.
- ``GET /stocks/v1/splits`` and ``GET /stocks/v1/dividends``: the entries of
  ``ReferenceData`` filtered (``ticker``, ``ticker.any_of``, ranges on the dates with
  ``.gt/.gte/.lt/.lte``, …), sorted (``sort``) and paged (``limit``, ``next_url``).
- ``GET /vX/reference/tickers/{id}/events``: a security's ticker changes.
- ``GET /v3/reference/tickers/{ticker}`` (``date=`` for a point in time): its details,
  under the ticker in force then; 404 for a ticker not in force then.

The reference entries are served verbatim (plain dicts in Massive's item shapes), so a
test can hand the client what Massive gets wrong: a zero ratio, a split listed twice, a
projected dividend. Every path shares the same request log, key check, scripted faults
(429 with ``Retry-After``, 5xx, 403, a malformed body, queued per request) and plan
limit (429 above ``max_per_second``).

``python -m market_data_local.rest_server --root DIR --port N`` serves the generated day
files under ``DIR`` and the demo's reference data (``demo_reference``) with the demo key.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from market_data.calendar import NEW_YORK
from market_data.errors import MarketDataError

# ticker, day -> list of REST result dicts (t in ms), or None when unknown
BarSource = Callable[[str, date], list[dict]]

PUBLIC_BASE = "https://api.massive.com"  # what next_url names, as Massive's own pages do
AGGREGATES_PAGE = 5000  # the aggregates' default limit
REFERENCE_PAGE = 100  # the reference listings' default limit
REFERENCE_MAX_PAGE = 5000
ADJUSTED_DECIMALS = 4  # Massive rounds split-adjusted prices


@dataclass
class ReferenceData:
    """Massive's reference data as its endpoints give it, each entry a plain dict served
    verbatim:

    - ``splits``: items of ``/stocks/v1/splits`` (``adjustment_type``, ``execution_date``,
      ``historical_adjustment_factor``, ``id``, ``split_from``, ``split_to``, ``ticker``);
    - ``dividends``: items of ``/stocks/v1/dividends`` (``cash_amount``, ``currency``,
      ``declaration_date``, ``distribution_type``, ``ex_dividend_date``, ``frequency``,
      ``historical_adjustment_factor``, ``id``, ``pay_date``, ``record_date``,
      ``split_adjusted_cash_amount``, ``ticker``);
    - ``tickers``: ``results`` of ``/v3/reference/tickers/{ticker}`` as of today, one per
      security (``ticker``, ``name``, ``market``, ``active``, ``composite_figi``,
      ``share_class_figi``, ``cik``, ``list_date``, …);
    - ``events``: ``results`` of ``/vX/reference/tickers/{id}/events`` (``name``,
      ``composite_figi``, ``cik``, ``events``: ``{"ticker_change": {"ticker": …},
      "type": "ticker_change", "date": …}``), joined to ``tickers`` by composite FIGI.

    A security's ticker on a day is the one of its last ``ticker_change`` event dated on
    or before it (none before its first event); without events, its ``ticker`` from its
    ``list_date`` on, until its ``delisted_utc``.
    """

    splits: list[dict] = field(default_factory=list)
    dividends: list[dict] = field(default_factory=list)
    tickers: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    def split_factor(self, ticker: str, day: date) -> float:
        """What Massive multiplies a price of ``ticker`` on ``day`` by when adjusting: the
        product of ``split_from / split_to`` over the splits listed for the ticker with an
        execution date after ``day``, every listing counted (Massive's own adjustment
        applies a split listed twice twice). An entry without a usable ratio or date is
        left out."""
        factor = 1.0
        for split in self.splits:
            if split.get("ticker") != ticker:
                continue
            executed = _iso_date(split.get("execution_date"))
            ratio_from, ratio_to = split.get("split_from"), split.get("split_to")
            if executed is None or executed <= day:
                continue
            if not (_positive_number(ratio_from) and _positive_number(ratio_to)):
                continue
            factor *= float(ratio_from) / float(ratio_to)  # type: ignore[arg-type]
        return factor

    def _events_of(self, details: dict) -> dict | None:
        figi = details.get("composite_figi")
        return next(
            (e for e in self.events if figi and e.get("composite_figi") == figi),
            None,
        )

    def ticker_on(self, details: dict, day: date) -> str | None:
        """The ticker the security of ``details`` had on ``day``; None: not listed then."""
        delisted = _iso_date(str(details.get("delisted_utc") or "")[:10])
        if delisted is not None and day >= delisted:
            return None
        events = self._events_of(details)
        changes = sorted(
            (event["date"], event["ticker_change"]["ticker"])
            for event in (events or {}).get("events") or []
            if isinstance(event, dict)
            and (event.get("type") or event.get("event_type")) == "ticker_change"
            and isinstance(event.get("date"), str)
            and isinstance(event.get("ticker_change"), dict)
            and isinstance(event["ticker_change"].get("ticker"), str)
        )
        if changes:
            in_force = [ticker for since, ticker in changes if since <= day.isoformat()]
            return in_force[-1] if in_force else None
        listed = _iso_date(details.get("list_date"))
        if listed is not None and day < listed:
            return None
        ticker = details.get("ticker")
        return ticker if isinstance(ticker, str) else None

    def ticker_details(self, ticker: str, day: date | None = None) -> dict | None:
        """``/v3/reference/tickers/{ticker}``'s ``results``: today's entry of the security
        named ``ticker`` now, or (``day``) of the one it named that day, with that ticker."""
        for details in self.tickers:
            if day is None:
                if details.get("ticker") == ticker:
                    return dict(details)
            elif self.ticker_on(details, day) == ticker:
                return dict(details, ticker=ticker, active=True)
        return None

    def ticker_events(self, identifier: str, types: Iterable[str] | None = None) -> dict | None:
        """``/vX/reference/tickers/{id}/events``'s ``results`` for a composite FIGI or the
        security a ticker names today; None when neither is known."""
        events = next((e for e in self.events if e.get("composite_figi") == identifier), None)
        if events is None:
            details = self.ticker_details(identifier)
            if details is None:
                return None
            events = self._events_of(details) or {
                "name": details.get("name"),
                "composite_figi": details.get("composite_figi"),
                "cik": details.get("cik"),
                "events": [],
            }
        if types is None:
            return dict(events)
        wanted = set(types)
        kept = [
            e
            for e in events.get("events") or []
            if not isinstance(e, dict) or (e.get("type") or e.get("event_type")) in wanted
        ]
        return dict(events, events=kept)


def _iso_date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _positive_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


@dataclass(frozen=True)
class _Listing:
    """A reference listing: where its entries are, which fields filter it, its order."""

    entries: Callable[[ReferenceData], list[dict]]
    fields: tuple[str, ...]  # the items' fields, the columns ``sort`` may name
    filters: dict[str, str]  # field -> "text" or "number"
    default_sort: str


LISTINGS = {
    "/stocks/v1/splits": _Listing(
        lambda reference: reference.splits,
        (
            "adjustment_type",
            "execution_date",
            "historical_adjustment_factor",
            "id",
            "split_from",
            "split_to",
            "ticker",
        ),
        {"ticker": "text", "execution_date": "text", "adjustment_type": "text"},
        "execution_date.desc",
    ),
    "/stocks/v1/dividends": _Listing(
        lambda reference: reference.dividends,
        (
            "cash_amount",
            "currency",
            "declaration_date",
            "distribution_type",
            "ex_dividend_date",
            "frequency",
            "historical_adjustment_factor",
            "id",
            "pay_date",
            "record_date",
            "split_adjusted_cash_amount",
            "ticker",
        ),
        {
            "ticker": "text",
            "ex_dividend_date": "text",
            "frequency": "number",
            "distribution_type": "text",
        },
        "ticker.asc",
    ),
}
RANGES = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


class _BadRequest(MarketDataError):
    """A parameter Massive would refuse: answered 400 with the message."""


def _filter(listing: _Listing, query: dict[str, str]) -> Callable[[dict], bool]:
    """The entries a query's filter parameters keep (an entry lacking the field: none)."""
    conditions: list[tuple[str, str, str, Any]] = []  # column, kind, operator, wanted
    for name, raw in query.items():
        column, _, operator = name.partition(".")
        kind = listing.filters.get(column)
        if kind is None:
            continue  # limit, sort, and anything Massive would ignore
        if operator != "" and operator != "any_of" and operator not in RANGES:
            raise _BadRequest(f"unknown parameter {name}")
        texts = [v for v in raw.split(",") if v] if operator == "any_of" else [raw]
        try:
            values = [text if kind == "text" else float(text) for text in texts]
        except ValueError:
            raise _BadRequest(f"{name}: {raw!r} is not a number") from None
        conditions.append((column, kind, operator, values if operator == "any_of" else values[0]))

    def keeps(item: dict) -> bool:
        for column, kind, operator, wanted in conditions:
            value = item.get(column)
            if kind == "text" and not isinstance(value, str):
                return False
            if kind == "number" and not _number(value):
                return False
            if operator == "":
                if value != wanted:
                    return False
            elif operator == "any_of":
                if value not in wanted:
                    return False
            elif not RANGES[operator](value, wanted):
                return False
        return True

    return keeps


def _sort_key(column: str) -> Callable[[dict], tuple]:
    """Missing values first, then numbers, then text: a malformed entry still sorts."""

    def key(item: dict) -> tuple:
        value = item.get(column)
        if value is None:
            return (0, 0.0, "")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (1, float(value), "")
        return (2, 0.0, str(value))

    return key


def _sorted(listing: _Listing, items: list[dict], sort: str) -> list[dict]:
    ordered = list(items)
    orders = [part.strip() for part in sort.split(",") if part.strip()]
    for order in reversed(orders):  # stable sorts, the last key first
        column, _, direction = order.partition(".")
        if column not in listing.fields or direction not in ("", "asc", "desc"):
            raise _BadRequest(f"sort: cannot sort by {order!r}")
        ordered.sort(key=_sort_key(column), reverse=direction == "desc")
    return ordered


def _cursor(query: dict[str, str], offset: int) -> str:
    """The next page's cursor: the request's own parameters and where to go on, as
    Massive's cursors carry them (base64 of a query string)."""
    params = {k: v for k, v in query.items() if k != "cursor"} | {"offset": str(offset)}
    return base64.urlsafe_b64encode(urlencode(sorted(params.items())).encode()).decode()


def _query(raw: str) -> dict[str, str]:
    """The request's parameters, a cursor's restored (a next_url carries only a cursor)."""
    query = dict(parse_qsl(raw, keep_blank_values=True))
    cursor = query.get("cursor")
    if cursor:
        try:
            decoded = base64.urlsafe_b64decode(cursor.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise _BadRequest("cursor: not a cursor this server gave") from None
        query = dict(parse_qsl(decoded, keep_blank_values=True)) | {"cursor": cursor}
    return query


def _limit(query: dict[str, str], default: int, maximum: int) -> int:
    raw = query.get("limit", str(default))
    try:
        limit = int(raw)
    except ValueError:
        raise _BadRequest(f"limit: {raw!r} is not a whole number") from None
    if not 1 <= limit <= maximum:
        raise _BadRequest(f"limit: {limit} is not between 1 and {maximum}")
    return limit


def _offset(query: dict[str, str]) -> int:
    try:
        return max(0, int(query.get("offset", "0")))
    except ValueError:
        raise _BadRequest("cursor: not a cursor this server gave") from None


def _new_york_day(ms: object) -> date | None:
    if not isinstance(ms, int | float) or isinstance(ms, bool):
        return None
    return datetime.fromtimestamp(ms / 1000, NEW_YORK).date()


def adjust_bars(bars: list[dict], ticker: str, reference: ReferenceData) -> list[dict]:
    """Bars as ``adjusted=true`` gives them: prices (``o``, ``h``, ``l``, ``c``, ``vw``)
    times the ticker's split factor of the bar's New York day, rounded to 4 decimals,
    ``v`` divided by it, ``n`` as it was. Copies; bars without a factor come back as
    they were."""
    factors: dict[date, float] = {}
    adjusted = []
    for bar in bars:
        day = _new_york_day(bar.get("t"))
        if day is None:
            adjusted.append(bar)
            continue
        if day not in factors:
            factors[day] = reference.split_factor(ticker, day)
        factor = factors[day]
        if factor == 1.0:
            adjusted.append(bar)
            continue
        bar = dict(bar)
        for key in ("o", "h", "l", "c", "vw"):
            if _number(bar.get(key)):
                bar[key] = round(bar[key] * factor, ADJUSTED_DECIMALS)
        if _number(bar.get("v")):
            bar["v"] = bar["v"] / factor
        adjusted.append(bar)
    return adjusted


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class Fault:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0  # answer late (a client timeout)


@dataclass
class RestServerState:
    api_key: str
    source: BarSource
    reference: ReferenceData = field(default_factory=ReferenceData)
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The plan's limit, as Massive enforces it: more than this many requests in any
    # second are answered 429 (and counted in ``rate_limited``). None: no limit.
    max_per_second: int | None = None
    accepted_at: deque[float] = field(default_factory=deque)
    rate_limited: int = 0

    def over_limit(self) -> bool:
        """Whether a request now exceeds ``max_per_second`` (call under ``lock``)."""
        if self.max_per_second is None:
            return False
        now = time.monotonic()
        while self.accepted_at and self.accepted_at[0] <= now - 1.0:
            self.accepted_at.popleft()
        if len(self.accepted_at) >= self.max_per_second:
            self.rate_limited += 1
            return True
        self.accepted_at.append(now)
        return False


Answer = tuple[int, dict]


def _not_found(request_id: str, message: str) -> Answer:
    return 404, {"status": "NOT_FOUND", "request_id": request_id, "message": message}


def _aggregates(
    state: RestServerState,
    path: str,
    ticker: str,
    start: str,
    end: str,
    query: dict[str, str],
    rid: str,
) -> Answer:
    # A US day as a date; a crypto or forex UTC day as its first epoch millisecond.
    if start.isdigit():
        days = [datetime.fromtimestamp(int(start) / 1000, timezone.utc).date()]
    else:
        try:
            first = date.fromisoformat(start)
            last = first if end.isdigit() else date.fromisoformat(end)
        except ValueError:
            raise _BadRequest(f"from/to: {start!r}, {end!r} are not dates") from None
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    offset = _offset(query)
    limit = _limit(query, AGGREGATES_PAGE, 50_000)
    bars = [bar for day in days for bar in state.source(ticker, day) or []]
    adjusted = query.get("adjusted", "true") == "true"
    page = bars[offset : offset + limit]
    if adjusted and not ticker.startswith("I:"):
        page = adjust_bars(page, ticker, state.reference)
    body: dict = {
        "ticker": ticker,
        "queryCount": len(page),
        "resultsCount": len(page),
        "status": "OK",
        "request_id": rid,
    }
    if not ticker.startswith("I:"):
        body["adjusted"] = adjusted
    if page:
        body["results"] = page
    if offset + limit < len(bars):
        body["next_url"] = f"{PUBLIC_BASE}{path}?cursor={_cursor(query, offset + limit)}"
    return 200, body


def _reference_listing(
    state: RestServerState, path: str, query: dict[str, str], rid: str
) -> Answer:
    listing = LISTINGS[path]
    keep = _filter(listing, query)
    items = [item for item in listing.entries(state.reference) if keep(item)]
    items = _sorted(listing, items, query.get("sort") or listing.default_sort)
    offset = _offset(query)
    limit = _limit(query, REFERENCE_PAGE, REFERENCE_MAX_PAGE)
    body: dict = {"status": "OK", "request_id": rid, "results": items[offset : offset + limit]}
    if offset + limit < len(items):
        body["next_url"] = f"{PUBLIC_BASE}{path}?cursor={_cursor(query, offset + limit)}"
    return 200, body


def _ticker_events(
    state: RestServerState, identifier: str, query: dict[str, str], rid: str
) -> Answer:
    types = [t for t in query["types"].split(",") if t] if query.get("types") else None
    results = state.reference.ticker_events(identifier, types)
    if results is None:
        return _not_found(rid, f"Ticker {identifier} not found.")
    return 200, {"results": results, "status": "OK", "request_id": rid}


def _ticker_details(state: RestServerState, ticker: str, query: dict[str, str], rid: str) -> Answer:
    on = None
    if query.get("date"):
        on = _iso_date(query["date"])
        if on is None:
            raise _BadRequest(f"date: {query['date']!r} is not YYYY-MM-DD")
    results = state.reference.ticker_details(ticker, on)
    if results is None:
        when = f" on {on}" if on else ""
        return _not_found(rid, f"Ticker {ticker} not found{when}.")
    return 200, {"results": results, "status": "OK", "request_id": rid}


def _route(state: RestServerState, raw_path: str, rid: str) -> Answer:
    parts = urlsplit(raw_path)
    path = parts.path.rstrip("/") or "/"
    try:
        query = _query(parts.query)
        match path.strip("/").split("/"):
            case ["v2", "aggs", "ticker", ticker, "range", "1", "minute", start, end]:
                return _aggregates(state, parts.path, ticker, start, end, query, rid)
            case ["stocks", "v1", "splits" | "dividends"]:
                return _reference_listing(state, path, query, rid)
            case ["vX", "reference", "tickers", identifier, "events"]:
                return _ticker_events(state, identifier, query, rid)
            case ["v3", "reference", "tickers", ticker]:
                return _ticker_details(state, ticker, query, rid)
    except _BadRequest as error:
        return 400, {"status": "ERROR", "request_id": rid, "error": str(error)}
    return _not_found(rid, "Not found.")


def _handler(state: RestServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            with state.lock:
                state.requests.append(self.path)
                rid = f"local-{len(state.requests)}"
                fault = state.faults.popleft() if state.faults else None
                if fault is None and state.over_limit():
                    fault = Fault(429, json.dumps({"status": "ERROR"}), {"Retry-After": "1"})
            if self.headers.get("Authorization") != f"Bearer {state.api_key}":
                self._send(401, json.dumps({"status": "ERROR", "error": "Unknown API Key"}))
                return
            if fault is not None:
                time.sleep(fault.delay_seconds)
                self._send(fault.status, fault.body, fault.headers)
                return
            status, body = _route(state, self.path, rid)
            self._send(status, json.dumps(body))

    return Handler


class LocalRestServer:
    """A threaded Massive REST server on 127.0.0.1; use as a context manager.

    ``reference``: the splits, dividends and tickers it serves (none by default); it is
    ``state.reference``, which a test may change between requests.
    """

    def __init__(
        self,
        api_key: str,
        source: BarSource,
        port: int = 0,
        reference: ReferenceData | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.state = RestServerState(
            api_key=api_key, source=source, reference=reference or ReferenceData()
        )
        self._server = ThreadingHTTPServer((host, port), _handler(self.state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def queue_fault(
        self,
        status: int,
        body: str = "",
        headers: dict[str, str] | None = None,
        delay_seconds: float = 0.0,
    ) -> None:
        with self.state.lock:
            self.state.faults.append(Fault(status, body, headers or {}, delay_seconds))

    def start(self) -> LocalRestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop`` (from another thread or a signal handler)."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def __enter__(self) -> LocalRestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
