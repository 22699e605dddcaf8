"""The fault suite's report: one row per injected fault, printed at the end of the run
(``market_data_tests/conftest.py`` gathers the rows, from pytest-xdist's workers too)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from market_data_tests.conftest import FAULT_ROW


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str, str, object, object], None]:
    def add(fault: str, outcome: str, rows_before: object, rows_after: object) -> None:
        row = (fault, outcome, str(rows_before), str(rows_after))
        request.node.user_properties.append((FAULT_ROW, row))

    return add
