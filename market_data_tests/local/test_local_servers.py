"""The embedded PostgreSQL and the local S3 server, as real processes: the demo and the
other suites stand on them, so their start, reuse and stop are checked here first."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import boto3
import psycopg
import pytest
from botocore.config import Config

from market_data.calendar import NEW_YORK
from market_data.corporate_actions.massive import fetch_splits
from market_data.datasets import DATASETS
from market_data.sources.rest import RestAggregates
from market_data_local.demo_actions import DEMO_API_KEY
from market_data_local.demo_source import (
    DemoRestServer,
    day_file_bars,
    demo_rest_server,
    demo_source_dir,
    ensure_demo_rest,
)
from market_data_local.generate import generate_day_file
from market_data_local.postgres import (
    EmbeddedPostgres,
    EmbeddedPostgresError,
    ensure_embedded_postgres,
    find_server_bindir,
)
from market_data_local.s3 import LOCAL_CREDENTIALS, LocalS3Server, ensure_local_s3, seed_bucket


@pytest.fixture(scope="module")
def pg_root() -> Iterator[Path]:
    # Not under pytest's tmp dir: as root the server runs as `postgres`, which must reach it,
    # and the unix socket path must stay short.
    root = Path(tempfile.mkdtemp(prefix="md-local-pg-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(pg_root: Path) -> Iterator[EmbeddedPostgres]:
    cluster = EmbeddedPostgres(pg_root / "postgres")
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[LocalS3Server]:
    server = LocalS3Server(tmp_path / "s3")
    yield server
    server.stop()


def test_cluster_answers_queries(cluster: EmbeddedPostgres):
    assert cluster.is_running()
    with psycopg.connect(cluster.url("postgres")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_start_again_reuses_the_running_server(cluster: EmbeddedPostgres):
    port = cluster.port
    cluster.start()
    assert cluster.port == port
    # A second object on the same folder, as another process would build it, reuses it too.
    EmbeddedPostgres(cluster.root).start()
    assert cluster.port == port
    # A lost port file is recovered from the running server, not replaced by a new port.
    cluster.port_file.unlink()
    cluster.start()
    assert cluster.port == port


def test_ensure_database_is_idempotent(cluster: EmbeddedPostgres):
    name = "Market-Data test"  # quoted identifier: mixed case, dash and space
    first = cluster.ensure_database(name)
    second = cluster.ensure_database(name)
    assert first == second == cluster.url(name)
    with psycopg.connect(first) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (name,)


def test_ensure_embedded_postgres_reuses_the_home_cluster(cluster: EmbeddedPostgres):
    url = ensure_embedded_postgres(cluster.root.parent, "from_home")
    assert url == cluster.url("from_home")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_stop_then_start_keeps_port_and_data(pg_root: Path):
    cluster = EmbeddedPostgres(pg_root / "restart")
    try:
        cluster.start()
        url = cluster.ensure_database("kept")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int)")
        port = cluster.port
        cluster.stop()
        assert not cluster.is_running()
        cluster.stop()  # stopping a stopped cluster is a no-op
        cluster.start()
        assert cluster.port == port
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        cluster.stop()


def test_bindir_override_without_initdb_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("MARKET_DATA_PG_BINDIR", str(tmp_path))
    with pytest.raises(EmbeddedPostgresError, match="postgresql-15") as raised:
        find_server_bindir()
    assert str(tmp_path) in str(raised.value)


def test_bindir_is_found_without_override(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MARKET_DATA_PG_BINDIR", raising=False)
    bindir = find_server_bindir()
    assert (bindir / "initdb").is_file()
    assert (bindir / "pg_ctl").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to `postgres`")
def test_unreachable_root_is_a_clear_error():
    closed = Path(tempfile.mkdtemp(prefix="md-local-closed-"))  # mode 700, root's
    try:
        with pytest.raises(EmbeddedPostgresError, match="cannot reach"):
            EmbeddedPostgres(closed / "postgres").start()
    finally:
        shutil.rmtree(closed, ignore_errors=True)


def _client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
        **LOCAL_CREDENTIALS,
    )


def test_local_s3_serves_seeded_files(s3_server: LocalS3Server, tmp_path: Path):
    endpoint = s3_server.start()
    assert endpoint == s3_server.endpoint_url
    assert s3_server.start() == endpoint  # reused, not restarted
    assert ensure_local_s3(s3_server.root.parent) == endpoint

    source = tmp_path / "source"
    (source / "us_stocks_sip" / "minute_aggs_v1" / "2025" / "01").mkdir(parents=True)
    (source / "us_options_opra" / "day_aggs_v1").mkdir(parents=True)
    (source / "us_stocks_sip/minute_aggs_v1/2025/01/2025-01-02.csv.gz").write_bytes(b"a" * 10)
    (source / "us_options_opra/day_aggs_v1/2025-01-02.csv.gz").write_bytes(b"b" * 20)
    (source / "us_options_opra/day_aggs_v1/2025-01-03.csv.gz.part").write_bytes(b"half")
    (source / ".lock").write_bytes(b"")  # the generator's own

    assert seed_bucket(endpoint, "flatfiles", source) == 2
    listed = _client(endpoint).list_objects_v2(Bucket="flatfiles")["Contents"]
    assert {(o["Key"], o["Size"]) for o in listed} == {
        ("us_stocks_sip/minute_aggs_v1/2025/01/2025-01-02.csv.gz", 10),
        ("us_options_opra/day_aggs_v1/2025-01-02.csv.gz", 20),
    }
    assert seed_bucket(endpoint, "flatfiles", source) == 0

    (source / "us_options_opra/day_aggs_v1/2025-01-02.csv.gz").write_bytes(b"c" * 30)
    assert seed_bucket(endpoint, "flatfiles", source) == 1  # a changed size is uploaded again


def test_local_s3_stop_ends_the_server(s3_server: LocalS3Server):
    s3_server.start()
    pid = int((s3_server.root / "pid").read_text())
    s3_server.stop()
    assert not s3_server.is_running()
    assert not Path(f"/proc/{pid}").exists()
    s3_server.stop()  # stopping a stopped server is a no-op


@pytest.fixture
def rest_home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    demo_rest_server(tmp_path).stop()


def expected_bars(day: date, folder: Path) -> list[dict]:
    """NVDA's bars of ``day`` as its file, generated on its own, holds them."""
    stocks = DATASETS["stocks"]
    generate_day_file(stocks, day, folder / "expected" / stocks.key(day))
    return day_file_bars(folder / "expected")("NVDA", day)


def test_the_demo_rest_server_serves_the_day_files_and_the_corporate_actions(
    rest_home: Path, tmp_path: Path
):
    day, stocks = date(2025, 11, 7), DATASETS["stocks"]  # before NVDA's 4-for-1
    source = demo_source_dir(rest_home)
    generate_day_file(stocks, day, source / stocks.key(day))
    server = demo_rest_server(rest_home)
    assert isinstance(server, DemoRestServer) and not server.is_running()
    base_url = ensure_demo_rest(rest_home)
    assert server.is_running() and server.base_url == base_url
    assert ensure_demo_rest(rest_home) == base_url  # reused, not restarted

    client = RestAggregates(base_url, DEMO_API_KEY, requests_per_minute=0)
    raw = client.minute_bars("NVDA", day, adjusted=False)
    assert raw == day_file_bars(source)("NVDA", day) and len(raw) > 390
    adjusted = client.minute_bars("NVDA", day, adjusted=True)
    assert [b["c"] for b in adjusted] == [round(b["c"] / 4, 4) for b in raw]
    # A day not published: generated on request, beside the published files, as the bars
    # its file will hold; a day to come has none.
    later = date(2025, 11, 10)
    assert client.minute_bars("NVDA", later, adjusted=False) == expected_bars(later, tmp_path)
    assert (server.unpublished / stocks.key(later)).exists()
    assert not (source / stocks.key(later)).exists()
    assert client.minute_bars("NVDA", date.today() + timedelta(days=2)) == []
    assert [s.ticker for s in fetch_splits(client, ["NVDA", "NA"])] == ["NA", "NVDA"]

    pid = int((server.root / "pid").read_text())
    server.stop()
    assert not server.is_running()
    assert not Path(f"/proc/{pid}").exists()
    server.stop()  # stopping a stopped server is a no-op


def test_the_demo_rest_bars_of_a_day_end_at_the_current_minute(tmp_path: Path):
    published, unpublished = tmp_path / "published", tmp_path / "unpublished"
    day, stocks = date(2025, 11, 25), DATASETS["stocks"]
    noon = datetime(2025, 11, 25, 12, 0, tzinfo=NEW_YORK)
    at_noon = day_file_bars(published, unpublished, clock=lambda: noon)
    whole_day = expected_bars(day, tmp_path)
    so_far = at_noon("NVDA", day)
    last_ms = int(noon.timestamp() * 1000) - 60_000  # the 11:59 bar ended at noon
    assert so_far == [b for b in whole_day if b["t"] <= last_ms] and so_far[-1]["t"] == last_ms
    assert at_noon("NVDA", date(2025, 11, 26)) == []  # tomorrow: none, and nothing generated
    assert not (unpublished / stocks.key(date(2025, 11, 26))).exists()
    assert day_file_bars(published, clock=lambda: noon)("NVDA", day) == []  # nowhere to generate

    # Published since: served from its file, the copy generated on request dropped.
    generate_day_file(stocks, day, published / stocks.key(day))
    later = day_file_bars(published, unpublished, clock=lambda: noon + timedelta(days=1))
    assert later("NVDA", day) == whole_day
    assert not (unpublished / stocks.key(day)).exists()
