"""Massive's REST API: minute bars for days whose flat file is not out yet, and the pages
of any other endpoint (the reference data of ``corporate_actions/``).

A small client of its own rather than the official ``massive`` package: that client
drops the HTTP status of failed requests (a 403 "data timeframe" and a 404 look
alike), retries 429 within a second and has no request-rate limit, while the free
plan allows 5 requests per minute. Here the rate is a setting, retries back off and
honour ``Retry-After``, 401/403 fail at once, and the key travels only in the
``Authorization`` header, never in a URL that could be logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import pyarrow as pa
import requests

from market_data.bar_schema import CANDIDATE_SCHEMA
from market_data.calendar import DayWindow
from market_data.datasets import NO_RENAMES, Dataset, OptionContracts, Renames
from market_data.errors import ConfigurationError, SourceError

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
PAGE_LIMIT = 50_000


class RestError(SourceError):
    """A REST request failed for good; the message names the ticker and day."""


class RestNotFound(RestError):
    """404: no such ticker or path (the reference endpoints answer so for unknown tickers)."""


class RestAuthError(RestError):
    """401/403: the key is wrong or the plan does not cover the data. Not retried."""


class Limiter(Protocol):
    def wait(self) -> None:
        """Return when the next request may go."""


class RateLimiter:
    """At most ``per_minute`` requests per minute, spaced evenly, across threads."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            delay = max(0.0, self._next - now)
            self._next = max(now, self._next) + self.interval
        if delay:
            time.sleep(delay)


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
        return str(body.get("message") or body.get("error") or body.get("status") or "")
    except ValueError:
        return response.text[:200]


def _relative(next_url: str) -> str:
    """Path and query of a ``next_url``, minus any ``apiKey``: pagination stays on our base."""
    parts = urlsplit(next_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "apikey"]
    return parts.path + ("?" + urlencode(query) if query else "")


@dataclass
class RestAggregates:
    base_url: str
    api_key: str = field(repr=False)
    requests_per_minute: float = 5.0
    max_retries: int = 5
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 120.0
    timeout_seconds: float = 60.0
    max_pages: int = 200

    # Shared by every process of the instance when given (warehouse/rate_limit.py).
    limiter: Limiter | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._limiter = self.limiter or RateLimiter(self.requests_per_minute)
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        """One HTTP session per thread (a range run fetches days side by side); the rate
        limit is shared by all of them."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _get(self, path: str, params: dict[str, str], what: str) -> object:
        url = self.base_url.rstrip("/") + path
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        for attempt in range(self.max_retries + 1):
            self._limiter.wait()
            try:
                response = self.session.get(
                    url, params=params, headers=headers, timeout=self.timeout_seconds
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                reason = f"{type(error).__name__}"
                retry_after = None
            else:
                if response.status_code == 200:
                    try:
                        return response.json()
                    except ValueError as error:
                        raise RestError(f"{what}: response is not JSON") from error
                if response.status_code in (401, 403):
                    message = _message(response)
                    hint = " (outside the plan's history)" if "timeframe" in message else ""
                    raise RestAuthError(
                        f"{what}: HTTP {response.status_code} {message}{hint}".strip()
                    )
                if response.status_code == 404:
                    raise RestNotFound(f"{what}: HTTP 404 {_message(response)}".strip())
                if response.status_code not in RETRIED_STATUSES:
                    raise RestError(
                        f"{what}: HTTP {response.status_code} {_message(response)}".strip()
                    )
                reason = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After")
            if attempt == self.max_retries:
                raise RestError(f"{what}: gave up after {attempt + 1} attempts ({reason})")
            delay = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt)
            if retry_after and retry_after.strip().isdigit():
                delay = min(self.max_backoff_seconds, max(delay, float(retry_after)))
            time.sleep(delay)
        raise AssertionError("unreachable")

    def minute_bars(
        self,
        ticker: str,
        day: date,
        adjusted: bool | None = False,
        window: DayWindow | None = None,
    ) -> list[dict[str, Any]]:
        """Every minute bar of ``ticker`` on ``day``, following ``next_url`` pages.

        Massive builds US bars on New York days, so a date is the day; a ``window`` (the
        UTC day of crypto and forex) is asked for in epoch milliseconds instead.
        """
        what = f"REST {ticker} {day}"
        span = f"{day.isoformat()}/{day.isoformat()}"
        if window is not None:
            span = f"{window.start_ms}/{window.end_ms - 1}"
        path = f"/v2/aggs/ticker/{ticker}/range/1/minute/{span}"
        params = {"sort": "asc", "limit": str(PAGE_LIMIT)}
        if adjusted is not None:
            params["adjusted"] = "true" if adjusted else "false"
        results: list[dict[str, Any]] = []
        for body in self.pages(path, params, what):
            page = body.get("results") or []
            if not isinstance(page, list):
                raise RestError(f"{what}: malformed body, 'results' is not a list")
            results.extend(page)
        return results

    def get(self, path: str, params: dict[str, str], what: str) -> dict[str, Any]:
        """One JSON answer of any endpoint, retried and rate-limited like the aggregates."""
        body = self._get(path, params, what)
        if not isinstance(body, dict):
            raise RestError(f"{what}: malformed body, not a JSON object")
        return body

    def pages(self, path: str, params: dict[str, str], what: str) -> Iterator[dict[str, Any]]:
        """Every page of a listing, following ``next_url`` on our base URL (a page is only
        yielded once it arrived whole; a failure on a later page raises)."""
        for _ in range(self.max_pages):
            body = self.get(path, params, what)
            yield body
            next_url = body.get("next_url")
            if not next_url:
                return
            path, params = _relative(next_url), {}
        raise RestError(f"{what}: more than {self.max_pages} pages, stopping")


REST_BAR_FIELDS = {
    "o": "open",
    "h": "high",
    "l": "low",
    "c": "close",
    "v": "volume",
    "vw": "vwap",
    "n": "transactions",
    "t": "timestamp",
}


def rest_bars_table(
    results: list[dict[str, Any]],
    symbol: str,
    underlying: str,
    what: str,
    file_ticker: str | None = None,
) -> pa.Table:
    """REST results as candidate bars, not checked yet (``t`` is already the bars' unit, ms);
    ``file_ticker``: the ticker asked for, where it is not the symbol (a former ticker)."""
    try:
        columns = {name: [r.get(key) for r in results] for key, name in REST_BAR_FIELDS.items()}
        table = pa.table(
            {
                "symbol": pa.array([symbol] * len(results), pa.string()),
                "underlying": pa.array([underlying] * len(results), pa.string()),
                "file_ticker": pa.array([file_ticker] * len(results), pa.string()),
                **{name: values for name, values in columns.items()},
            }
        )
        return table.select(CANDIDATE_SCHEMA.names).cast(CANDIDATE_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as error:
        raise RestError(f"{what}: malformed bar in response ({error})") from error


def fetch_rest_day(
    client: RestAggregates,
    dataset: Dataset,
    day: date,
    underlyings: frozenset[str],
    renames: Renames = NO_RENAMES,
) -> pa.Table:
    """One dataset's day from REST for the underlyings, as candidate bars (not checked yet);
    a renamed symbol is asked for under the ticker it had that day."""
    tables = [CANDIDATE_SCHEMA.empty_table()]
    if isinstance(dataset.tickers, OptionContracts):
        raise ConfigurationError(f"{dataset.name}: the REST path serves no option contracts")
    for symbol in sorted(underlyings):
        ticker = dataset.tickers.ticker(symbol, renames)
        what = f"REST {ticker} {day}"
        # Flat files are unadjusted; indices take no `adjusted` parameter at all.
        results = client.minute_bars(
            ticker,
            day,
            adjusted=None if dataset.loads == "index" else False,
            window=dataset.window(day) if dataset.day_timezone == "UTC" else None,
        )
        former = ticker if symbol in renames else None
        tables.append(rest_bars_table(results, symbol, symbol, what, former))
    return pa.concat_tables(tables)
