"""Real components for the tests: one PostgreSQL cluster and one S3-compatible server per session.

Each test gets its own database and its own bucket, so tests never see each other's rows.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from market_data.defs.resources import (
    BarStoreResource,
    FlatFilesResource,
    PipelineSettingsResource,
    RestApiResource,
    WarehouseResource,
)
from market_data.warehouse.db import connect
from market_data.warehouse.schema import apply_schema
from market_data_local.postgres import EmbeddedPostgres
from market_data_tests import leftovers

REPOSITORY = Path(__file__).resolve().parent.parent
# What the programs the tests start keep between runs (matplotlib's font list, Chromium's
# profile and dconf, pip) goes to the clone's git-ignored .market_data, which make clean
# removes, not to the user's home. Set before any of them starts or is imported.
XDG_HOME = REPOSITORY / ".market_data" / "xdg"
for _variable, _folder in (
    ("XDG_CACHE_HOME", "cache"),
    ("XDG_CONFIG_HOME", "config"),
    ("XDG_DATA_HOME", "data"),
    ("MPLCONFIGDIR", "config/matplotlib"),
):
    os.environ[_variable] = str(XDG_HOME / _folder)


def chain_resources(
    endpoint_url: str,
    bucket: str,
    database_url: str,
    root: Path,
    *,
    secret_key: str = "test-secret",
    rest_api: RestApiResource | None = None,
) -> dict[str, Any]:
    """The resources of a run against the test servers, local state under ``root``."""
    return {
        "flat_files": FlatFilesResource(
            endpoint_url=endpoint_url,
            bucket=bucket,
            access_key="test-access",
            secret_key=secret_key,
            landing_dir=str(root / "landing"),
        ),
        "warehouse": WarehouseResource(database_url=database_url),
        "bar_store": BarStoreResource(root=str(root / "bars")),
        "rest_api": rest_api or RestApiResource(),  # no key: the REST path is disabled
        "pipeline_settings": PipelineSettingsResource(),
    }


logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the S3 server's access log

# The longest suites go first: pytest-xdist hands out whole files in collection order (the
# Makefile's --no-loadscope-reorder: by default it puts the files with most tests first, and
# the soak, one test of three minutes, started last and left the other worker idle).
LONGEST_FIRST = (
    "soak/test_soak.py",
    "alerts/test_daemon.py",
    "faults/test_faults.py",
    "defs/test_scale_out.py",
    "test_cli.py",
    "test_ui.py",
    "test_plain_install.py",
    "test_ui_signals.py",
    "test_demo.py",
    "test_tooling.py",
)


_outside_before: set[Path] = set()


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the run as a whole, not an xdist worker
        _outside_before.update(leftovers.snapshot())


@pytest.hookimpl(trylast=True)  # after pytest has removed a green run's temporary folders
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput") or exitstatus != pytest.ExitCode.OK:
        return
    leftovers.remove_empty_pytest_root(_outside_before)
    left = leftovers.left_behind(_outside_before, REPOSITORY)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_sep("=", "written outside the clone during the run, still there", red=True)
        for path in left:
            reporter.write_line(f"  {path}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return next(
            (i for i, suite in enumerate(LONGEST_FIRST) if path == f"market_data_tests/{suite}"),
            len(LONGEST_FIRST),
        )

    items.sort(key=rank)  # stable: within a suite, and for the others, the usual order


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedPostgres]:
    # Not under pytest's tmp dir: as root the server runs as `postgres`, which must reach it.
    root = Path(tempfile.mkdtemp(prefix="market-data-test-pg-"))
    cluster = EmbeddedPostgres(root)
    cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(pg_cluster: EmbeddedPostgres) -> str:
    """A fresh, empty database for this test."""
    return pg_cluster.ensure_database(f"test_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection to this test's database, schema applied."""
    conn = connect(database_url)
    apply_schema(conn)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_client(s3_endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-access",
        aws_secret_access_key="test-secret",
        config=Config(signature_version="s3v4"),
    )


@pytest.fixture
def bucket(s3_client) -> str:
    name = f"flatfiles-{uuid.uuid4().hex[:10]}"
    s3_client.create_bucket(Bucket=name)
    return name


# The fault suite's table (market_data_tests/faults): its rows arrive as the tests'
# user_properties, which pytest-xdist carries from its workers, and are printed at the end.
FAULT_ROW = "fault_report_row"
_fault_rows: list[tuple[str, ...]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _fault_rows.extend(
            tuple(value) for name, value in report.user_properties if name == FAULT_ROW
        )


def pytest_terminal_summary(terminalreporter) -> None:
    if not _fault_rows:
        return
    header = ("fault", "outcome", "rows before", "rows after")
    widths = [max(len(row[i]) for row in (header, *_fault_rows)) for i in range(4)]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))

    terminalreporter.section("fault suite")
    for row in (header, *_fault_rows):
        terminalreporter.write_line(line(row))
