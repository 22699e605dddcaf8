"""What the embedded servers share: a folder of state, locked while a server starts or stops."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def folder_lock(root: Path) -> Iterator[None]:
    """Serialize processes on ``root/.lock``: two starting at once would each start a server."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log_tail(log_file: Path, lines: int = 15) -> str:
    """The end of a server's log, for an error message that says why it did not start."""
    try:
        tail = log_file.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return f"last lines of {log_file}:\n" + "\n".join(tail)
