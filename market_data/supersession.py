"""Flat file beats REST: find the days still holding REST bars whose day file is now out.

REST rows are a stand-in. Once Massive publishes the day file (about 11:00 ET the
next day, sometimes days later), the day must be loaded again from it; the sensor in
``defs/sensors.py`` asks for exactly those days, using these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from market_data.datasets import DATASETS
from market_data.sources.flat_files import head_object


def rest_sourced_days(conn: psycopg.Connection) -> dict[date, set[str]]:
    """New York days (and their datasets) that still hold REST bars."""
    rows = conn.execute(
        "SELECT DISTINCT (to_timestamp(\"timestamp\" / 1000.0) AT TIME ZONE 'America/New_York')::date,"
        " dataset FROM historical_bars WHERE source = 'rest'"
    ).fetchall()
    days: dict[date, set[str]] = {}
    for day, dataset in rows:
        days.setdefault(day, set()).add(dataset)
    return days


@dataclass(frozen=True)
class PublishedDay:
    day: date
    # (key, ETag) of each day file that now exists: the run key changes if one is republished.
    files: tuple[tuple[str, str], ...]


def published_rest_days(
    rest_days: dict[date, set[str]], client: Any, bucket: str
) -> list[PublishedDay]:
    """The REST-sourced days whose every REST dataset now has its day file."""
    published = []
    for day in sorted(rest_days):
        files = []
        for name in sorted(rest_days[day]):
            remote = head_object(client, bucket, DATASETS[name].key(day))
            if remote is None:
                break
            files.append((remote.key, remote.etag))
        else:
            published.append(PublishedDay(day, tuple(files)))
    return published
