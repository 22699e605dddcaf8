"""The embedded demo source: generated day files served by a local S3-compatible server.

Used when no Massive credentials are configured. The files are generated once under
``MARKET_DATA_HOME/demo_source`` in the exact bucket layout; the server keeps objects
in memory, so they are uploaded again whenever it has been restarted.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from market_data.calendar import today_in_new_york
from market_data.local.generate import generate_source
from market_data.local.s3 import ensure_local_s3, seed_bucket

# A stretch with a DST change (Nov 2), a holiday (Nov 27) and an early close (Nov 28).
DEMO_START = date(2025, 10, 27)
DEMO_END = date(2025, 11, 30)
# Also the recent days, so that what the UI's sensors and schedules request exists.
RECENT_DAYS = 90


def demo_source_dir(home: Path) -> Path:
    return home / "demo_source"


def ensure_demo_source(home: Path, bucket: str) -> str:
    """Generate the demo days (once), serve them, and return the endpoint URL."""
    root = demo_source_dir(home)
    generate_source(root, DEMO_START, DEMO_END)
    yesterday = today_in_new_york() - timedelta(days=1)
    generate_source(root, yesterday - timedelta(days=RECENT_DAYS - 1), yesterday)
    endpoint = ensure_local_s3(home)
    seed_bucket(endpoint, bucket, root)
    return endpoint
