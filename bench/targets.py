"""The benchmarks' targets, said once: a script judges each target, prints its table and, run
by ``bench/all.py`` (``make bench``), hands the lines over for the summary at the end.

A script takes ``--targets-file PATH`` (``add_targets_argument``) and calls
``report(script, targets, path)``: the table goes to standard output and, with a path, one
JSON line per target is appended to the file, which ``bench/all.py`` reads back.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

HELD, MISSED, NOT_JUDGED = "held", "missed", "n/a (small files)"


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    wanted: str
    holds: bool
    # A speed or memory target means something on real-size files only; a count of files
    # or rows (nothing downloaded twice) holds at any size.
    size_bound: bool = True

    def verdict(self, quick: bool = False) -> str:
        if quick and self.size_bound:
            return NOT_JUDGED
        return HELD if self.holds else MISSED


@dataclass(frozen=True)
class TargetLine:
    """One judged target, as the summary prints it."""

    script: str
    name: str
    measured: str
    wanted: str
    verdict: str

    def __str__(self) -> str:
        return f"{self.verdict:<7} {self.name}: {self.measured} (target {self.wanted})  [{self.script}]"


def add_targets_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--targets-file",
        type=Path,
        help="append the judged targets to this file as JSON lines (bench/all.py reads them)",
    )


def print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    print()
    for row in (header, *rows):
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))


def report(script: str, targets: list[Target], path: Path | None, quick: bool = False) -> None:
    """Print the script's table of targets; with ``path``, append them for the summary."""
    lines = [TargetLine(script, t.name, t.measured, t.wanted, t.verdict(quick)) for t in targets]
    print_table(
        ("target", "measured", "wanted", "verdict"),
        [(line.name, line.measured, line.wanted, line.verdict) for line in lines],
    )
    if path is not None:
        with path.open("a") as out:
            for line in lines:
                out.write(json.dumps(asdict(line)) + "\n")


def read_lines(path: Path) -> list[TargetLine]:
    if not path.exists():
        return []
    return [TargetLine(**json.loads(text)) for text in path.read_text().splitlines() if text]
