"""The soak's history, all of it drawn from one seed: which days are simulated, when each
day file is published (late for some, republished with changed bars for three), when the
watchlist changes, and which fault strikes when.

The same seed gives the same plan, so a failing seed re-runs the same history (the
order in which concurrent runs reach a fault may still differ by a few seconds).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from market_data.calendar import is_session
from market_data.datasets import DATASETS
from market_data_local.generate import GeneratorSizes, has_file

# A stretch with a DST change (2025-11-02), Thanksgiving (11-27) and its early close (11-28).
FULL_FIRST_DAY = date(2025, 10, 20)
# The short version: Thanksgiving week, Monday to Monday.
SHORT_FIRST_DAY = date(2025, 11, 24)

# The tag that ties a run to the soak request that launched it (location.py sets it). Here,
# not in location.py: importing that module installs the simulated clock in the importer.
REQUEST_TAG = "market_data_soak/request"
REQUESTS_ENV = "MARKET_DATA_SOAK_REQUESTS"

# Small files: the soak is about what happens between runs, not about parsing speed.
SOAK_SIZES = GeneratorSizes(other_indices=60, other_stocks=80, contracts_per_underlying=12)

INITIAL_WATCHLIST = {"SPX": False, "NDX": False, "SPY": True, "QQQ": False}  # with options
ADDED_SYMBOL = "AAPL"
REMOVED_SYMBOL = "QQQ"
# Symbols watched from start to end: republished files change only their bars.
STEADY = {"indices": ("I:SPX", "I:NDX"), "stocks": ("SPY",), "options": ("O:SPY",)}

FAULT_KINDS = (
    "s3_reset",
    "s3_5xx",
    "s3_slow",
    "rest_429",
    "rest_5xx",
    "pg_restart",
    "worker_kill",
    "disk_full",
)


@dataclass(frozen=True)
class Release:
    """A day file put in the bucket at ``at_day`` 11:00 ET (``version`` 2: republished)."""

    dataset: str
    day: date
    at_day: date
    version: int = 1


@dataclass(frozen=True)
class PlannedFault:
    id: int
    kind: str
    day: date  # the simulated day it is armed on
    times: int = 1  # requests it hits (S3, REST)
    seconds: float = 0.0  # a slow answer's delay; a kill's delay after the run starts
    dataset: str = ""  # the day file it targets (S3)
    target_day: date | None = None

    def describe(self) -> str:
        what = {
            "s3_reset": f"S3 connection reset mid-download, {self.times}x",
            "s3_5xx": f"S3 answers 5xx, {self.times}x",
            "s3_slow": f"S3 answers {self.seconds:.0f} s late, {self.times}x",
            "rest_429": f"REST 429 with Retry-After, {self.times}x",
            "rest_5xx": f"REST 5xx, {self.times}x",
            "pg_restart": "PostgreSQL restarted mid-load",
            "worker_kill": "run worker killed (SIGKILL)",
            "disk_full": "landing area full until the next morning",
        }[self.kind]
        if self.dataset and self.target_day:
            what += f" ({self.dataset} {self.target_day})"
        return what


@dataclass
class Plan:
    seed: int
    first_day: date
    last_day: date
    prehistory_start: date  # the watchlist sensor's first backfill reaches back to here
    backfill_days: int
    retention_days: int
    releases: list[Release] = field(default_factory=list)
    watchlist_changes: dict[date, tuple[str, str]] = field(default_factory=dict)  # add/remove
    faults: list[PlannedFault] = field(default_factory=list)

    @property
    def sim_days(self) -> list[date]:
        return _span(self.first_day, self.last_day)

    @property
    def file_days(self) -> list[date]:
        return _span(self.prehistory_start, self.last_day)

    def releases_on(self, day: date) -> list[Release]:
        return [r for r in self.releases if r.at_day == day]

    def faults_on(self, day: date) -> list[PlannedFault]:
        return [f for f in self.faults if f.day == day]

    def final_version(self, dataset: str, day: date) -> int | None:
        """The version of the file the bucket holds at the end, None if never published."""
        versions = [r.version for r in self.releases if r.dataset == dataset and r.day == day]
        return max(versions) if versions else None

    def change_day(self, action: str) -> date | None:
        return next((d for d, (a, _) in self.watchlist_changes.items() if a == action), None)

    def mondays(self) -> list[date]:
        return [d for d in self.sim_days if d.weekday() == 0]

    def retention_cutoff(self) -> date | None:
        """The first day the last retention run keeps (Mondays, ``retention_days``)."""
        mondays = self.mondays()
        return mondays[-1] - timedelta(days=self.retention_days) if mondays else None


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _sessions_from(first: date, count: int) -> date:
    """The ``count``-th session day from ``first`` (inclusive)."""
    day, seen = first, 0
    while True:
        if is_session(day):
            seen += 1
            if seen == count:
                return day
        day += timedelta(days=1)


def make_plan(
    seed: int,
    trading_days: int = 30,
    first_day: date | None = None,
    backfill_days: int = 10,
    retention_days: int | None = None,
    faults_per_kind: int | None = None,
) -> Plan:
    rng = random.Random(seed)
    short = trading_days < 15
    first = first_day or (SHORT_FIRST_DAY if short else FULL_FIRST_DAY)
    last = _sessions_from(first, trading_days)
    plan = Plan(
        seed=seed,
        first_day=first,
        last_day=last,
        prehistory_start=first - timedelta(days=backfill_days),
        backfill_days=backfill_days,
        retention_days=retention_days or (14 if short else 21),
    )
    sim = plan.sim_days
    sessions = [d for d in sim if is_session(d)]

    # Publication: the prehistory is out when the soak starts; each later day's files come
    # out at 11:00 the next day, except a late day (all three files two days late) and a late
    # options file; the last day's files are not out when the soak ends.
    late_pool = [d for d in sessions if first < d <= last - timedelta(days=5)]
    late_day, late_options = rng.sample(late_pool, 2) if len(late_pool) >= 2 else (None, None)
    # A Friday's options file out on Monday after the weekly run: no Monday run covers it
    # again, so only the supersession of a REST stand-in without rows can load it.
    fridays = [d for d in late_pool if d.weekday() == 4 and d != late_day]
    if fridays:
        late_options = rng.choice(fridays)
    for day in plan.file_days:
        for name, dataset in DATASETS.items():
            if not has_file(dataset, day):
                continue
            if day < first:
                plan.releases.append(Release(name, day, first))
                continue
            if day == last:
                continue
            delay = 1
            if day == late_day or (day == late_options and name == "options"):
                delay = 3
            plan.releases.append(Release(name, day, day + timedelta(days=delay)))

    # Three files republished with changed bars, each before a Monday whose weekly run
    # (the 7 days before it) reloads it.
    candidates = []
    for monday in plan.mondays():
        for day in _span(monday - timedelta(days=7), monday - timedelta(days=3)):
            for name in DATASETS:
                out = [r.at_day for r in plan.releases if r.dataset == name and r.day == day]
                if not out or not is_session(day) or out[0] + timedelta(days=1) >= monday:
                    continue
                at = rng.choice(_span(out[0] + timedelta(days=1), monday - timedelta(days=1)))
                candidates.append((name, day, at))
    rng.shuffle(candidates)
    chosen: list[tuple[str, date, date]] = []
    for distinct in (True, False):
        for name, day, at in candidates:
            taken = {(n, d) for n, _, d in ((n, a, d) for n, d, a in chosen)}
            if len(chosen) == 3 or (name, day) in taken:
                continue
            if distinct and name in {n for n, _, _ in chosen}:
                continue
            chosen.append((name, day, at))
    for name, day, at in chosen:
        plan.releases.append(Release(name, day, at, version=2))

    # The watchlist: a symbol added, another removed, on weekday mornings.
    weekdays = [d for d in sessions if d not in (first, last)]
    add_at = weekdays[max(0, int(len(weekdays) * rng.uniform(0.25, 0.45)))]
    remove_at = weekdays[min(len(weekdays) - 1, int(len(weekdays) * rng.uniform(0.55, 0.75)))]
    if remove_at <= add_at:
        remove_at = next(d for d in weekdays if d > add_at)
    plan.watchlist_changes = {add_at: ("add", ADDED_SYMBOL), remove_at: ("remove", REMOVED_SYMBOL)}

    # Faults, each on a random simulated day.
    per_kind = faults_per_kind if faults_per_kind is not None else (1 if short else 2)
    fault_days = [d for d in sim if d != last and d.weekday() < 5]
    next_id = 1
    for kind in FAULT_KINDS:
        for i in range(per_kind):
            day = rng.choice(fault_days)
            fault = PlannedFault(id=next_id, kind=kind, day=day)
            if kind.startswith("s3_"):
                targets = [r for r in plan.releases if r.at_day == day and r.version == 1] or [
                    r for r in plan.releases if r.at_day <= day and r.day >= day - timedelta(days=3)
                ]
                target = rng.choice(targets) if targets else None
                times = {"s3_reset": (1, 2, 4), "s3_5xx": (2, 3, 8), "s3_slow": (1, 2)}[kind]
                fault = PlannedFault(
                    id=next_id,
                    kind=kind,
                    day=day,
                    times=times[i % len(times)] if not short else times[-1],
                    seconds=rng.uniform(3, 8) if kind == "s3_slow" else 0.0,
                    dataset=target.dataset if target else "indices",
                    target_day=target.day if target else day - timedelta(days=1),
                )
            elif kind.startswith("rest_"):
                fault = PlannedFault(id=next_id, kind=kind, day=day, times=rng.choice((1, 2, 3)))
            elif kind == "worker_kill":
                fault = PlannedFault(id=next_id, kind=kind, day=day, seconds=rng.uniform(0.5, 3))
            plan.faults.append(fault)
            next_id += 1
    plan.faults.sort(key=lambda f: (f.day, f.id))
    return plan
