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


def test_the_definitions_are_built_from_one_settings_object(monkeypatch):
    """Values reach the resources as values, secrets as variable names only."""
    from dagster import EnvVar

    from market_data.defs.resources import resources_from_settings
    from market_data.settings import Settings

    monkeypatch.setenv("MARKET_DATA_STOCK_MISSING_TOLERANCE", "0.1")
    monkeypatch.setenv("MARKET_DATA_DAY_WORKERS", "3")
    monkeypatch.setenv("MASSIVE_AWS_ACCESS_KEY", "access")
    monkeypatch.setenv("MASSIVE_API_KEY", "the-key")
    config = Settings.from_env()
    assert config.stock_missing_tolerance == 0.1 and config.day_workers == 3
    assert "MASSIVE_API_KEY" in config.secrets_set and "the-key" not in repr(config)
    resources = resources_from_settings(config)
    assert resources["pipeline_settings"].stock_missing_tolerance == 0.1
    assert resources["pipeline_settings"].day_workers == 3
    assert resources["rest_api"].api_key == EnvVar("MASSIVE_API_KEY")
    monkeypatch.setenv("MARKET_DATA_RISK_FREE_RATE", "four percent")
    with pytest.raises(ConfigurationError, match="MARKET_DATA_RISK_FREE_RATE"):
        Settings.from_env()
