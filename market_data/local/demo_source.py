"""The embedded demo source: generated day files served by a local S3-compatible server.

Used when no Massive credentials are configured. The files are generated once under
``MARKET_DATA_HOME/demo_source`` in the exact bucket layout; the server keeps objects
in memory, so they are uploaded again whenever it has been restarted.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from market_data import settings
from market_data.calendar import today_in_new_york
from market_data.local.generate import generate_day_file, missing_day_files
from market_data.local.s3 import ensure_local_s3, seed_bucket
from market_data.terminal import counting

# A stretch with a DST change (Nov 2), a holiday (Nov 27) and an early close (Nov 28).
DEMO_START = date(2025, 10, 27)
DEMO_END = date(2025, 11, 30)


def recent_days() -> int:
    """Also the recent days, as many as the watchlist sensor loads for a new symbol
    (MARKET_DATA_WATCHLIST_BACKFILL_DAYS), so that a symbol added in the UI, and the
    schedules' yesterday, find their files instead of starting runs that can only fail."""
    return settings.watchlist_backfill_days()


def demo_source_dir(home: Path) -> Path:
    return home / "demo_source"


def ensure_demo_source(home: Path, bucket: str) -> str:
    """Generate the demo days (once), serve them, and return the endpoint URL."""
    root = demo_source_dir(home)
    yesterday = today_in_new_york() - timedelta(days=1)
    pending = {
        path: (dataset, day)
        for first, last in (
            (DEMO_START, DEMO_END),
            (yesterday - timedelta(days=recent_days() - 1), yesterday),
        )
        for dataset, day, path in missing_day_files(root, first, last)
    }
    with counting("generating the demo's day files (once)", len(pending)) as advance:
        for path, (dataset, day) in pending.items():
            generate_day_file(dataset, day, path)
            advance()
    endpoint = ensure_local_s3(home)
    seed_bucket(endpoint, bucket, root)
    return endpoint
