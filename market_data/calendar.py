"""New York days and NYSE sessions, UTC days and the 24-hour markets: what a partition
covers and which minutes of it a market trades.

Partitions of the US datasets are New York calendar days; those of crypto and forex
are UTC days. A partition holds the bars whose start falls
in that day, so its bounds move with daylight saving time; never divide UTC epochs
by 86,400. Sessions, holidays and early closes come from ``exchange_calendars``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd

from market_data.errors import ConfigurationError

if TYPE_CHECKING:
    from exchange_calendars import ExchangeCalendar

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
        raise ConfigurationError(f"invalid day {key!r}: expected YYYY-MM-DD") from None


@functools.cache
def nyse_calendar() -> ExchangeCalendar:
    """The NYSE (XNYS) calendar of exchange_calendars, built once per process."""
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
    calendar = nyse_calendar()
    ts = pd.Timestamp(day)
    if ts < calendar.first_session or ts > calendar.last_session or not calendar.is_session(ts):
        if ts > calendar.last_session and day.weekday() < 5:
            raise ConfigurationError(
                f"{day} is beyond the exchange calendar ({calendar.last_session:%F})"
            )
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


UTC = ZoneInfo("UTC")
# Forex trades from Sunday 17:00 to Friday 17:00 New York time, so its UTC hours move
# with daylight saving time.
FOREX_WEEK_OPEN = (6, time(17))  # Sunday (weekday 6), 17:00 New York
FOREX_WEEK_CLOSE = (4, time(17))  # Friday, 17:00 New York


def utc_day_window(day: date) -> DayWindow:
    return day_window(day, UTC)


def crypto_minutes(day: date) -> tuple[int, int]:
    """Crypto trades every minute of every UTC day: [00:00, 24:00) in epoch ms."""
    window = utc_day_window(day)
    return window.start_ms, window.end_ms


def forex_minutes(day: date) -> list[tuple[int, int]]:
    """The parts of the UTC ``day`` in which forex trades, as [start, end) epoch ms:
    all of it from Monday to Thursday, until 17:00 New York on Friday, from 17:00 New
    York on Sunday, nothing on Saturday."""
    window = utc_day_window(day)
    ranges: list[tuple[int, int]] = []
    # The New York days that overlap this UTC day, each with its own trading hours.
    for ny_day in (day - timedelta(days=1), day):
        ny = day_window(ny_day)
        weekday = ny_day.weekday()
        if weekday == 5:  # Saturday: closed
            continue
        start, end = ny.start_ms, ny.end_ms
        five_pm = int(datetime.combine(ny_day, time(17), tzinfo=NEW_YORK).timestamp() * 1000)
        if weekday == 6:  # Sunday: from 17:00
            start = five_pm
        elif weekday == 4:  # Friday: until 17:00
            end = five_pm
        start, end = max(start, window.start_ms), min(end, window.end_ms)
        if start < end:
            ranges.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
