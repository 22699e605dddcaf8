"""Parquet bars per dataset and day: the hand-off between parsing and loading.

Each file also records which underlyings it was parsed for, because the load must
know whose day it replaces even when a symbol has no bar that day.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from market_data.transform.parse import BARS_SCHEMA

_UNDERLYINGS_KEY = b"market_data.underlyings"
_SOURCE_KEY = b"market_data.source"


@dataclass(frozen=True)
class StoredBars:
    bars: pa.Table
    underlyings: frozenset[str]
    source: str


class BarsNotBuilt(FileNotFoundError):
    """The load asked for a day whose bars were not parsed yet."""


@dataclass(frozen=True)
class BarStore:
    root: Path

    def path(self, dataset: str, day: date) -> Path:
        return self.root / dataset / f"{day:%Y}" / f"{day:%m}" / f"{day.isoformat()}.parquet"

    def quarantine_path(self, dataset: str, day: date) -> Path:
        return self.path(dataset, day).with_suffix(".quarantine.parquet")

    def write(
        self,
        dataset: str,
        day: date,
        bars: pa.Table,
        underlyings: frozenset[str],
        source: str,
        quarantine: pa.Table | None = None,
    ) -> Path:
        """Write atomically (temp file, then rename), so a reader never sees half a file."""
        path = self.path(dataset, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {
            _UNDERLYINGS_KEY: json.dumps(sorted(underlyings)).encode(),
            _SOURCE_KEY: source.encode(),
        }
        table = bars.cast(BARS_SCHEMA).replace_schema_metadata(metadata)
        _write_atomically(table, path)
        quarantine_path = self.quarantine_path(dataset, day)
        if quarantine is not None and quarantine.num_rows:
            _write_atomically(quarantine, quarantine_path)
        else:
            quarantine_path.unlink(missing_ok=True)
        return path

    def read(self, dataset: str, day: date) -> StoredBars:
        path = self.path(dataset, day)
        if not path.exists():
            raise BarsNotBuilt(
                f"no {dataset} bars for {day} at {path}: materialize {dataset}_bars for {day} first"
            )
        table = pq.read_table(path)
        metadata = table.schema.metadata or {}
        return StoredBars(
            bars=table.replace_schema_metadata(None),
            underlyings=frozenset(json.loads(metadata.get(_UNDERLYINGS_KEY, b"[]"))),
            source=metadata.get(_SOURCE_KEY, b"flat_file").decode(),
        )


def _write_atomically(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
