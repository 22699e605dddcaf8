"""Settings: one module reads the environment, and README's table names every variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from market_data import settings
from market_data.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[1]
VARIABLE = re.compile(r"""["']((?:MARKET_DATA|MASSIVE|AWS|DAGSTER)_[A-Z0-9_]+|DATABASE_URL)["']""")
# Reading the environment anywhere but settings.py (writing it, or copying it whole for a
# child process, is fine).
READS_ENVIRONMENT = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^\]]+\](?!\s*=)")


def code_files() -> list[Path]:
    folders = ("market_data", "market_data_local", "bench")
    return sorted(path for folder in folders for path in (REPO / folder).rglob("*.py"))


def variables_in_code() -> set[str]:
    return {name for path in code_files() for name in VARIABLE.findall(path.read_text())}


def variables_in_readme() -> set[str]:
    text = (REPO / "README.md").read_text()
    table = text.split("## Environment", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_the_readme_lists_every_variable_the_code_reads_and_no_other():
    in_code, in_readme = variables_in_code(), variables_in_readme()
    assert in_code - in_readme == set(), "read by the code, missing from README's table"
    assert in_readme - in_code == set(), "in README's table, read nowhere"


def test_only_settings_reads_the_environment():
    readers = [
        f"{path.relative_to(REPO)}:{n}"
        for path in code_files()
        if path.name != "settings.py"
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if READS_ENVIRONMENT.search(line)
    ]
    assert readers == []


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("MARKET_DATA_DAY_WORKERS", "many", settings.day_workers),
        ("MARKET_DATA_PARTITIONS_PER_RUN", "0", settings.partitions_per_run),
        ("MARKET_DATA_START_DATE", "2020-13-01", settings.start_date),
        ("MARKET_DATA_STOCK_MISSING_TOLERANCE", "5%", settings.stock_missing_tolerance),
        ("MASSIVE_API_REQUESTS_PER_MINUTE", "-1", settings.rest_requests_per_minute),
        ("MARKET_DATA_WATCHLIST_BACKFILL_DAYS", "ninety", settings.watchlist_backfill_days),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch, name, value, read):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as raised:
        read()
    message = str(raised.value)
    assert message.startswith(name) and repr(value) in message and "\n" not in message


def test_unset_variables_take_their_defaults(monkeypatch):
    for name in (
        "MARKET_DATA_STOCK_MISSING_TOLERANCE",
        "MARKET_DATA_WATCHLIST_BACKFILL_DAYS",
        "MASSIVE_API_REQUESTS_PER_MINUTE",
        "MARKET_DATA_REST_WINDOW_DAYS",
    ):
        monkeypatch.delenv(name, raising=False)
    assert settings.stock_missing_tolerance() == 0.02
    assert settings.watchlist_backfill_days() == 90
    assert settings.rest_requests_per_minute() == 5.0
    assert settings.rest_window_days() == 2
