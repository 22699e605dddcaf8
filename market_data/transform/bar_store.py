"""Parquet bars per dataset and day: the hand-off between parsing and loading.

Each file holds bars of ``bar_schema.py``'s schema and also records which underlyings
it was parsed for, because the load must know whose day it replaces even when a symbol
has no bar that day.

The store is a local folder or an S3 prefix (through ``pyarrow.fs``), so runs on
several machines can share one; the layout is ``<dataset>/<YYYY>/<MM>/<YYYY-MM-DD>.parquet``.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from market_data.bar_schema import BARS_SCHEMA
from market_data.day_files import FilesRemoved, prune_day_files
from market_data.errors import ConfigurationError, DayDataError

_UNDERLYINGS_KEY = b"market_data.underlyings"
_SOURCE_KEY = b"market_data.source"


@dataclass(frozen=True)
class StoredBars:
    bars: pa.Table
    underlyings: frozenset[str]
    source: Literal["flat_file", "rest"]


class BarsNotBuilt(DayDataError, FileNotFoundError):
    """The load asked for a day whose bars were not parsed yet."""


@dataclass(frozen=True)
class BarStore:
    """Bars under ``root``: a local folder, or ``bucket/prefix`` on an S3 ``filesystem``."""

    root: Path | str
    filesystem: pafs.FileSystem = field(default_factory=pafs.LocalFileSystem)

    @classmethod
    def from_uri(
        cls,
        uri: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
    ) -> BarStore:
        """A store at ``s3://bucket/prefix`` or at a local folder (a path or ``file://``).

        Without keys, S3 credentials come from the AWS SDK's chain (env, pod or task role).
        """
        parts = urlsplit(uri)
        if parts.scheme in ("", "file"):
            return cls(Path(parts.path if parts.scheme else uri))
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigurationError(
                f"bar store {uri!r}: expected s3://bucket/prefix or a local folder"
            )
        s3 = pafs.S3FileSystem(
            endpoint_override=endpoint,
            region=region,
            access_key=access_key,
            secret_key=secret_key,
            session_token=session_token,
        )
        return cls(f"{parts.netloc}{parts.path}".rstrip("/"), s3)

    @property
    def local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def path(self, dataset: str, day: date) -> str:
        return self._location(self._key(dataset, day, ".parquet"))

    def quarantine_path(self, dataset: str, day: date) -> str:
        return self._location(self._key(dataset, day, ".quarantine.parquet"))

    def write(
        self,
        dataset: str,
        day: date,
        bars: pa.Table,
        underlyings: frozenset[str],
        source: str,
        quarantine: pa.Table | None = None,
    ) -> str:
        """Write so that a reader never sees half a file; the file's location."""
        metadata = {
            _UNDERLYINGS_KEY: json.dumps(sorted(underlyings)).encode(),
            _SOURCE_KEY: source.encode(),
        }
        table = bars.cast(BARS_SCHEMA).replace_schema_metadata(metadata)
        self._put(table, self._key(dataset, day, ".parquet"))
        quarantine_key = self._key(dataset, day, ".quarantine.parquet")
        if quarantine is not None and quarantine.num_rows:
            self._put(quarantine, quarantine_key)
        else:
            with contextlib.suppress(FileNotFoundError):  # a previous run's quarantine
                self.filesystem.delete_file(quarantine_key)
        return self.path(dataset, day)

    def exists(self, dataset: str, day: date) -> bool:
        info = self.filesystem.get_file_info(self._key(dataset, day, ".parquet"))
        return cast(bool, info.type != pafs.FileType.NotFound)

    def read(self, dataset: str, day: date) -> StoredBars:
        try:
            with self.filesystem.open_input_file(self._key(dataset, day, ".parquet")) as f:
                table = pq.read_table(f)
        except FileNotFoundError as error:
            raise BarsNotBuilt(
                f"no {dataset} bars for {day} at {self.path(dataset, day)}: "
                f"materialize {dataset}_bars for {day} first"
            ) from error
        metadata = table.schema.metadata or {}
        table = table.replace_schema_metadata(None)
        if "file_ticker" not in table.column_names:  # written before tickers were followed
            table = table.append_column("file_ticker", pa.nulls(table.num_rows, pa.string()))
        return StoredBars(
            bars=table.select(BARS_SCHEMA.names).cast(BARS_SCHEMA),
            underlyings=frozenset(json.loads(metadata.get(_UNDERLYINGS_KEY, b"[]"))),
            source="rest" if metadata.get(_SOURCE_KEY) == b"rest" else "flat_file",
        )

    def prune(self, cutoff: date) -> FilesRemoved:
        """Remove the days (bars and quarantine) before ``cutoff``, for retention."""
        return prune_day_files(self._root_key(), cutoff, self.filesystem)

    def _root_key(self) -> str:
        # pyarrow's local filesystem wants absolute paths; S3 paths are bucket/key.
        return Path(self.root).absolute().as_posix() if self.local else str(self.root).strip("/")

    def _key(self, dataset: str, day: date, suffix: str) -> str:
        return f"{self._root_key()}/{dataset}/{day:%Y}/{day:%m}/{day.isoformat()}{suffix}"

    def _location(self, key: str) -> str:
        return key if self.local else f"{self.filesystem.type_name}://{key}"

    def _put(self, table: pa.Table, key: str) -> None:
        """Never half a file at ``key``. Local: a temp file of this writer's own, then a
        rename. S3: the file is built in memory and written in one call, so a failure while
        building it never reaches the bucket (pyarrow's close completes an open upload)."""
        if not self.local:
            buffer = pa.BufferOutputStream()
            pq.write_table(table, buffer, compression="zstd")
            with self.filesystem.open_output_stream(key) as out:
                out.write(buffer.getvalue())
            return
        self.filesystem.create_dir(key.rsplit("/", 1)[0], recursive=True)
        part = f"{key}.{uuid.uuid4().hex[:8]}.part"
        try:
            with self.filesystem.open_output_stream(part) as out:
                pq.write_table(table, out, compression="zstd")
            self.filesystem.move(part, key)
        except BaseException:
            with contextlib.suppress(OSError):
                self.filesystem.delete_file(part)
            raise
