"""Generated day files of every dataset, shared by the scan and parse tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from market_data.datasets import DATASETS
from market_data_local.generate import generate_day_file

DAY = date(2025, 11, 25)


@pytest.fixture(scope="session")
def day_files(tmp_path_factory) -> dict[str, Path]:
    """Each dataset's file of ``DAY``, by dataset name."""
    root = tmp_path_factory.mktemp("day-files")
    return {
        name: root / f"{name}.csv.gz"
        for name in DATASETS
        if generate_day_file(DATASETS[name], DAY, root / f"{name}.csv.gz")
    }
