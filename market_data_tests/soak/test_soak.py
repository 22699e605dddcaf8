"""The soak's short version: a week of simulated days (Thanksgiving week: a holiday and
an early close, five sessions) through a real daemon and run queue, one fault of each kind,
the table checked row for row against the files at the end.

The full soak (30 sessions, two faults of each kind) is ``make soak``; a failing seed,
printed below the table, re-runs the same history: ``bench/soak.py --seed N --days 5``.
``MARKET_DATA_SOAK_SEED`` picks another seed here.
"""

from __future__ import annotations

import os

import pytest

from market_data_tests.soak.runner import format_result, run_soak

pytestmark = pytest.mark.slow  # a simulated week through a real daemon (~3 min)

SEED = int(os.environ.get("MARKET_DATA_SOAK_SEED", "1"))


def test_a_week_of_days_with_faults_ends_as_the_files_say():
    lines: list[str] = []
    result = run_soak(SEED, trading_days=5, say=lines.append)
    report = format_result(result)
    print("\n".join(lines) + "\n" + report)
    assert result.ok, report
