"""The soak: weeks of simulated trading days through the real daemon and run queue, with
faults injected from a seed; the table checked against the files at the end.

    .venv/bin/python -W ignore bench/soak.py [--seed N] [--days 30]

prints one line per simulated day, then the table of faults (what the user saw, what
historical_bars holds afterwards) and the checks; exits 1 if any check failed, naming
the seed that re-runs the same history. docs/soak.md holds a run's table.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from market_data_tests.soak.runner import format_result, run_soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help="default: a random seed")
    parser.add_argument("--days", type=int, default=30, help="trading days simulated")
    parser.add_argument(
        "--faults-per-kind", type=int, default=None, help="default: 2 (1 under 15 days)"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="list every run, not only failed ones"
    )
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1, 10_000)
    print(f"soak seed {seed} (re-run with --seed {seed})", flush=True)
    result = run_soak(
        seed,
        args.days,
        say=lambda line: print(line, flush=True),
        faults_per_kind=args.faults_per_kind,
    )
    print(format_result(result, verbose=args.verbose), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
