"""Daily partitions, keyed ``YYYY-MM-DD`` in New York, today's included for the REST path."""

from __future__ import annotations

import os

from dagster import DailyPartitionsDefinition

# The first day the UI offers; older history can be had by setting it earlier.
START_DATE = os.environ.get("MARKET_DATA_START_DATE", "2020-01-01")

daily_partitions = DailyPartitionsDefinition(
    start_date=START_DATE,
    timezone="America/New_York",
    end_offset=1,
)
