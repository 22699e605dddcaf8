"""Daily partitions, keyed ``YYYY-MM-DD`` in New York, today's included for the REST path,
and how a backfill of many of them is cut into runs."""

from __future__ import annotations

from dagster import BackfillPolicy, DailyPartitionsDefinition

from market_data import settings

# The first day the UI offers; older history can be had by setting it earlier.
daily_partitions = DailyPartitionsDefinition(
    start_date=settings.start_date().isoformat(),
    timezone="America/New_York",
    end_offset=1,
)


def backfill_policy() -> BackfillPolicy:
    """One range run per backfill (its days run side by side inside it), or, with
    ``MARKET_DATA_PARTITIONS_PER_RUN=N``, runs of N days each, which the run queue
    (``max_concurrent_runs``) and a run launcher on Kubernetes or ECS spread out."""
    per_run = settings.partitions_per_run()
    if per_run is None:
        return BackfillPolicy.single_run()
    return BackfillPolicy.multi_run(max_partitions_per_run=per_run)
