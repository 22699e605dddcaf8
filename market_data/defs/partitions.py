"""Daily partitions, keyed ``YYYY-MM-DD``: New York days for the US datasets, UTC days for
crypto and forex, today's included for the REST path; and how a backfill of many of them
is cut into runs."""

from __future__ import annotations

from dagster import BackfillPolicy, DailyPartitionsDefinition

from market_data import settings
from market_data.datasets import Dataset

# The first day the UI offers; older history can be had by setting it earlier.
daily_partitions = DailyPartitionsDefinition(
    start_date=settings.start_date().isoformat(),
    timezone="America/New_York",
    end_offset=1,
)
# Crypto and forex files cover UTC days: a partition is exactly one of their files.
utc_daily_partitions = DailyPartitionsDefinition(
    start_date=settings.start_date().isoformat(),
    timezone="UTC",
    end_offset=1,
)


def partitions_for(dataset: Dataset) -> DailyPartitionsDefinition:
    """The partitions of a dataset's assets: its files' days."""
    return utc_daily_partitions if dataset.day_timezone == "UTC" else daily_partitions


def backfill_policy() -> BackfillPolicy:
    """One range run per backfill (its days run side by side inside it), or, with
    ``MARKET_DATA_PARTITIONS_PER_RUN=N``, runs of N days each, which the run queue
    (``max_concurrent_runs``) and a run launcher on Kubernetes or ECS spread out."""
    per_run = settings.partitions_per_run()
    if per_run is None:
        return BackfillPolicy.single_run()
    return BackfillPolicy.multi_run(max_partitions_per_run=per_run)
