"""Daily partitions, keyed ``YYYY-MM-DD`` in New York, today's included for the REST path,
and how a backfill of many of them is cut into runs."""

from __future__ import annotations

import os

from dagster import BackfillPolicy, DailyPartitionsDefinition

from market_data.settings import load_env_file, positive_int

load_env_file()  # both settings below are read when the definitions load
# The first day the UI offers; older history can be had by setting it earlier.
START_DATE = os.environ.get("MARKET_DATA_START_DATE", "2020-01-01")

daily_partitions = DailyPartitionsDefinition(
    start_date=START_DATE,
    timezone="America/New_York",
    end_offset=1,
)


def backfill_policy() -> BackfillPolicy:
    """One range run per backfill (its days run side by side inside it), or, with
    ``MARKET_DATA_PARTITIONS_PER_RUN=N``, runs of N days each, which the run queue
    (``max_concurrent_runs``) and a run launcher on Kubernetes or ECS spread out."""
    per_run = positive_int("MARKET_DATA_PARTITIONS_PER_RUN")
    if per_run is None:
        return BackfillPolicy.single_run()
    return BackfillPolicy.multi_run(max_partitions_per_run=per_run)
