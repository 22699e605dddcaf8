"""One error hierarchy: every error market-data raises is a MarketDataError, with its cause."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import date

import psycopg
import pytest

import market_data
from market_data.datasets import DATASETS
from market_data.errors import DatabaseUnavailable, DayDataError, MarketDataError
from market_data.transform.parse import DayFileError, parse_day_file
from market_data.warehouse.db import connect

DAY = date(2025, 11, 25)


def project_exceptions() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(market_data.__path__, "market_data."):
        if info.name.endswith(("definitions", "__main__")):
            continue
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(value, BaseException)
                and not issubclass(value, Warning)  # warnings are not errors
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def test_every_project_error_is_a_market_data_error():
    errors = project_exceptions()
    assert len(errors) > 10
    assert [e.__qualname__ for e in errors if not issubclass(e, MarketDataError)] == []


def test_a_corrupt_day_file_keeps_its_cause(tmp_path):
    path = tmp_path / "2025-11-25.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    dataset = DATASETS["stocks"]
    with pytest.raises(DayFileError) as raised:
        parse_day_file(path, dataset, dataset.window(DAY), frozenset({"SPY"}), label="x.csv.gz")
    assert isinstance(raised.value, DayDataError)
    assert raised.value.__cause__ is not None


def test_a_refused_connection_names_the_server_and_keeps_the_driver_error():
    with pytest.raises(DatabaseUnavailable) as raised:
        connect("postgresql://reader:hunter2@127.0.0.1:1/market_data")
    message = str(raised.value)
    assert "reader@127.0.0.1:1/market_data" in message and "hunter2" not in message
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
