"""``option_surface``: a day's per-expiration surface numbers, replaced whole per day."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from market_data.options.surface import ExpirySurface

_COLUMNS = (
    'underlying, day, root, expiration, "timestamp", t_years, forward, forward_source,'
    " parity_spread, parity_tolerance, atm_iv, put25_iv, call25_iv, contracts, near_money,"
    " near_money_solved"
)


def replace_day(
    conn: psycopg.Connection,
    day: date,
    close_ms: int,
    surfaces: Mapping[str, Sequence[ExpirySurface]],
) -> int:
    """The day's rows replaced by ``surfaces`` (underlying → its expirations) in one
    transaction; the rows written."""
    rows = [
        (
            underlying,
            day,
            s.root,
            s.expiration,
            close_ms,
            s.t_years,
            s.forward,
            s.forward_source,
            s.parity_spread,
            s.parity_tolerance,
            s.atm_iv,
            s.put25_iv,
            s.call25_iv,
            s.contracts,
            s.near_money,
            s.near_money_solved,
        )
        for underlying, expirations in surfaces.items()
        for s in expirations
    ]
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DELETE FROM option_surface WHERE day = %s", (day,))
        cur.executemany(
            f"INSERT INTO option_surface ({_COLUMNS}) VALUES ({', '.join(['%s'] * 16)})", rows
        )
    return len(rows)


def prune_option_surface(conn: psycopg.Connection, cutoff: date) -> int:
    """Remove the surfaces of days before ``cutoff``; the rows removed."""
    return max(conn.execute("DELETE FROM option_surface WHERE day < %s", (cutoff,)).rowcount, 0)
