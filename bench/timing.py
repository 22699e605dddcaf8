"""How the benchmarks time a step: the best of several runs, as a user's second try sees it."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(repeat: int, step: Callable[[], object]) -> tuple[float, object]:
    """The shortest wall time of ``repeat`` runs of ``step``, and the last run's result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - started)
    return best, result
