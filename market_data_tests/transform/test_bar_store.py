"""The bar store on local disk and on a real S3-compatible server: the same files, the same
layout, read back exactly; and the whole chain with its Parquet on S3.

What the store wrote is checked independently of pyarrow's filesystems: with pathlib on
disk and with boto3 on S3.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize

from market_data.bar_schema import BARS_SCHEMA
from market_data.calendar import day_window
from market_data.defs.assets import DATASET_ASSETS, historical_bars
from market_data.defs.resources import resources_from_settings
from market_data.settings import Settings
from market_data.transform.bar_store import BarsNotBuilt, BarStore
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.generate import generate_source
from market_data_local.s3 import seed_bucket

DAY = date(2025, 3, 10)
KEY = "stocks/2025/03/2025-03-10.parquet"
QUARANTINE_KEY = "stocks/2025/03/2025-03-10.quarantine.parquet"


@dataclass(frozen=True)
class Backend:
    store: BarStore
    location: str  # the store's root as its messages name it
    files: Callable[[], dict[str, bytes]]  # relative key -> content, read without pyarrow


def local_backend(root: Path) -> Backend:
    def files() -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }

    return Backend(BarStore(root=root), str(root), files)


def s3_backend(s3_endpoint: str, s3_client, bucket: str, prefix: str) -> Backend:
    def files() -> dict[str, bytes]:
        pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        return {
            key.removeprefix(prefix): s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
            for key in keys
            if not key.endswith("/")  # pyarrow's empty directory markers
        }

    store = BarStore.from_uri(
        f"s3://{bucket}/{prefix}",
        endpoint=s3_endpoint,
        region="us-east-1",
        access_key="test-access",
        secret_key="test-secret",
    )
    return Backend(store, f"s3://{bucket}/{prefix.rstrip('/')}", files)


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path) -> Backend:
    if request.param == "local":
        return local_backend(tmp_path / "bars")
    s3_client = request.getfixturevalue("s3_client")
    bucket = request.getfixturevalue("bucket")
    return s3_backend(request.getfixturevalue("s3_endpoint"), s3_client, bucket, "team/bars/")


def bars(day: date, closes: list[float]) -> pa.Table:
    start = day_window(day).start_ms + 14 * 3_600_000 + 30 * 60_000  # 09:30 ET
    return pa.Table.from_pylist(
        [
            {
                "symbol": "SPY",
                "underlying": "SPY",
                "timestamp": start + i * 60_000,
                "open": c,
                "high": c,
                "low": c,
                "close": c,
                "volume": 100.0,
                "vwap": None,
                "transactions": 3,
            }
            for i, c in enumerate(closes)
        ],
        schema=BARS_SCHEMA,
    )


def parquet(content: bytes) -> pa.Table:
    return pq.read_table(pa.BufferReader(content))


def test_a_day_round_trips_with_its_underlyings_and_source(backend):
    store, table = backend.store, bars(DAY, [1.0, 2.0, 3.0])

    location = store.write("stocks", DAY, table, frozenset({"SPY", "QQQ"}), "rest")

    assert location == store.path("stocks", DAY) == f"{backend.location}/{KEY}"
    files = backend.files()
    assert list(files) == [KEY]  # the layout, and no temp file left behind
    assert parquet(files[KEY]).to_pylist() == table.to_pylist()
    stored = store.read("stocks", DAY)
    assert stored.bars.equals(table)
    assert stored.underlyings == frozenset({"SPY", "QQQ"})
    assert stored.source == "rest"


def test_quarantine_is_written_beside_the_bars_and_removed_by_a_clean_rewrite(backend):
    store = backend.store
    rejected = pa.table({"ticker": ["SPY"], "reason": ["high < low"]})

    store.write("stocks", DAY, bars(DAY, [1.0]), frozenset({"SPY"}), "flat_file", rejected)

    assert store.quarantine_path("stocks", DAY) == f"{backend.location}/{QUARANTINE_KEY}"
    files = backend.files()
    assert sorted(files) == [KEY, QUARANTINE_KEY]
    assert parquet(files[QUARANTINE_KEY]).to_pylist() == rejected.to_pylist()

    store.write("stocks", DAY, bars(DAY, [5.0, 6.0]), frozenset({"SPY"}), "flat_file")

    assert list(backend.files()) == [KEY]
    assert store.read("stocks", DAY).bars.column("close").to_pylist() == [5.0, 6.0]


def test_a_day_not_built_names_where_it_was_looked_for(backend):
    with pytest.raises(BarsNotBuilt) as raised:
        backend.store.read("indices", DAY)
    assert isinstance(raised.value, FileNotFoundError)
    assert f"{backend.location}/indices/2025/03/2025-03-10.parquet" in str(raised.value)
    assert "materialize indices_bars for 2025-03-10 first" in str(raised.value)


def test_prune_removes_only_days_before_the_cutoff(backend):
    store = backend.store
    rejected = pa.table({"reason": ["bad"]})
    for offset in range(-2, 2):  # Mar 8 … Mar 11
        day = DAY + timedelta(days=offset)
        store.write("stocks", day, bars(day, [1.0]), frozenset({"SPY"}), "flat_file", rejected)
    store.write("indices", DAY - timedelta(days=1), bars(DAY, [1.0]), frozenset(), "flat_file")
    before = backend.files()

    result = store.prune(DAY)

    kept = {k: v for k, v in before.items() if "2025-03-10" in k or "2025-03-11" in k}
    assert backend.files() == kept
    assert result.files_removed == len(before) - len(kept) == 5
    assert result.bytes_freed == sum(len(v) for k, v in before.items() if k not in kept)
    assert store.read("stocks", DAY).bars.num_rows == 1
    with pytest.raises(BarsNotBuilt):
        store.read("stocks", DAY - timedelta(days=1))


def test_prune_of_an_empty_store_removes_nothing(backend):
    assert backend.store.prune(DAY).files_removed == 0


@pytest.mark.parametrize("uri", ["{tmp}/bars", "file://{tmp}/bars"])
def test_a_local_uri_is_a_local_folder(uri, tmp_path):
    store = BarStore.from_uri(uri.format(tmp=tmp_path))
    assert store.local and store.path("stocks", DAY) == str(tmp_path / "bars" / KEY)


def test_an_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="expected s3://bucket/prefix"):
        BarStore.from_uri("gs://bucket/bars")


def test_the_chain_runs_with_bars_on_s3_configured_from_the_environment(
    db, database_url, s3_endpoint, s3_client, bucket, tmp_path, monkeypatch
):
    """As a pod would run it: every setting from the environment, the Parquet in a bucket."""
    day = date(2025, 11, 25)
    generate_source(tmp_path / "source", day, day)
    seed_bucket(s3_endpoint, bucket, tmp_path / "source")
    bars_bucket = f"bars-{uuid.uuid4().hex[:10]}"
    s3_client.create_bucket(Bucket=bars_bucket)
    secret = "bars-secret-value"
    for name, value in {
        "DATABASE_URL": database_url,
        "MARKET_DATA_HOME": str(tmp_path / "home"),
        "MASSIVE_S3_ENDPOINT": s3_endpoint,
        "MASSIVE_S3_BUCKET": bucket,
        "MASSIVE_AWS_ACCESS_KEY": "test-access",
        "MASSIVE_AWS_SECRET_KEY": "test-secret",
        "MARKET_DATA_BARS_URI": f"s3://{bars_bucket}/bars",
        "MARKET_DATA_BARS_S3_ENDPOINT": s3_endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bars-access",
        "AWS_SECRET_ACCESS_KEY": secret,
    }.items():
        monkeypatch.setenv(name, value)
    add_to_watchlist(db, "SPX")
    add_to_watchlist(db, "SPY")

    result = materialize(
        [*DATASET_ASSETS, historical_bars],
        partition_key=day.isoformat(),
        resources=resources_from_settings(Settings.from_env()),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )

    assert result.success
    objects = s3_backend(s3_endpoint, s3_client, bars_bucket, "bars/").files()
    assert {"indices/2025/11/2025-11-25.parquet", "stocks/2025/11/2025-11-25.parquet"} <= set(
        objects
    )
    assert not (tmp_path / "home" / "bars").exists()
    counts = dict(db.execute("SELECT symbol, count(*) FROM historical_bars GROUP BY 1").fetchall())
    assert counts["SPX"] == 390 and counts["SPY"] > 0
    assert sum(counts.values()) == sum(parquet(v).num_rows for v in objects.values())
    (mat,) = result.asset_materializations_for_node("stocks_bars")
    assert (
        mat.metadata["path"].value == f"s3://{bars_bucket}/bars/stocks/2025/11/2025-11-25.parquet"
    )
    assert secret not in "\n".join(str(e) for e in result.all_events)
