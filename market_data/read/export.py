"""Bars as files: CSV (ISO 8601 timestamps with their offset, empty fields for nulls) or Parquet."""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

FORMATS = ("csv", "parquet")


def with_iso_timestamps(table: pa.Table) -> pa.Table:
    """``timestamp`` as ``2025-01-02T09:30:00-05:00`` (strftime's ``%z`` has no colon)."""
    seconds = table["timestamp"].cast(pa.timestamp("s", tz=table.schema.field("timestamp").type.tz))
    text = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%S%z")
    text = pc.replace_substring_regex(text, pattern=r"([+-]\d{2})(\d{2})$", replacement=r"\1:\2")
    return table.set_column(table.schema.get_field_index("timestamp"), "timestamp", text)


def write_bars(table: pa.Table, sink: BinaryIO, file_format: str) -> None:
    if file_format == "parquet":
        pq.write_table(table, sink)
        return
    # Nothing needs quoting: symbols are validated (A-Z, 0-9, '.', '-', ':'), the rest numbers.
    # Arrow quotes header names whatever the style, so the header is written here.
    sink.write((",".join(table.column_names) + "\n").encode())
    options = pa_csv.WriteOptions(quoting_style="none", include_header=False)
    pa_csv.write_csv(with_iso_timestamps(table), sink, write_options=options)
