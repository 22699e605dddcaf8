"""Bars as a backtest wants them: one call, any timeframe and session (docs/reading.md).

Everything heavy happens in PostgreSQL: the session filter and the New York bucketing
are integer arithmetic on the epoch-ms ``timestamp`` (``sessions.py`` sends the session
windows and the daylight-saving periods as ranges), the aggregation is a ``GROUP BY``,
and the result comes back through a binary ``COPY`` that NumPy decodes in one view
(``binary_copy.py``). So a 5-minute read moves a fifth of the rows a 1-minute read
moves, and ``1d`` over years of many symbols reads the small ``daily_bars`` table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from market_data import settings
from market_data.bar_schema import READ_SCHEMA, READ_TIMESTAMP
from market_data.calendar import DayWindow, Session, day_window, utc_day_window
from market_data.corporate_actions.adjust import ADJUSTMENTS, Adjustment
from market_data.datasets import InvalidSymbolError, is_pair, normalize_symbol
from market_data.errors import ConfigurationError
from market_data.read.binary_copy import FLOAT8, INT8, copy_binary, decode_rows
from market_data.read.occ import OptionContract, is_option_ticker, option_roots_of, parse_occ
from market_data.read.sessions import (
    DAYLIGHT_SAVING_MS,
    MS_PER_DAY,
    SESSIONS,
    SessionName,
    daylight_saving_ranges,
    multirange,
    session_ranges,
    sessions_between,
    standard_offset_ms,
)
from market_data.warehouse.daily_bars import STORED_SESSIONS, covered_days
from market_data.warehouse.db import connect

Timeframe = Literal["1min", "5min", "15min", "30min", "1h", "1d"]
Adjust = Literal["none", "splits", "all"]
DayLike = date | str

# Bucket width of each intraday timeframe; ``1d`` is one bar per NYSE session instead.
BUCKET_MS: dict[str, int] = {
    "1min": 60_000,
    "5min": 300_000,
    "15min": 900_000,
    "30min": 1_800_000,
    "1h": 3_600_000,
}
TIMEFRAMES: tuple[str, ...] = get_args(Timeframe)
ADJUSTS: tuple[str, ...] = get_args(Adjust)

TIMESTAMP = READ_TIMESTAMP
BAR_SCHEMA = READ_SCHEMA  # the columns of every read, said once in bar_schema.py
OPTION_COLUMNS = [
    ("expiration", pa.date32()),
    ("right", pa.string()),
    ("strike", pa.float64()),
]

# What every read query returns per row: fixed width, never null (NaN / -1 stand for null).
ROW_LAYOUT: dict[str, str] = {
    "idx": INT8,
    "timestamp": INT8,
    "open": FLOAT8,
    "high": FLOAT8,
    "low": FLOAT8,
    "close": FLOAT8,
    "volume": FLOAT8,
    "transactions": INT8,
}


class BadReadRequest(ConfigurationError):
    """A read that cannot be answered as asked (a ValueError): the message says why."""


# -- adjustment ---------------------------------------------------------------------------


def adjustment(adjust: str) -> Adjustment | None:
    """The step that adjusts prices (``corporate_actions/adjust.py``), None for prices as
    stored; fails before any query."""
    if adjust not in ADJUSTS:
        raise BadReadRequest(f"adjust must be one of {', '.join(ADJUSTS)}, not {adjust!r}")
    return ADJUSTMENTS.get(adjust)


# -- arguments ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadRequest:
    """A validated read: sorted distinct symbols, inclusive days (New York days; UTC days
    for crypto and forex pairs, whose markets have no sessions)."""

    symbols: tuple[str, ...]
    start: date
    end: date
    timeframe: str
    session: SessionName
    utc_days: bool = False

    def _window(self, day: date) -> DayWindow:
        return utc_day_window(day) if self.utc_days else day_window(day)

    @property
    def start_ms(self) -> int:
        return self._window(self.start).start_ms

    @property
    def end_ms(self) -> int:
        return self._window(self.end).end_ms


def _day(value: DayLike, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BadReadRequest(f"{name} must be a date or 'YYYY-MM-DD', not {value!r}") from None


def clean_symbol(raw: str) -> str:
    text = raw.strip().upper()
    if is_option_ticker(text):
        return text
    try:
        return normalize_symbol(text)
    except InvalidSymbolError as error:
        raise BadReadRequest(str(error)) from None


def _symbols(symbols: str | Iterable[str]) -> tuple[str, ...]:
    raw = symbols.split(",") if isinstance(symbols, str) else list(symbols)
    cleaned = sorted({clean_symbol(s) for s in raw if str(s).strip()})
    if not cleaned:
        raise BadReadRequest("no symbols given")
    return tuple(cleaned)


def read_request(
    symbols: str | Iterable[str],
    start: DayLike,
    end: DayLike,
    timeframe: str,
    session: str,
) -> ReadRequest:
    if timeframe not in TIMEFRAMES:
        raise BadReadRequest(f"timeframe must be one of {', '.join(TIMEFRAMES)}, not {timeframe!r}")
    if session not in SESSIONS:
        raise BadReadRequest(f"session must be one of {', '.join(SESSIONS)}, not {session!r}")
    first, last = _day(start, "start"), _day(end, "end")
    if first > last:
        raise BadReadRequest(f"the range is empty: start {first} is after end {last}")
    wanted = _symbols(symbols)
    pairs = [s for s in wanted if is_pair(s)]
    if pairs and len(pairs) != len(wanted):
        raise BadReadRequest(
            "crypto and forex pairs are read over UTC days, US symbols over New York days: "
            "read them in separate calls"
        )
    if pairs and session != "all":
        raise BadReadRequest(
            f"sessions do not apply to crypto and forex pairs (they trade around the clock): "
            f"use session='all', not {session!r}"
        )
    return ReadRequest(wanted, first, last, timeframe, session, utc_days=bool(pairs))  # type: ignore[arg-type]


def database_url_for_reads(explicit: str | None = None) -> str:
    """The argument, ``MARKET_DATA_READ_URL``, ``DATABASE_URL``, or the embedded cluster."""
    if explicit:
        return explicit
    configured = settings.read_database_url()
    if configured:
        return configured
    from market_data.embedded import embedded_database_url

    return embedded_database_url()


# -- queries ------------------------------------------------------------------------------

# The symbols travel as an ordinal (their sorted position), which keeps rows fixed-width.
_WANTED = sql.SQL("unnest(%(symbols)s::text[]) WITH ORDINALITY AS wanted(symbol, idx)")
_NON_NULL = sql.SQL("coalesce({volume}, 'NaN'), coalesce({transactions}, -1)::int8")
_FIRST_OPEN = sql.SQL('(min(ARRAY[b."timestamp"::float8, b.open]))[2]')
_LAST_CLOSE = sql.SQL('(max(ARRAY[b."timestamp"::float8, b.close]))[2]')
# New York wall-clock time as epoch ms (the instant shifted by that day's UTC offset).
_LOCAL_MS = sql.SQL(
    '(b."timestamp" + CASE WHEN %(summer)s::int8multirange @> b."timestamp"'
    " THEN %(summer_offset)s ELSE %(standard_offset)s END)"
)
# The same where the whole range has one offset (most reads): no per-row range look-up.
_LOCAL_MS_ONE_OFFSET = sql.SQL('(b."timestamp" + %(offset)s)')


def _minute_query(timeframe: str, filtered: bool, one_offset: bool) -> sql.Composed:
    """One symbol's stored minutes, bucketed on the New York clock if asked.

    One query per symbol: its rows come in ``timestamp`` order from the month partitions,
    so PostgreSQL never sorts the whole result (a sort across symbols spilled to disk).
    """
    session_filter = sql.SQL(' AND %(keep)s::int8multirange @> b."timestamp"' if filtered else "")
    source = sql.SQL(
        "FROM historical_bars b WHERE b.symbol = %(symbol)s AND b.timeframe = '1m'"
        ' AND b."timestamp" >= %(start_ms)s AND b."timestamp" < %(end_ms)s{f}'
    ).format(f=session_filter)
    if timeframe == "1min":
        columns = sql.SQL('%(idx)s::int8, b."timestamp", b.open, b.high, b.low, b.close, {nn}')
        columns_sql = columns.format(
            nn=_NON_NULL.format(volume=sql.SQL("b.volume"), transactions=sql.SQL("b.transactions"))
        )
        return sql.SQL('SELECT {c} {s} ORDER BY b."timestamp"').format(c=columns_sql, s=source)
    local = _LOCAL_MS_ONE_OFFSET if one_offset else _LOCAL_MS
    if timeframe == "1d":  # the New York midnight, still as wall-clock ms: see _wall_to_epoch
        bucket = sql.SQL("{local} - mod({local}, {day})").format(
            local=local, day=sql.Literal(MS_PER_DAY)
        )
    else:
        bucket = sql.SQL('b."timestamp" - mod({local}, {width})').format(
            local=local, width=sql.Literal(BUCKET_MS[timeframe])
        )
    nn = _NON_NULL.format(
        volume=sql.SQL("sum(b.volume)"), transactions=sql.SQL("sum(b.transactions)")
    )
    return sql.SQL(
        "SELECT %(idx)s::int8, {bucket}, {first}, max(b.high), min(b.low), {last}, {nn} {s}"
        " GROUP BY 2 ORDER BY 2"
    ).format(bucket=bucket, first=_FIRST_OPEN, last=_LAST_CLOSE, nn=nn, s=source)


_DAILY_QUERY = sql.SQL(
    'SELECT wanted.idx, d."timestamp", d.open, d.high, d.low, d.close, {nn} FROM {wanted}'
    " JOIN daily_bars d ON d.symbol = wanted.symbol AND d.session = %(session)s"
    " AND d.day BETWEEN %(start)s AND %(end)s ORDER BY 1, 2"
).format(
    nn=_NON_NULL.format(volume=sql.SQL("d.volume"), transactions=sql.SQL("d.transactions")),
    wanted=_WANTED,
)


def _wall_to_epoch(wall_midnights: np.ndarray) -> np.ndarray:
    """New York midnights given as wall-clock ms → their instants (exact on DST days too)."""
    days, positions = np.unique(wall_midnights // MS_PER_DAY, return_inverse=True)
    epoch = date(1970, 1, 1).toordinal()
    starts = [day_window(date.fromordinal(epoch + int(d))).start_ms for d in days]
    return np.asarray(starts, dtype=np.int64)[positions]


def _table(symbols: Sequence[str], columns: Mapping[str, np.ndarray]) -> pa.Table:
    volume, transactions = columns["volume"], columns["transactions"]
    return pa.Table.from_arrays(
        [
            pc.take(pa.array(symbols, pa.string()), pa.array(columns["idx"] - 1)),
            pa.array(columns["timestamp"], TIMESTAMP),
            pa.array(columns["open"]),
            pa.array(columns["high"]),
            pa.array(columns["low"]),
            pa.array(columns["close"]),
            pa.array(volume, mask=np.isnan(volume)),
            pa.array(transactions, mask=transactions < 0),
        ],
        schema=BAR_SCHEMA,
    )


def _reads_daily_table(
    conn: psycopg.Connection, request: ReadRequest, sessions: list[Session]
) -> bool:
    """``daily_bars`` answers a ``1d`` read when it holds every session of the range."""
    if request.timeframe != "1d" or request.session not in STORED_SESSIONS:
        return False
    return covered_days(conn, [s.day for s in sessions]) == len(sessions)


def read_pair_bars(conn: psycopg.Connection, request: ReadRequest) -> pa.Table:
    """Crypto and forex bars: every stored minute of the UTC days, buckets on the UTC
    clock, ``1d`` the UTC day from 00:00 UTC."""
    params = {"start_ms": request.start_ms, "end_ms": request.end_ms, "offset": 0}
    query = _minute_query(request.timeframe, filtered=False, one_offset=True)
    parts = [
        decode_rows(copy_binary(conn, query, params | {"symbol": symbol, "idx": idx}), ROW_LAYOUT)
        for idx, symbol in enumerate(request.symbols, start=1)
    ]
    columns = {name: np.concatenate([part[name] for part in parts]) for name in ROW_LAYOUT}
    return _table(request.symbols, columns)


def read_bars(
    conn: psycopg.Connection, request: ReadRequest, database_url: str | None = None
) -> pa.Table:
    """The bars of a validated request, as stored (unadjusted). With ``database_url``, a
    long aggregated read uses a second connection for half of its range."""
    if request.utc_days:
        return read_pair_bars(conn, request)
    sessions = sessions_between(request.start, request.end)
    if not sessions:
        raise BadReadRequest(
            f"{request.start} … {request.end} holds no NYSE session (weekends and holidays only)"
        )
    params: dict[str, Any] = {}
    if _reads_daily_table(conn, request, sessions):
        params |= {
            "symbols": list(request.symbols),
            "session": request.session,
            "start": request.start,
            "end": request.end,
        }
        stream = copy_binary(conn, _DAILY_QUERY, params)
        return _table(request.symbols, decode_rows(stream, ROW_LAYOUT))

    # `all` keeps every stored minute of the range; `1d` keeps session days only.
    filtered = request.session != "all" or request.timeframe == "1d"
    params |= {
        "start_ms": request.start_ms,
        "end_ms": request.end_ms,
        "keep": multirange(session_ranges(sessions, request.session)),
    }
    standard = standard_offset_ms()
    summer = daylight_saving_ranges(request.start_ms, request.end_ms)
    one_offset = not summer or summer == [(request.start_ms, request.end_ms)]
    if one_offset:
        params["offset"] = standard + DAYLIGHT_SAVING_MS if summer else standard
    else:
        params |= {
            "summer": multirange(summer),
            "standard_offset": standard,
            "summer_offset": standard + DAYLIGHT_SAVING_MS,
        }
    query = _minute_query(request.timeframe, filtered, one_offset)

    def fetch(connection: psycopg.Connection, span: tuple[int, int]) -> list[dict[str, np.ndarray]]:
        return [
            decode_rows(
                copy_binary(
                    connection,
                    query,
                    params | {"symbol": symbol, "idx": idx, "start_ms": span[0], "end_ms": span[1]},
                ),
                ROW_LAYOUT,
            )
            for idx, symbol in enumerate(request.symbols, start=1)
        ]

    spans = _spans(request)
    if len(spans) == 1 or database_url is None:
        parts = fetch(conn, spans[0])
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:

            def second_half() -> list[dict[str, np.ndarray]]:
                with connect(database_url, "market-data read") as other:
                    return fetch(other, spans[1])

            later = pool.submit(second_half)
            earlier = fetch(conn, spans[0])
            parts = [half for pair in zip(earlier, later.result(), strict=True) for half in pair]
    columns = {name: np.concatenate([part[name] for part in parts]) for name in ROW_LAYOUT}
    if request.timeframe == "1d":
        columns["timestamp"] = _wall_to_epoch(columns["timestamp"])
    return _table(request.symbols, columns)


# Aggregating costs PostgreSQL about twice what streaming the same minutes costs (measured
# on 2 cores), so an aggregated read of a long range is split at a New York midnight and
# both halves are aggregated at once on two connections; no bucket crosses a midnight.
PARALLEL_MIN_DAYS = 20


def _spans(request: ReadRequest) -> list[tuple[int, int]]:
    days = (request.end - request.start).days + 1
    if request.timeframe == "1min" or days < PARALLEL_MIN_DAYS:
        return [(request.start_ms, request.end_ms)]
    split = day_window(request.start + timedelta(days=days // 2)).start_ms
    return [(request.start_ms, split), (split, request.end_ms)]


def unknown_symbols(conn: psycopg.Connection, symbols: Sequence[str]) -> list[str]:
    """Symbols with no bar at all in ``historical_bars`` (one index probe each)."""
    rows = conn.execute(
        "SELECT s FROM unnest(%s::text[]) AS s WHERE NOT EXISTS"
        " (SELECT 1 FROM historical_bars b WHERE b.symbol = s AND b.timeframe = '1m')",
        (list(symbols),),
    ).fetchall()
    return [r[0] for r in rows]


def to_frame(table: pa.Table) -> pd.DataFrame:
    """A DataFrame with nullable integer transactions (null for indices, which have none)."""
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


# -- public -------------------------------------------------------------------------------


def bars_arrow(
    symbols: str | Iterable[str],
    start: DayLike,
    end: DayLike,
    *,
    timeframe: Timeframe = "1min",
    session: SessionName = "all",
    adjust: Adjust = "none",
    database_url: str | None = None,
) -> pa.Table:
    """Bars of ``symbols`` over the inclusive New York days ``start`` … ``end`` as Arrow
    (UTC days for crypto and forex pairs, read on their own).

    Columns ``symbol, timestamp, open, high, low, close, volume, transactions``;
    ``timestamp`` is the bar's start in America/New_York; sorted by symbol, timestamp;
    only buckets holding at least one stored minute. Raises ValueError for an unknown
    symbol, an empty range or a bad argument.
    """
    request = read_request(symbols, start, end, timeframe, session)
    adjust_step = adjustment(adjust)
    url = database_url_for_reads(database_url)
    with connect(url, "market-data read") as conn:
        unknown = unknown_symbols(conn, request.symbols)
        if unknown:
            raise BadReadRequest(f"no bars are stored for {', '.join(unknown)}")
        table = read_bars(conn, request, url)
        return adjust_step(conn, table) if adjust_step else table


def bars(
    symbols: str | Iterable[str],
    start: DayLike,
    end: DayLike,
    *,
    timeframe: Timeframe = "1min",
    session: SessionName = "all",
    adjust: Adjust = "none",
    database_url: str | None = None,
) -> pd.DataFrame:
    """``bars_arrow`` as a pandas DataFrame (``transactions`` nullable ``Int64``)."""
    return to_frame(
        bars_arrow(
            symbols,
            start,
            end,
            timeframe=timeframe,
            session=session,
            adjust=adjust,
            database_url=database_url,
        )
    )


@dataclass(frozen=True)
class OptionFilter:
    """Which contracts a read keeps: by expiration, right and strike (None: any)."""

    expiration: date | None = None
    right: str | None = None
    strike: float | None = None

    def __call__(self, contract: OptionContract) -> bool:
        return (
            (self.expiration is None or contract.expiration == self.expiration)
            and (self.right is None or contract.right == self.right)
            and (self.strike is None or abs(contract.strike - self.strike) < 1e-9)
        )

    def __str__(self) -> str:
        return f"expiration={self.expiration}, right={self.right}, strike={self.strike}"


def option_filter(
    expiration: DayLike | None, right: str | None, strike: float | None
) -> OptionFilter:
    """The filters of ``option_bars`` checked (a bad one is a ValueError before any query)."""
    wanted_right = None
    if right is not None:
        wanted_right = {"c": "call", "call": "call", "p": "put", "put": "put"}.get(right.lower())
        if wanted_right is None:
            raise BadReadRequest(f"right must be 'call' or 'put', not {right!r}")
    if strike is not None:
        try:
            strike = float(strike)
        except (TypeError, ValueError):
            raise BadReadRequest(f"strike must be a number, not {strike!r}") from None
    return OptionFilter(
        _day(expiration, "expiration") if expiration is not None else None, wanted_right, strike
    )


def read_option_bars(
    conn: psycopg.Connection,
    underlying: str,
    start: DayLike,
    end: DayLike,
    keep: OptionFilter,
    timeframe: str,
    session: str,
) -> tuple[pa.Table, list[OptionContract], np.ndarray]:
    """The bars of ``underlying``'s contracts that ``keep`` accepts, as stored; with the
    contracts (in the order of the table's symbols) and each row's position among them."""
    symbol = clean_symbol(underlying)
    probe = read_request(symbol, start, end, timeframe, session)
    roots = sorted(option_roots_of(symbol))
    tickers = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT symbol FROM historical_bars WHERE dataset = 'options'"
            ' AND underlying = ANY(%s) AND "timestamp" >= %s AND "timestamp" < %s',
            (roots, probe.start_ms, probe.end_ms),
        )
    ]
    if (
        not tickers
        and not conn.execute(
            "SELECT 1 FROM historical_bars WHERE dataset = 'options' AND underlying = ANY(%s)"
            " LIMIT 1",
            (roots,),
        ).fetchone()
    ):
        raise BadReadRequest(f"no option bars are stored for {symbol}")
    contracts = {c.ticker: c for c in map(parse_occ, tickers) if keep(c)}
    if not contracts:
        raise BadReadRequest(
            f"no {symbol} contract with bars in {probe.start} … {probe.end} matches {keep}"
        )
    request = read_request(list(contracts), start, end, timeframe, session)
    table = read_bars(conn, request)
    at = pc.index_in(table["symbol"], value_set=pa.array(request.symbols))
    return table, [contracts[t] for t in request.symbols], at.to_numpy(zero_copy_only=False)


def with_contract_columns(
    table: pa.Table, contracts: Sequence[OptionContract], contract_at: np.ndarray
) -> pa.Table:
    """``expiration``, ``right`` and ``strike`` of each row's contract appended."""
    values = {
        "expiration": [c.expiration for c in contracts],
        "right": [c.right for c in contracts],
        "strike": [c.strike for c in contracts],
    }
    for name, kind in OPTION_COLUMNS:
        table = table.append_column(name, pc.take(pa.array(values[name], kind), contract_at))
    return table


def option_bars_arrow(
    underlying: str,
    start: DayLike,
    end: DayLike,
    *,
    expiration: DayLike | None = None,
    right: str | None = None,
    strike: float | None = None,
    timeframe: Timeframe = "1min",
    session: SessionName = "all",
    adjust: Adjust = "none",
    database_url: str | None = None,
) -> pa.Table:
    """Bars of the option contracts on ``underlying`` (stored, and matching the filters),
    with ``expiration``, ``right`` (call/put) and ``strike`` parsed from the OCC ticker."""
    keep = option_filter(expiration, right, strike)
    adjust_step = adjustment(adjust)
    with connect(database_url_for_reads(database_url), "market-data read") as conn:
        table, contracts, at = read_option_bars(
            conn, underlying, start, end, keep, timeframe, session
        )
        if adjust_step:
            table = adjust_step(conn, table)
    return with_contract_columns(table, contracts, at)


def option_bars(
    underlying: str,
    start: DayLike,
    end: DayLike,
    *,
    expiration: DayLike | None = None,
    right: str | None = None,
    strike: float | None = None,
    timeframe: Timeframe = "1min",
    session: SessionName = "all",
    adjust: Adjust = "none",
    database_url: str | None = None,
) -> pd.DataFrame:
    """``option_bars_arrow`` as a pandas DataFrame."""
    return to_frame(
        option_bars_arrow(
            underlying,
            start,
            end,
            expiration=expiration,
            right=right,
            strike=strike,
            timeframe=timeframe,
            session=session,
            adjust=adjust,
            database_url=database_url,
        )
    )
