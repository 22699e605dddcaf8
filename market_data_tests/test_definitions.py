"""The code location loads, and its graph has the keys other tools rely on."""

from __future__ import annotations

import pytest
from dagster import AssetKey, BackfillPolicy

from market_data.datasets import ALL_DATASETS, DATASETS, UTC_DATASETS
from market_data.definitions import defs


def test_definitions_load_with_the_contracted_keys():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    expected = {"historical_bars", "daily_bars", "historical_bars_utc"} | {
        f"{d}_{layer}" for d in ALL_DATASETS for layer in ("day_file", "bars")
    }
    corporate_actions = {"splits", "dividends", "ticker_changes"}  # docs/contracts.md §8
    assert keys == expected | corporate_actions | {"option_surface"}
    for name in ("splits", "dividends"):
        assert graph.get(AssetKey(name)).parent_keys == {AssetKey("ticker_changes")}
        assert graph.get(AssetKey(name)).partitions_def is None
    upstream = graph.get(AssetKey("historical_bars")).parent_keys
    assert upstream == {AssetKey(f"{d}_bars") for d in DATASETS}
    for name in DATASETS:
        assert graph.get(AssetKey(f"{name}_bars")).parent_keys == {AssetKey(f"{name}_day_file")}
    for name in ("daily_bars", "option_surface"):
        assert graph.get(AssetKey(name)).parent_keys == {AssetKey("historical_bars")}
    utc = graph.get(AssetKey("historical_bars_utc"))
    assert utc.parent_keys == {AssetKey(f"{d}_bars") for d in UTC_DATASETS}
    assert utc.partitions_def.timezone == "UTC"


def test_partitions_are_new_york_days():
    partitions = defs.resolve_assets_def("historical_bars").partitions_def
    assert partitions.timezone == "America/New_York"
    assert partitions.get_partition_key_for_timestamp(1732294800.0) == "2024-11-22"  # 12:00 ET


def test_no_secret_is_baked_into_resource_config(monkeypatch):
    monkeypatch.setenv("MASSIVE_AWS_SECRET_KEY", "super-secret-value")
    from market_data.defs.resources import resources_from_settings
    from market_data.settings import Settings

    flat_files = resources_from_settings(Settings.from_env())["flat_files"]
    assert "super-secret-value" not in repr(flat_files.secret_key)


def test_backfills_are_one_range_run_unless_cut_into_runs_of_n_days(monkeypatch):
    from market_data.defs.partitions import backfill_policy

    monkeypatch.delenv("MARKET_DATA_PARTITIONS_PER_RUN", raising=False)
    assert backfill_policy() == BackfillPolicy.single_run()
    monkeypatch.setenv("MARKET_DATA_PARTITIONS_PER_RUN", "5")
    assert backfill_policy() == BackfillPolicy.multi_run(max_partitions_per_run=5)
    monkeypatch.setenv("MARKET_DATA_PARTITIONS_PER_RUN", "0")
    with pytest.raises(ValueError, match="MARKET_DATA_PARTITIONS_PER_RUN"):
        backfill_policy()


def test_day_workers_default_to_the_cores_and_refuse_nonsense(monkeypatch):
    from market_data import settings

    monkeypatch.delenv("MARKET_DATA_DAY_WORKERS", raising=False)
    assert 1 <= settings.day_workers() <= 4
    monkeypatch.setenv("MARKET_DATA_DAY_WORKERS", "6")
    assert settings.day_workers() == 6
    monkeypatch.setenv("MARKET_DATA_DAY_WORKERS", "many")
    with pytest.raises(ValueError, match="MARKET_DATA_DAY_WORKERS"):
        settings.day_workers()


def test_unconfigured_systems_are_the_embedded_ones_and_no_resource_starts_them(
    monkeypatch, tmp_path
):
    from market_data.defs.resources import (
        EmbeddedFlatFilesResource,
        EmbeddedWarehouseResource,
        FlatFilesResource,
        WarehouseResource,
        resources_from_settings,
    )
    from market_data.errors import DatabaseUnavailable, LocalServerError
    from market_data.settings import Settings

    for name in ("DATABASE_URL", "MASSIVE_AWS_ACCESS_KEY", "MASSIVE_S3_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MARKET_DATA_HOME", str(tmp_path))
    resources = resources_from_settings(Settings.from_env())
    assert isinstance(resources["warehouse"], EmbeddedWarehouseResource)
    assert isinstance(resources["flat_files"], EmbeddedFlatFilesResource)
    with pytest.raises(DatabaseUnavailable, match="not running: `market-data demo`"):
        resources["warehouse"].url()
    with pytest.raises(LocalServerError, match="not running: `market-data demo`"):
        resources["flat_files"].get_client()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing was started or made

    monkeypatch.setenv("DATABASE_URL", "postgresql://reader@db.example/market_data")
    monkeypatch.setenv("MASSIVE_AWS_ACCESS_KEY", "key")
    resources = resources_from_settings(Settings.from_env())
    assert type(resources["warehouse"]) is WarehouseResource
    assert type(resources["flat_files"]) is FlatFilesResource


def test_every_dataset_has_its_two_assets_named_in_assets_py():
    from market_data.datasets import DATASETS
    from market_data.defs.assets import DATASET_ASSETS

    assert {a.key.to_user_string() for a in DATASET_ASSETS} == {
        f"{name}_{kind}" for name in DATASETS for kind in ("day_file", "bars")
    }
