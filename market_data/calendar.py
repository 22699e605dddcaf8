"""New York days and NYSE sessions: what a partition covers and whether a file is due.

Partitions are New York calendar days. A partition holds the bars whose start falls
in that day, so its bounds move with daylight saving time; never divide UTC epochs
by 86,400. Sessions, holidays and early closes come from ``exchange_calendars``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

NEW_YORK = ZoneInfo("America/New_York")
MS_PER_MINUTE = 60_000
NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class DayWindow:
    """A New York calendar day as a half-open range of epoch milliseconds (UTC)."""

    day: date
    start_ms: int
    end_ms: int

    @property
    def start_ns(self) -> int:
        return self.start_ms * NS_PER_MS

    @property
    def end_ns(self) -> int:
        return self.end_ms * NS_PER_MS


def day_window(day: date, tz: ZoneInfo = NEW_YORK) -> DayWindow:
    """The day in ``tz``: New York for US data, UTC for forex and crypto files."""
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return DayWindow(day, int(start.timestamp() * 1000), int(end.timestamp() * 1000))


def parse_day(key: str) -> date:
    """A partition key (``YYYY-MM-DD``) as a date, with an error that names it."""
    try:
        return date.fromisoformat(key)
    except ValueError:
        raise ValueError(f"invalid day {key!r}: expected YYYY-MM-DD") from None


@functools.cache
def _xnys():
    import exchange_calendars

    return exchange_calendars.get_calendar("XNYS", start="2003-01-01")


@dataclass(frozen=True)
class Session:
    """One NYSE regular session: open and close in epoch milliseconds."""

    day: date
    open_ms: int
    close_ms: int

    @property
    def minutes(self) -> int:
        return (self.close_ms - self.open_ms) // MS_PER_MINUTE

    @property
    def early_close(self) -> bool:
        return self.minutes < 390


def session(day: date) -> Session | None:
    """The day's regular session, or None on weekends and exchange holidays."""
    calendar = _xnys()
    ts = pd.Timestamp(day)
    if ts < calendar.first_session or ts > calendar.last_session or not calendar.is_session(ts):
        if ts > calendar.last_session and day.weekday() < 5:
            raise ValueError(f"{day} is beyond the exchange calendar ({calendar.last_session:%F})")
        return None
    return Session(
        day,
        int(calendar.session_open(ts).timestamp() * 1000),
        int(calendar.session_close(ts).timestamp() * 1000),
    )


def is_session(day: date) -> bool:
    return session(day) is not None


def today_in_new_york() -> date:
    return datetime.now(NEW_YORK).date()
