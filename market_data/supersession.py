"""Flat file beats REST: find the days still holding REST bars whose day file is now out.

REST rows are a stand-in. Once Massive publishes the day file (about 11:00 ET the
next day, sometimes days later), the day must be loaded again from it; the sensor in
``defs/sensors.py`` asks for exactly those days, using these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from market_data.datasets import DATASETS
from market_data.run_tags import SYMBOLS_TAG
from market_data.sources.flat_files import head_object
from market_data.warehouse.watchlist import read_watchlist


def rest_sourced_days(conn: psycopg.Connection) -> dict[date, set[str]]:
    """New York days (and their datasets) that still hold REST bars, or that REST stood in
    for without bars (an options day: contracts come from flat files only): the US
    datasets' (a crypto or forex pair's REST day is replaced by the ``daily_utc`` run)."""
    # REST stood in for these without rows (options): their file is due all the same, for
    # as long as a watched symbol wants them.
    entries = read_watchlist(conn).entries
    wanted = [name for name, dataset in DATASETS.items() if dataset.underlyings(entries)]
    rows = conn.execute(
        "SELECT DISTINCT (to_timestamp(\"timestamp\" / 1000.0) AT TIME ZONE 'America/New_York')::date,"
        " dataset FROM historical_bars WHERE source = 'rest' AND dataset = ANY(%s)"
        " UNION SELECT day, dataset FROM rest_stand_ins WHERE dataset = ANY(%s)",
        (list(DATASETS), wanted),
    ).fetchall()
    days: dict[date, set[str]] = {}
    for day, dataset in rows:
        days.setdefault(day, set()).add(dataset)
    return days


def supersession_symbols(conn: psycopg.Connection) -> dict[date, list[str]]:
    """The symbols a supersession run must load, for the REST-sourced days that hold REST
    bars of a symbol no longer on the watchlist: the watchlist and those symbols.

    A run loads the watchlist; a symbol removed after its REST day would keep its REST bars
    for good (no run loads it again, and the sensor would ask for the same run forever).
    Its file has its bars, so it is reloaded from the file with the others: flat file beats
    REST for every row. Days whose REST symbols are all watched are not listed (the run
    loads the watchlist, untagged)."""
    watched = set(read_watchlist(conn).symbols)
    rows = conn.execute(
        "SELECT DISTINCT (to_timestamp(\"timestamp\" / 1000.0) AT TIME ZONE 'America/New_York')::date,"
        " underlying FROM historical_bars WHERE source = 'rest' AND dataset = ANY(%s)",
        (list(DATASETS),),
    ).fetchall()
    stray: dict[date, set[str]] = {}
    for day, underlying in rows:
        if underlying not in watched:
            stray.setdefault(day, set()).add(underlying)
    return {day: sorted(watched | symbols) for day, symbols in stray.items()}


@dataclass(frozen=True)
class PublishedDay:
    day: date
    # (key, ETag) of each day file that now exists: the run key changes if one is republished.
    files: tuple[tuple[str, str], ...]
    # The run's symbols where the day holds REST bars of symbols off the watchlist
    # (``supersession_symbols``); empty: the run loads the watchlist.
    symbols: tuple[str, ...] = ()

    @property
    def run_key(self) -> str:
        """One run per day and file version, and again if the symbols to load change (a
        symbol removed after its run was asked for would keep its REST bars otherwise)."""
        key = "supersede:" + self.day.isoformat() + ":" + ",".join(e for _, e in self.files)
        return key + (":" + ",".join(self.symbols) if self.symbols else "")

    @property
    def tags(self) -> dict[str, str]:
        tags = {"market_data/reason": "flat file published, replacing REST bars"}
        if self.symbols:
            tags[SYMBOLS_TAG] = ",".join(self.symbols)
        return tags


def published_rest_days(
    rest_days: dict[date, set[str]],
    client: Any,
    bucket: str,
    symbols: Mapping[date, list[str]] | None = None,
) -> list[PublishedDay]:
    """The REST-sourced days whose every REST dataset now has its day file; with
    ``symbols`` (``supersession_symbols``), each day's run symbols where it needs them."""
    published = []
    for day in sorted(rest_days):
        files = []
        for name in sorted(rest_days[day]):
            remote = head_object(client, bucket, DATASETS[name].key(day))
            if remote is None:
                break
            files.append((remote.key, remote.etag))
        else:
            published.append(PublishedDay(day, tuple(files), tuple((symbols or {}).get(day, ()))))
    return published
