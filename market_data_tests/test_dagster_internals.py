"""Dagster's private names that market-data uses still exist where it takes them from."""

from __future__ import annotations

import importlib

import dagster
import pytest

from market_data.dagster_internals import PRIVATE_NAMES


@pytest.mark.parametrize("module", sorted(PRIVATE_NAMES))
def test_each_private_name_is_where_the_project_takes_it_from(module):
    try:
        found = importlib.import_module(module)
    except ImportError as error:
        pytest.fail(
            f"Dagster {dagster.__version__} has no module {module} any more ({error}): "
            "market_data/dagster_internals.py must follow it (the event log storage's wipe)"
        )
    missing = [name for name in PRIVATE_NAMES[module] if not hasattr(found, name)]
    assert not missing, (
        f"Dagster {dagster.__version__} moved {', '.join(missing)} out of {module}: "
        "market_data/dagster_internals.py must follow it (the event log storage's wipe)"
    )


def test_nothing_else_in_the_product_imports_dagsters_private_modules():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    importers = [
        str(path.relative_to(root))
        for folder in ("market_data", "market_data_local")
        for path in (root / folder).rglob("*.py")
        if path.name != "dagster_internals.py"
        and ("from dagster._" in path.read_text() or "import dagster._" in path.read_text())
    ]
    assert importers == []
