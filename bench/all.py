"""``make bench``: every benchmark script in turn, then one line per target of them all.

    .venv/bin/python -W ignore bench/all.py                          # what make bench runs
    .venv/bin/python -W ignore bench/all.py --only read large_watchlist

Each script prints its own tables as it goes and hands its judged targets over
(``bench/targets.py``); the run ends with every target on one line, ``held`` or
``missed``, the figure and the target. A script that fails before judging its targets
counts as one missed line. The exit status is 1 if any target was missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.targets import HELD, MISSED, TargetLine, read_lines  # noqa: E402

SCRIPTS = ("run", "run_cost", "downloaded_day", "read", "options", "large_watchlist")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, help="these scripts alone")
    args = parser.parse_args()
    chosen = [s for s in SCRIPTS if not args.only or s in args.only]
    started = time.perf_counter()
    lines: list[TargetLine] = []
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="market-data-bench-targets-") as folder:
        for name in chosen:
            script = f"{name}.py"
            path = Path(folder) / f"{name}.jsonl"
            print(f"\n==== bench/{script}", flush=True)
            begun = time.perf_counter()
            command = [sys.executable, "-W", "ignore", str(REPO / "bench" / script)]
            done = subprocess.run(
                [*command, "--targets-file", str(path)],
                cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            seconds[script] = time.perf_counter() - begun
            judged = read_lines(path)
            lines += judged
            if done.returncode and not any(line.verdict == MISSED for line in judged):
                lines.append(
                    TargetLine(
                        script,
                        "the script runs to its end",
                        f"exit {done.returncode}",
                        "exit 0",
                        MISSED,
                    )
                )
    took = ", ".join(f"{script} {s / 60:.1f} min" for script, s in seconds.items())
    print(
        f"\n==== targets of make bench ({platform.node()}, {os.cpu_count()} cores, {date.today()}; "
        f"{took})"
    )
    for line in lines:
        print(line)
    held = sum(line.verdict == HELD for line in lines)
    missed = sum(line.verdict == MISSED for line in lines)
    print(
        f"{held} held, {missed} missed, {len(lines) - held - missed} not judged "
        f"in {(time.perf_counter() - started) / 60:.1f} min"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
