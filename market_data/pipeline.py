"""One day of one dataset, step by step: land the file, build the bars, load the day.

These plain functions are what the Dagster assets run for each partition; they know
nothing of Dagster, so tests and the command line call them directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from market_data.calendar import today_in_new_york
from market_data.datasets import NO_RENAMES, Dataset, Renames
from market_data.errors import DayDataError
from market_data.sources.flat_files import LandedFile, fetch_day_file, landing_path
from market_data.sources.rest import RestAggregates, fetch_rest_day
from market_data.transform.bar_store import BarStore
from market_data.transform.parse import ParsedDay, empty_bars, parse_day_file
from market_data.transform.scan import DownloadScan
from market_data.transform.scanned_lines import discard_scanned_lines, save_scanned_lines
from market_data.warehouse.load import DatasetBars, LoadResult, load_day


class FileNotPublished(DayDataError):
    """A session day whose file is not in the bucket (yet), and REST cannot stand in."""


@dataclass(frozen=True)
class RestPolicy:
    """When the REST path stands in for a day file that is not published yet."""

    enabled: bool = False
    window_days: int = 2
    today: date | None = None

    def covers(self, day: date) -> bool:
        today = self.today or today_in_new_york()
        return today - timedelta(days=self.window_days - 1) <= day <= today


NO_REST = RestPolicy()


@dataclass(frozen=True)
class SourceChoice:
    source: Literal["flat_file", "rest", "none"]
    reason: str


def choose_source(
    dataset: Dataset, day: date, file_present: bool, rest: RestPolicy
) -> SourceChoice:
    """Flat file when published; REST for recent session days without one; else a clear error."""
    if file_present:
        return SourceChoice("flat_file", "day file published")
    if not dataset.trades_on(day):
        return SourceChoice("none", "no session that day and no day file: zero rows")
    key = dataset.key(day)
    if not rest.covers(day):
        raise FileNotPublished(
            f"{dataset.name} {day}: {key} is not published, and {day} is older than the "
            f"REST window of {rest.window_days} days"
        )
    if not rest.enabled:
        raise FileNotPublished(
            f"{dataset.name} {day}: {key} is not published yet and the REST path is "
            "disabled (MASSIVE_API_KEY is not set)"
        )
    return SourceChoice(
        "rest",
        f"day file not published yet; {day} is within the {rest.window_days}-day REST window",
    )


def land_day_file(
    dataset: Dataset,
    day: date,
    client: Any,
    bucket: str,
    landing_root: Path,
    rest: RestPolicy = NO_REST,
    scan_for: Sequence[bytes] = (),
) -> tuple[LandedFile, SourceChoice]:
    """Fetch the day file and say which source the day will take.

    A download is also scanned as it arrives for the lines starting with ``scan_for`` (the
    parse's ``line_prefixes``), which are saved beside the file for ``build_bars``: the
    file is decompressed while its bytes come in and not read again."""
    key = dataset.key(day)
    scans: list[DownloadScan] = []

    def new_scan() -> DownloadScan:
        scans.append(DownloadScan(list(scan_for), key))
        return scans[-1]

    landed = fetch_day_file(client, bucket, key, landing_root, new_scan if scan_for else None)
    if landed.missing:
        # A stale copy of a file that was withdrawn must not be parsed again.
        stale = landing_path(landing_root, landed.key)
        stale.unlink(missing_ok=True)
        discard_scanned_lines(stale)
    elif landed.downloaded and landed.path is not None:
        scanned = scans[-1].scanned if scans else None
        if scanned is None:  # not scanned, or unreadable: the parse reads the file itself
            discard_scanned_lines(landed.path)
        else:
            save_scanned_lines(landed.path, landed.etag or "", list(scan_for), scanned)
    return landed, choose_source(dataset, day, not landed.missing, rest)


@dataclass(frozen=True)
class BuiltBars:
    parsed: ParsedDay
    path: str  # the bar store's location of the file: a local path or s3://…
    choice: SourceChoice


def build_bars(
    dataset: Dataset,
    day: date,
    landing_root: Path,
    underlyings: frozenset[str],
    store: BarStore,
    rest: RestPolicy = NO_REST,
    rest_client: RestAggregates | None = None,
    renames: Renames = NO_RENAMES,
) -> BuiltBars:
    """The day's bars of ``underlyings`` from the landed file (or REST), stored as Parquet;
    ``renames``: the former tickers that day of renamed symbols."""
    landed = landing_path(landing_root, dataset.key(day))
    choice = choose_source(dataset, day, landed.exists(), rest)
    if choice.source == "flat_file":
        parsed = parse_day_file(
            landed,
            dataset,
            dataset.window(day),
            underlyings,
            label=dataset.key(day),
            renames=renames,
        )
    elif choice.source == "rest" and dataset.loads != "options":
        if rest_client is None:
            raise ValueError(f"{dataset.name} {day}: the REST path needs a REST client")
        parsed = fetch_rest_day(rest_client, dataset, day, underlyings, renames)
    else:
        if choice.source == "rest":
            choice = SourceChoice(
                "rest", f"{choice.reason}; option contracts come from flat files only"
            )
        # Nothing fetched: replace nothing either.
        underlyings = frozenset()
        parsed = ParsedDay(bars=empty_bars())
    source = "rest" if choice.source == "rest" else "flat_file"
    path = store.write(dataset.name, day, parsed.bars, underlyings, source, parsed.quarantine)
    discard_scanned_lines(landed)  # used once: the bars are stored
    return BuiltBars(parsed=parsed, path=path, choice=choice)


def load_bars(
    conn: psycopg.Connection,
    day: date,
    datasets: list[Dataset],
    store: BarStore,
    selected: Mapping[str, frozenset[str]],
) -> LoadResult:
    """Replace the day's bars of the ``selected`` underlyings (per dataset) with their stored
    bars, in one transaction; a dataset with none selected is not read at all."""
    parts = []
    for dataset in datasets:
        wanted = selected.get(dataset.name, frozenset())
        if not wanted:
            continue
        stored = store.read(dataset.name, day)
        underlyings, bars = stored.underlyings, stored.bars
        if not underlyings <= wanted:
            underlyings = underlyings & wanted
            keep = pa.array(sorted(underlyings), pa.string())
            bars = bars.filter(pc.is_in(bars["underlying"], value_set=keep))
        parts.append(DatasetBars(dataset, underlyings, bars, stored.source))
    windows = {d.window(day) for d in datasets}
    if len(windows) != 1:
        raise ValueError("one load covers datasets of one day time zone")
    return load_day(conn, windows.pop(), parts)
