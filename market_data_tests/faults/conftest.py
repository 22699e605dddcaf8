"""The fault suite's report: one row per injected fault, printed at the end of the run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

REPORT: list[tuple[str, str, str, str]] = []


@pytest.fixture
def report() -> Callable[[str, str, object, object], None]:
    def add(fault: str, outcome: str, rows_before: object, rows_after: object) -> None:
        REPORT.append((fault, outcome, str(rows_before), str(rows_after)))

    return add


def pytest_terminal_summary(terminalreporter) -> None:
    if not REPORT:
        return
    header = ("fault", "outcome", "rows before", "rows after")
    widths = [max(len(row[i]) for row in (header, *REPORT)) for i in range(4)]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))

    terminalreporter.section("fault suite")
    for row in (header, *REPORT):
        terminalreporter.write_line(line(row))
