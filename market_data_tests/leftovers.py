"""What a test run leaves outside the clone: nothing may survive a green run.

The places checked are where programs write by default: the user's home and its cache,
configuration and data folders, and the system's temporary directory. An entry there that
was not there when the run started, and is still there at its end, is a leftover.
"""

from __future__ import annotations

import contextlib
import getpass
import tempfile
from pathlib import Path


def places() -> list[Path]:
    home = Path.home()
    return [
        home,
        home / ".cache",
        home / ".config",
        home / ".local" / "share",
        Path(tempfile.gettempdir()),
    ]


def snapshot() -> set[Path]:
    """Every entry directly in the places checked."""
    entries: set[Path] = set()
    for place in places():
        try:
            entries.update(place.iterdir())
        except OSError:  # absent or unreadable: nothing there to leave behind
            continue
    return entries


def remove_empty_pytest_root(before: set[Path]) -> None:
    """pytest removes a green run's temporary folders but keeps their empty parent,
    ``pytest-of-<user>``; it goes too when this run made it."""
    root = Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}"
    if root not in before:
        # Not empty (a failed test's folder is kept) or not there: left as it is.
        with contextlib.suppress(OSError):
            root.rmdir()


def left_behind(before: set[Path], repository: Path) -> list[Path]:
    """Entries that appeared during the run, the clone itself aside."""
    return sorted(
        path
        for path in snapshot() - before
        if path != repository and repository not in path.parents
    )
