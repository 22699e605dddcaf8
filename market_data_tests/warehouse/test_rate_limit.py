"""One REST rate for every run: three processes fetching at once stay within the plan's
limit when they share the limiter in PostgreSQL, and exceed it when each keeps its own."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from market_data_local.rest_server import LocalRestServer

pytestmark = pytest.mark.slow  # processes sharing a rate limit

KEY = "rate-limit-key"
PER_MINUTE = 240  # 4 a second; the server refuses a 6th request within any second
REQUESTS_PER_PROCESS = 8

FETCH = f"""
import sys
from datetime import date
from market_data.sources.rest import RestAggregates
from market_data.warehouse.rate_limit import SharedRateLimiter

base_url, database_url, shared = sys.argv[1], sys.argv[2], sys.argv[3] == "shared"
limiter = SharedRateLimiter(database_url, {PER_MINUTE}) if shared else None
client = RestAggregates(base_url=base_url, api_key="{KEY}", requests_per_minute={PER_MINUTE},
                        limiter=limiter, backoff_seconds=0.05, max_backoff_seconds=0.2)
for n in range({REQUESTS_PER_PROCESS}):
    client.minute_bars("SPY", date(2025, 11, 25))
"""


def three_processes(base_url: str, database_url: str, mode: str) -> tuple[float, list[int]]:
    """Seconds until all three ended, and their exit codes (a process refused too often
    gives up with an error)."""
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", FETCH, base_url, database_url, mode], stderr=subprocess.DEVNULL
        )
        for _ in range(3)
    ]
    codes = [process.wait(timeout=120) for process in processes]
    return time.perf_counter() - started, codes


@pytest.fixture
def limited_server():
    with LocalRestServer(KEY, lambda ticker, day: []) as server:
        server.state.max_per_second = 5
        yield server


def test_three_processes_sharing_the_limit_are_never_refused(db, database_url, limited_server):
    seconds, codes = three_processes(limited_server.base_url, database_url, "shared")
    assert codes == [0, 0, 0]
    assert limited_server.state.rate_limited == 0
    assert len(limited_server.state.requests) == 3 * REQUESTS_PER_PROCESS
    # 24 requests spaced 0.25 s apart, whichever process sends them.
    assert seconds >= (3 * REQUESTS_PER_PROCESS - 1) * 60 / PER_MINUTE


def test_three_processes_each_with_its_own_limit_are_refused(db, database_url, limited_server):
    three_processes(limited_server.base_url, database_url, "own")  # some may give up
    assert limited_server.state.rate_limited > 0
