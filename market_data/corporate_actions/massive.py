"""Massive's reference endpoints, fetched whole before anything is stored.

``/stocks/v1/splits`` and ``/stocks/v1/dividends`` (the ``/v3/reference/…`` ones are
deprecated) for many tickers per request (``ticker.any_of``), every page followed;
``/vX/reference/tickers/{symbol}/events`` for a stock's former tickers, each confirmed
by its composite FIGI at the time (``/v3/reference/tickers/{ticker}?date=``), since that
endpoint is experimental at Massive and known to be wrong at times. The requests go
through the REST client of the aggregates: same key header, retries and rate limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TypeVar

import psycopg

from market_data.corporate_actions.model import (
    Dividend,
    MalformedReference,
    Split,
    TickerPeriod,
    distinct_dividends,
    distinct_splits,
    dividend_from_entry,
    split_from_entry,
    ticker_periods_from_events,
)
from market_data.corporate_actions.store import (
    Changes,
    replace_dividends,
    replace_splits,
    replace_ticker_history,
    symbols_to_check,
)
from market_data.sources.rest import RestAggregates, RestNotFound

SPLITS_PATH = "/stocks/v1/splits"
DIVIDENDS_PATH = "/stocks/v1/dividends"
TICKERS_PER_REQUEST = 50
PAGE_SIZE = 5000  # the endpoints' maximum
# A stock's ticker history is asked for again after this long (renames are rare, and the
# free plan allows 5 requests a minute).
TICKER_CHECK_MAX_AGE = timedelta(days=7)

Entry = TypeVar("Entry")


def _listing(
    client: RestAggregates,
    path: str,
    tickers: Sequence[str],
    what: str,
    read: Callable[[object], Entry],
) -> list[Entry]:
    entries: list[Entry] = []
    ordered = sorted(set(tickers))
    for first in range(0, len(ordered), TICKERS_PER_REQUEST):
        group = ordered[first : first + TICKERS_PER_REQUEST]
        params = {"ticker.any_of": ",".join(group), "limit": str(PAGE_SIZE)}
        label = f"{what} of {', '.join(group)}"
        for body in client.pages(path, params, label):
            results = body.get("results") or []
            if not isinstance(results, list):
                raise MalformedReference(f"{label}: 'results' is not a list")
            entries.extend(read(item) for item in results)
    return entries


def fetch_splits(client: RestAggregates, tickers: Sequence[str]) -> list[Split]:
    """Every split of ``tickers``, once each (raises ``MalformedReference``)."""
    wanted = set(tickers)
    splits = _listing(client, SPLITS_PATH, tickers, "splits", split_from_entry)
    return distinct_splits(s for s in splits if s.ticker in wanted)


def fetch_dividends(client: RestAggregates, tickers: Sequence[str]) -> list[Dividend]:
    """Every cash dividend of ``tickers``, once each, projected ones included (reads skip
    them until their ex-date)."""
    wanted = set(tickers)
    dividends = _listing(client, DIVIDENDS_PATH, tickers, "dividends", dividend_from_entry)
    return distinct_dividends(d for d in dividends if d.ticker in wanted)


def composite_figi(client: RestAggregates, ticker: str, on: date | None = None) -> str | None:
    """The composite FIGI of the security ``ticker`` named (on day ``on``), None when
    Massive knows no such ticker then."""
    params = {"date": on.isoformat()} if on else {}
    try:
        body = client.get(f"/v3/reference/tickers/{ticker}", params, f"ticker {ticker} {on or ''}")
    except RestNotFound:
        return None
    results = body.get("results")
    figi = results.get("composite_figi") if isinstance(results, dict) else None
    return figi if isinstance(figi, str) and figi else None


@dataclass
class TickerHistoryAnswer:
    """A symbol's confirmed ticker periods, and the events left out, with why."""

    symbol: str
    composite_figi: str | None
    periods: list[TickerPeriod] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def fetch_ticker_history(client: RestAggregates, symbol: str) -> TickerHistoryAnswer:
    """``symbol``'s ticker changes, each former ticker confirmed to be the same security
    (its composite FIGI then equals the symbol's now). An unconfirmed change is left out
    and named: taking another company's bars would be worse than a visible gap."""
    figi = composite_figi(client, symbol)
    answer = TickerHistoryAnswer(symbol, figi)
    try:
        body = client.get(
            f"/vX/reference/tickers/{symbol}/events",
            {"types": "ticker_change"},
            f"ticker events of {symbol}",
        )
    except RestNotFound:
        return answer
    results = body.get("results")
    events_figi = results.get("composite_figi") if isinstance(results, dict) else None
    if figi and events_figi and events_figi != figi:
        answer.left_out.append(
            f"{symbol}: the events are of FIGI {events_figi}, {symbol} is {figi}; none taken"
        )
        return answer
    for period in ticker_periods_from_events(symbol, body, figi):
        if period.ticker == symbol:
            answer.periods.append(period)
            continue
        then = composite_figi(client, period.ticker, period.valid_from)
        if figi is None or then != figi:
            answer.left_out.append(
                f"{symbol}: {period.ticker} from {period.valid_from} left out, its FIGI then "
                f"({then or 'unknown'}) is not {symbol}'s ({figi or 'unknown'})"
            )
            continue
        answer.periods.append(period)
    return answer


@dataclass(frozen=True)
class Refreshed:
    tickers: list[str]
    changes: Changes
    notes: list[str] = field(default_factory=list)


def refresh_splits(
    conn: psycopg.Connection, client: RestAggregates, tickers: Sequence[str]
) -> Refreshed:
    splits = fetch_splits(client, tickers)
    return Refreshed(sorted(tickers), replace_splits(conn, sorted(tickers), splits))


def refresh_dividends(
    conn: psycopg.Connection, client: RestAggregates, tickers: Sequence[str]
) -> Refreshed:
    dividends = fetch_dividends(client, tickers)
    return Refreshed(sorted(tickers), replace_dividends(conn, sorted(tickers), dividends))


def refresh_ticker_changes(
    conn: psycopg.Connection,
    client: RestAggregates,
    symbols: Sequence[str],
    max_age: timedelta = TICKER_CHECK_MAX_AGE,
) -> Refreshed:
    """Ask for the ticker history of the ``symbols`` not checked within ``max_age``; all
    of them are fetched before any is stored."""
    due = symbols_to_check(conn, symbols, max_age)
    answers = [fetch_ticker_history(client, symbol) for symbol in due]
    if not answers:
        return Refreshed([], Changes())
    changes = replace_ticker_history(
        conn,
        {a.symbol: a.composite_figi for a in answers},
        [p for a in answers for p in a.periods],
    )
    return Refreshed(due, changes, [note for a in answers for note in a.left_out])
