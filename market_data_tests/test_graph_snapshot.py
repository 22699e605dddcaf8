"""The graph as the UI shows it equals ``snapshots/definitions.txt`` (``make snapshot``)."""

from __future__ import annotations

import subprocess
import sys

from market_data_tests.graph_snapshot import SNAPSHOT


def test_the_graph_matches_its_snapshot():
    # A fresh interpreter: the definitions are built from an environment with nothing set.
    code = "from market_data_tests.graph_snapshot import current; print(current(), end='')"
    taken = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert taken == SNAPSHOT.read_text(), (
        "the asset graph changed: review the difference and run `make snapshot` to accept it"
    )
