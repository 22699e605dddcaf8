"""What the command line shows: live progress bars and aligned tables on a terminal, plain
lines in a pipe (CI, a log file), so that nothing is lost where nobody watches.

A run's progress comes from its own event log: ``RunProgress`` listens to the run's
events on the instance and reads the ``[i/n] <label> <day>: …`` lines that
``defs/day_runs.py`` logs per day, so the assets log the same way for the UI, the
``dagster`` CLI and ``market-data``.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from dagster import DagsterInstance, EventLogEntry

# Where stdout is not a terminal, rich would fold tables to 80 columns: lines stay whole.
PIPE_WIDTH = 240


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr); in a pipe no colours and no wrapped tables."""
    stream = sys.stderr if stderr else sys.stdout
    probe = Console(file=stream)
    if probe.is_terminal:
        return Console(file=stream, highlight=False)
    return Console(file=stream, highlight=False, width=PIPE_WIDTH, no_color=True)


def table(*headers: str, right: Sequence[str] = (), title: str | None = None) -> Table:
    """An aligned table that reads as plain columns in a log: a header rule, no frame; the
    ``right`` columns (numbers) right-aligned."""
    grid = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        title=title,
        title_justify="left",
        title_style="bold",
        header_style="bold",
    )
    for header in headers:
        grid.add_column(header, justify="right" if header in right else "left", no_wrap=True)
    return grid


# ``defs/day_runs.py`` logs each day of a step as ``[i/n] <label> <day>: <what> (<s>s)``
# or ``[i/n] <label> <day> failed: <why>``.
DAY_LINE = re.compile(
    r"^\[(?P<done>\d+)/(?P<total>\d+)\] (?P<label>.+?) (?P<day>\d{4}-\d{2}-\d{2})"
    r"(?P<failed> failed)?: (?P<text>.*)$"
)
# What a day's line counts: a day file's bytes, a parse's kept rows, a load's rows.
QUANTITY = re.compile(r"(?P<n>\d[\d,]*) (?P<unit>bytes|kept|rows loaded)\b")


@dataclass(frozen=True)
class DayLine:
    """One day of a step, read from its log line."""

    label: str
    done: int
    total: int
    day: str
    failed: bool
    text: str
    amount: int  # bytes or rows; 0 when the line counts nothing
    unit: str | None  # "bytes", "rows", or None when the line counts nothing

    @classmethod
    def parse(cls, message: str) -> DayLine | None:
        match = DAY_LINE.match(message)
        if match is None:
            return None
        quantity = QUANTITY.search(match["text"]) if not match["failed"] else None
        return cls(
            label=match["label"],
            done=int(match["done"]),
            total=int(match["total"]),
            day=match["day"],
            failed=bool(match["failed"]),
            text=match["text"],
            amount=int(quantity["n"].replace(",", "")) if quantity else 0,
            unit=None if quantity is None else "bytes" if quantity["unit"] == "bytes" else "rows",
        )


@dataclass
class StepTally:
    """A step's days so far: what its bar and its plain summary line show."""

    label: str  # the step key until its first day names the step
    total: int | None = None  # days; None until the first day is done
    done: int = 0
    failed: int = 0
    amount: int = 0
    unit: str | None = None  # what ``amount`` counts: "bytes", "rows", or nothing
    started: float = field(default_factory=time.monotonic)

    def add(self, line: DayLine) -> None:
        self.label, self.total = line.label, line.total
        self.unit = self.unit or line.unit
        self.done = max(self.done, line.done)
        self.failed += line.failed
        self.amount += line.amount

    def amount_text(self) -> str:
        if self.unit == "bytes":
            return f"{self.amount / 1e6:,.1f} MB"
        return f"{self.amount:,} rows" if self.unit else ""

    def rate_text(self) -> str:
        seconds = max(time.monotonic() - self.started, 1e-6)
        if self.unit == "bytes":
            return f"{self.amount / 1e6 / seconds:,.1f} MB/s"
        return f"{self.amount / seconds:,.0f} rows/s" if self.unit else ""

    def summary(self) -> str:
        counted = [f"{self.done}/{self.total} days"]
        counted += [f"{self.failed} failed"] if self.failed else []
        counted += [self.amount_text(), self.rate_text()] if self.unit else []
        return f"{self.label}: {', '.join(counted)}, {time.monotonic() - self.started:.1f}s"


def _level(entry: EventLogEntry) -> int:
    """A log entry's level as a number (Dagster may store the name)."""
    level = entry.level if isinstance(entry.level, int) else logging.getLevelName(entry.level)
    return level if isinstance(level, int) else 0


class RunProgress:
    """Shows one run's progress while ``execute_in_process`` runs it in this process.

    On a terminal: a live bar per step (days done / total, MB or rows, MB/s or rows/s,
    ETA), with warnings and errors printed above the bars. In a pipe: every message the
    run's code logs at INFO or above as a plain line, and a summary line per step.
    """

    def __init__(self, out: Console | None = None, *, live: bool | None = None) -> None:
        self.out = out or console()
        self.live = self.out.is_terminal if live is None else live
        self.run_id = str(uuid.uuid4())
        self._lock = threading.Lock()
        self._steps: dict[str, StepTally] = {}
        self._tasks: dict[str, TaskID] = {}
        self._bars = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description:<18}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("days"),
            TextColumn("{task.fields[amount]:>10}"),
            TextColumn("{task.fields[rate]:>14}"),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.out,
            disable=not self.live,
        )

    def listen(self, instance: DagsterInstance) -> None:
        """Receive the run's events as the instance stores them."""
        instance.add_event_listener(self.run_id, self.on_event)

    def __enter__(self) -> RunProgress:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def on_event(self, entry: EventLogEntry) -> None:
        with self._lock:  # a step may log from several threads
            self._on_event(entry)

    def _on_event(self, entry: EventLogEntry) -> None:
        step = entry.step_key or ""
        event = entry.dagster_event
        if event is not None:
            if event.is_step_start:
                self._start_step(step)
            elif event.is_step_success or event.is_step_failure:
                self._end_step(step, failed=event.is_step_failure)
            return
        line = DayLine.parse(entry.user_message)
        tally = self._steps.get(step)
        if line is None or tally is None:
            if _level(entry) >= logging.INFO:
                self._print(entry.user_message, _level(entry))
            return
        tally.add(line)
        if not self.live:
            self.out.print(entry.user_message, markup=False, highlight=False)
            return
        self._bars.update(
            self._tasks[step],
            description=tally.label,
            completed=tally.done,
            total=tally.total,
            **self._fields(tally),
        )
        if line.failed:
            self._print(f"{line.label} {line.day} failed: {line.text}", logging.ERROR)

    def _start_step(self, step: str) -> None:
        tally = self._steps[step] = StepTally(step)
        if self.live:  # a spinner until the first day tells how many there are
            self._tasks[step] = self._bars.add_task(step, total=None, **self._fields(tally))

    def _end_step(self, step: str, *, failed: bool) -> None:
        tally = self._steps.get(step)
        if tally is None:
            return
        if not self.live:
            if tally.total is not None:
                self.out.print(tally.summary(), markup=False, highlight=False)
            return
        task = self._tasks[step]
        if tally.total is None and not failed:  # no days (skipped, a check): no bar to keep
            self._bars.remove_task(task)
            return
        total = tally.total or 1
        self._bars.update(task, total=total, completed=total, **self._fields(tally))
        if failed:
            self._bars.update(task, description=f"[red]{tally.label} (failed)")

    @staticmethod
    def _fields(tally: StepTally) -> dict[str, Any]:
        """The bar's text columns: the amount so far, its rate, the failed days."""
        failed = f"[red]{tally.failed} failed" if tally.failed else ""
        return {"amount": tally.amount_text(), "rate": tally.rate_text(), "failed": failed}

    def _print(self, message: str, level: int) -> None:
        style = "red" if level >= logging.ERROR else "yellow" if level >= logging.WARNING else ""
        self.out.print(message, style=style or None, markup=False, highlight=False)


@contextmanager
def counting(description: str, total: int, unit: str = "files") -> Iterator[Callable[[], None]]:
    """A bar for work counted in items (files generated, uploaded); in a pipe a line at
    the start and one every tenth of the way. Yields the function to call per item."""
    out = console()
    if total <= 0:
        yield lambda: None
        return
    if out.is_terminal:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn(unit),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=out,
            transient=False,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield lambda: bar.advance(task)
        return
    out.print(f"{description}: {total} {unit}", markup=False)
    step = max(total // 10, 1)
    started = time.monotonic()
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        if done % step == 0 or done == total:
            out.print(f"  {done}/{total} {unit} ({time.monotonic() - started:.0f}s)", markup=False)

    yield advance
