"""The landing step: a day's candidate bars from the one source chosen for it.

``land_day_file`` fetches the day file (scanning it as its bytes arrive) and chooses the
day's source once: the flat file when published, REST for a recent session day without
one, nothing on a day without a session. The choice is written beside the landing path
(``<file>.source.json``). ``candidate_bars`` later takes the day's rows from that source
alone, and the pipeline finalises them (``parse.finalize_candidates``) the same way
whichever it was.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from market_data.calendar import today_in_new_york
from market_data.datasets import NO_RENAMES, Dataset, Renames
from market_data.errors import ConfigurationError, DayDataError
from market_data.sources.flat_files import LandedFile, fetch_day_file, landing_path, read_manifest
from market_data.sources.rest import RestAggregates, fetch_rest_day
from market_data.transform.parse import CandidateBars, read_candidates
from market_data.transform.scan import DownloadScan
from market_data.transform.scanned_lines import discard_scanned_lines, save_scanned_lines

CHOICE_SUFFIX = ".source.json"


class FileNotPublished(DayDataError):
    """A session day whose file is not in the bucket (yet), and REST cannot stand in."""


class NotLanded(DayDataError):
    """Bars asked for a day whose landing step has not run."""


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

Source = Literal["flat_file", "rest", "none"]


@dataclass(frozen=True)
class SourceChoice:
    source: Source
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


def _choice_path(landing_root: Path, dataset: Dataset, day: date) -> Path:
    path = landing_path(landing_root, dataset.key(day))
    return path.with_name(path.name + CHOICE_SUFFIX)


def _record_choice(path: Path, choice: SourceChoice) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps({"source": choice.source, "reason": choice.reason}))
    os.replace(part, path)


def recorded_choice(landing_root: Path, dataset: Dataset, day: date) -> SourceChoice:
    """The source the landing step chose for the day."""
    try:
        about = json.loads(_choice_path(landing_root, dataset, day).read_text())
        return SourceChoice(about["source"], about["reason"])
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError) as error:
        raise NotLanded(
            f"{dataset.name} {day}: the landing step's record is unreadable ({error}); "
            f"materialize {dataset.name}_day_file for {day} again"
        ) from error
    # A file landed before choices were recorded: its manifest says it is the bucket's.
    landed = landing_path(landing_root, dataset.key(day))
    if landed.exists() and read_manifest(landed) is not None:
        return SourceChoice("flat_file", "day file published")
    raise NotLanded(
        f"{dataset.name} {day}: not landed yet; materialize {dataset.name}_day_file for "
        f"{day} first (market-data download)"
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
    """Fetch the day file, choose the day's source and record the choice.

    A download is also scanned as it arrives for the lines starting with ``scan_for`` (the
    parse's ``line_prefixes``), which are saved beside the file for ``candidate_bars``: the
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
            started = time.perf_counter()
            save_scanned_lines(landed.path, landed.etag or "", list(scan_for), scanned)
            # The stream's read time holds the wait for the body's bytes: the rest decompressed.
            phases = landed.phases | {
                "decompress": max(0.0, scanned.read_seconds - landed.phases.get("wait", 0.0)),
                "scan": scanned.scan_seconds,
                "save_lines": time.perf_counter() - started,
            }
            landed = replace(landed, phases=phases)
    record = _choice_path(landing_root, dataset, day)
    try:
        choice = choose_source(dataset, day, not landed.missing, rest)
    except FileNotPublished:
        record.unlink(missing_ok=True)  # an earlier choice no longer holds
        raise
    _record_choice(record, choice)
    return landed, choice


@dataclass(frozen=True)
class LandedBars:
    """A day's candidate bars, where they came from, and which underlyings they replace."""

    candidates: CandidateBars
    choice: SourceChoice
    underlyings: frozenset[str]
    label: str


def candidate_bars(
    dataset: Dataset,
    day: date,
    landing_root: Path,
    underlyings: frozenset[str],
    rest_client: RestAggregates | None = None,
    renames: Renames = NO_RENAMES,
) -> LandedBars:
    """The day's rows of ``underlyings`` from the source the landing step chose;
    ``renames``: the former tickers that day of renamed symbols."""
    choice = recorded_choice(landing_root, dataset, day)
    if choice.source == "flat_file":
        label = dataset.key(day)
        path = landing_path(landing_root, label)
        if not path.exists():
            raise NotLanded(
                f"{dataset.name} {day}: {path} is gone since it landed; materialize "
                f"{dataset.name}_day_file for {day} again"
            )
        candidates = read_candidates(path, dataset, underlyings, label, renames)
        return LandedBars(candidates, choice, underlyings, label)
    label = f"REST {dataset.name} {day}"
    if choice.source == "rest" and dataset.loads != "options":
        if rest_client is None:
            raise ConfigurationError(f"{label}: the REST path needs MASSIVE_API_KEY")
        started = time.perf_counter()
        rows = fetch_rest_day(rest_client, dataset, day, underlyings, renames)
        candidates = CandidateBars(
            rows=rows, rows_read=rows.num_rows, seconds=time.perf_counter() - started
        )
        return LandedBars(candidates, choice, underlyings, label)
    if choice.source == "rest":
        choice = SourceChoice(
            "rest", f"{choice.reason}; option contracts come from flat files only"
        )
    # Nothing fetched: replace nothing either.
    return LandedBars(CandidateBars(rows=None), choice, frozenset(), label)
