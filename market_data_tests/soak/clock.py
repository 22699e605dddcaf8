"""The soak's simulated clock: a file holding the simulated New York time.

The soak moves time forward by rewriting the file; every process of the simulated
deployment (the code server that evaluates the sensors, each run worker) reads "today"
from it through ``install``, which replaces ``market_data.calendar.today_in_new_york``
wherever the product imported it. Nothing else of the product is changed.
"""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from pathlib import Path

from market_data.calendar import NEW_YORK

CLOCK_ENV = "MARKET_DATA_SOAK_CLOCK"


def clock_path() -> Path:
    return Path(os.environ[CLOCK_ENV])


def set_now(path: Path, when: datetime) -> None:
    """Move the simulated clock (atomically: a reader never sees half a time)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(when.astimezone(NEW_YORK).isoformat())
    os.replace(tmp, path)


def now(path: Path | None = None) -> datetime:
    return datetime.fromisoformat((path or clock_path()).read_text().strip())


def today() -> date:
    """The simulated New York day: what ``today_in_new_york`` answers under the soak."""
    return now().astimezone(NEW_YORK).date()


def install() -> None:
    """Make every imported ``market_data`` module's ``today_in_new_york`` the simulated one
    (modules imported later take it from ``market_data.calendar``)."""
    if CLOCK_ENV not in os.environ:
        raise RuntimeError(
            f"{CLOCK_ENV} is not set: the soak's simulated clock belongs in the soak's own "
            "processes (its code server and run workers), never in the one importing it"
        )
    import market_data.calendar as calendar

    original = calendar.today_in_new_york
    if original is today:
        return
    for name, module in list(sys.modules.items()):
        if (
            name.startswith("market_data")
            and getattr(module, "today_in_new_york", None) is original
        ):
            module.today_in_new_york = today  # type: ignore[attr-defined]
