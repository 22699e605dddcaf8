"""One day of one dataset, step by step: land the file, build the bars, load the day.

These plain functions are what the Dagster assets run for each partition; they know
nothing of Dagster, so tests and the command line call them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from market_data.calendar import is_session
from market_data.datasets import Dataset
from market_data.sources.flat_files import FlatFileError, LandedFile, fetch_day_file, landing_path
from market_data.transform.bar_store import BarStore
from market_data.transform.parse import ParsedDay, empty_bars, parse_day_file
from market_data.warehouse.load import DatasetBars, LoadResult, load_day


class FileNotPublished(FlatFileError):
    """A session day whose file is not in the bucket (yet)."""


def land_day_file(
    dataset: Dataset, day: date, client: Any, bucket: str, landing_root: Path
) -> LandedFile:
    """Fetch the day file; a missing file is fine only when there was no session."""
    landed = fetch_day_file(client, bucket, dataset.key(day), landing_root)
    if landed.missing:
        # A stale copy of a file that was withdrawn must not be parsed again.
        landing_path(landing_root, landed.key).unlink(missing_ok=True)
        if is_session(day):
            raise FileNotPublished(
                f"{dataset.name} {day}: s3://{bucket}/{landed.key} is not in the bucket, "
                "though the exchange was open that day (not published yet?)"
            )
    return landed


@dataclass(frozen=True)
class BuiltBars:
    parsed: ParsedDay
    path: Path
    source_file: Path | None


def build_bars(
    dataset: Dataset,
    day: date,
    landing_root: Path,
    underlyings: frozenset[str],
    store: BarStore,
) -> BuiltBars:
    """Parse the landed day file into the watchlist's bars and store them as Parquet."""
    source = landing_path(landing_root, dataset.key(day))
    if source.exists():
        parsed = parse_day_file(
            source, dataset, dataset.window(day), underlyings, label=dataset.key(day)
        )
    elif is_session(day):
        raise FileNotFoundError(
            f"{dataset.name} {day}: {dataset.key(day)} has not landed: "
            f"materialize {dataset.name}_day_file for {day} first"
        )
    else:
        parsed = ParsedDay(bars=empty_bars())
    path = store.write(dataset.name, day, parsed.bars, underlyings, parsed.quarantine)
    return BuiltBars(parsed=parsed, path=path, source_file=source if source.exists() else None)


def load_bars(
    conn: psycopg.Connection, day: date, datasets: list[Dataset], store: BarStore
) -> LoadResult:
    """Load every dataset's stored bars of the day in one transaction."""
    parts = []
    for dataset in datasets:
        stored = store.read(dataset.name, day)
        parts.append(DatasetBars(dataset, stored.underlyings, stored.bars))
    windows = {d.window(day) for d in datasets}
    if len(windows) != 1:
        raise ValueError("one load covers datasets of one day time zone")
    return load_day(conn, windows.pop(), parts, source="flat_file")
