"""Which minutes a session keeps, and New York's UTC offset, as PostgreSQL ranges.

The read path filters and buckets in PostgreSQL with plain integer arithmetic on the
epoch-millisecond ``timestamp``: a per-row time-zone conversion costs more than the
scan itself, so the session windows and the daylight-saving periods are computed here
(from exchange_calendars and the tz database) and sent as ``int8multirange`` literals.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Literal, get_args

import pandas as pd

# The project's one XNYS calendar instance (market_data.calendar builds and caches it).
from market_data.calendar import NEW_YORK, Session, day_window, nyse_calendar
from market_data.errors import ConfigurationError

SessionName = Literal["regular", "extended", "all"]
SESSIONS: tuple[str, ...] = get_args(SessionName)

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
PRE_MARKET_OPENS = time(4, 0)
AFTER_HOURS_END = time(20, 0)


def sessions_between(start: date, end: date) -> list[Session]:
    """The NYSE sessions of the inclusive range, early closes included.

    Sliced from the calendar's schedule at once: a session at a time costs 15 ms a year.
    """
    calendar = nyse_calendar()
    if pd.Timestamp(end) > calendar.last_session:
        raise ConfigurationError(
            f"{end} is beyond the exchange calendar ({calendar.last_session:%F})"
        )
    schedule = calendar.schedule.loc[pd.Timestamp(start) : pd.Timestamp(end)]
    opens = schedule["open"].to_numpy(dtype="datetime64[ms]").astype("int64")
    closes = schedule["close"].to_numpy(dtype="datetime64[ms]").astype("int64")
    return [
        Session(day.date(), int(o), int(c))
        for day, o, c in zip(schedule.index, opens, closes, strict=True)
    ]


def _local_ms(day: date, at: time) -> int:
    return int(datetime.combine(day, at, tzinfo=NEW_YORK).timestamp() * 1000)


def session_ranges(sessions: Iterable[Session], name: SessionName) -> list[tuple[int, int]]:
    """Half-open epoch-ms ranges a session keeps: ``regular`` [open, close), ``extended``
    [04:00, open) and [close, 20:00), ``all`` the whole New York day of each session."""
    ranges: list[tuple[int, int]] = []
    for s in sessions:
        if name == "regular":
            ranges.append((s.open_ms, s.close_ms))
        elif name == "extended":
            ranges.append((_local_ms(s.day, PRE_MARKET_OPENS), s.open_ms))
            ranges.append((s.close_ms, _local_ms(s.day, AFTER_HOURS_END)))
        else:
            window = day_window(s.day)
            ranges.append((window.start_ms, window.end_ms))
    return ranges


def multirange(ranges: Iterable[tuple[int, int]]) -> str:
    """An ``int8multirange`` literal; PostgreSQL merges adjacent ranges itself."""
    return "{" + ",".join(f"[{lo},{hi})" for lo, hi in ranges) + "}"


def _offset_ms(epoch_ms: int) -> int:
    offset = datetime.fromtimestamp(epoch_ms / 1000, tz=NEW_YORK).utcoffset()
    return int(offset.total_seconds() * 1000) if offset else 0


DAYLIGHT_SAVING_MS = MS_PER_HOUR  # what daylight saving adds to New York's offset


def standard_offset_ms() -> int:
    """New York's winter offset (-5 h), the one that holds outside daylight-saving periods."""
    return _offset_ms(int(datetime(2001, 1, 15, 12, tzinfo=NEW_YORK).timestamp() * 1000))


def daylight_saving_ranges(start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """Where New York's offset differs from its standard one, within [start_ms, end_ms).

    Scans hour by hour only across a day whose offset changes, so a year costs a few
    hundred offset look-ups; transitions fall on the hour in the tz database.
    """
    standard = standard_offset_ms()
    ranges: list[tuple[int, int]] = []
    cursor, open_from = start_ms, None
    while cursor < end_ms:
        step = MS_PER_DAY if _offset_ms(cursor) == _offset_ms(cursor + MS_PER_DAY) else MS_PER_HOUR
        step = min(step, end_ms - cursor)
        summer = _offset_ms(cursor) != standard
        if summer and open_from is None:
            open_from = cursor
        elif not summer and open_from is not None:
            ranges.append((open_from, cursor))
            open_from = None
        cursor += step
    if open_from is not None:
        ranges.append((open_from, end_ms))
    return ranges
