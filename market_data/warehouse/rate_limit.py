"""One REST request rate for every run of the instance, kept in PostgreSQL.

Massive limits requests per key, not per process: the daily run, a watchlist backfill
and a supersession run that fetch at the same time must share the plan's rate. Each
request reserves the next free slot of one row (the ``UPDATE`` holds the row's lock, so
no two requests anywhere get the same slot) and sleeps until it. Slots are spaced
evenly, as the in-process ``RateLimiter`` spaces them, and timed by the database's
clock, so machines with skewed clocks still agree.
"""

from __future__ import annotations

import threading
import time

import psycopg

from market_data.warehouse.db import connect

_CREATE = "INSERT INTO rest_rate_limit (name) VALUES (%s) ON CONFLICT (name) DO NOTHING"
# The slot this request takes starts at the row's next free slot, or now if that is past;
# what comes back is how long to wait for it.
_RESERVE = """
UPDATE rest_rate_limit
   SET next_at = GREATEST(next_at, extract(epoch FROM clock_timestamp())) + %(interval)s
 WHERE name = %(name)s
RETURNING next_at - %(interval)s - extract(epoch FROM clock_timestamp())
"""


class SharedRateLimiter:
    """At most ``per_minute`` requests per minute across every process using ``name``."""

    def __init__(self, database_url: str, per_minute: float, name: str = "massive_rest") -> None:
        self.database_url = database_url
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.name = name
        self._local = threading.local()

    def _connection(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = connect(self.database_url, "market-data rate limit")
        return conn

    def wait(self) -> None:
        if not self.interval:
            return
        conn = self._connection()
        row = conn.execute(_RESERVE, {"name": self.name, "interval": self.interval}).fetchone()
        if row is None:  # the limiter's first request ever
            conn.execute(_CREATE, (self.name,))
            row = conn.execute(_RESERVE, {"name": self.name, "interval": self.interval}).fetchone()
        delay = float(row[0]) if row else 0.0
        if delay > 0:
            time.sleep(delay)
