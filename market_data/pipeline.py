"""One day of one dataset, step by step: land the file, build the bars, load the day.

The landing step (``transform/landing.py``) fetches the day file and chooses the day's
source once; ``build_bars`` finalises its candidate bars and stores them; ``load_bars``
puts the stored bars of a day's datasets into ``historical_bars`` in one transaction.
These plain functions are what the Dagster assets run for each partition; they know
nothing of Dagster, so tests and the command line call them directly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from market_data.datasets import NO_RENAMES, Dataset, Renames
from market_data.errors import ConfigurationError
from market_data.sources.flat_files import landing_path
from market_data.sources.rest import RestAggregates
from market_data.transform.bar_store import BarStore
from market_data.transform.landing import SourceChoice, candidate_bars, land_day_file
from market_data.transform.parse import ParsedDay, finalize_candidates
from market_data.transform.scanned_lines import discard_scanned_lines
from market_data.warehouse.load import DatasetBars, LoadResult, load_day

__all__ = ["BuiltBars", "build_bars", "land_day_file", "load_bars"]


@dataclass(frozen=True)
class BuiltBars:
    parsed: ParsedDay
    path: str  # the bar store's location of the file: a local path or s3://…
    choice: SourceChoice
    store_seconds: float = 0.0  # writing the Parquet


def build_bars(
    dataset: Dataset,
    day: date,
    landing_root: Path,
    underlyings: frozenset[str],
    store: BarStore,
    rest_client: RestAggregates | None = None,
    renames: Renames = NO_RENAMES,
) -> BuiltBars:
    """The day's bars of ``underlyings``, from the source its landing step chose, stored as
    Parquet; ``renames``: the former tickers that day of renamed symbols."""
    landed = candidate_bars(dataset, day, landing_root, underlyings, rest_client, renames)
    parsed = finalize_candidates(landed.candidates, dataset.window(day), landed.label)
    source = "rest" if landed.choice.source == "rest" else "flat_file"
    started = time.perf_counter()
    path = store.write(
        dataset.name, day, parsed.bars, landed.underlyings, source, parsed.quarantine
    )
    stored = time.perf_counter() - started
    discard_scanned_lines(landing_path(landing_root, dataset.key(day)))  # used once: stored
    return BuiltBars(parsed=parsed, path=path, choice=landed.choice, store_seconds=stored)


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
        raise ConfigurationError("one load covers datasets of one day time zone")
    return load_day(conn, windows.pop(), parts)
