"""The scale-out instance files in deploy/ are valid for the launchers they name."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


@pytest.mark.parametrize(
    ("target", "launcher"),
    [("kubernetes", "dagster_k8s.K8sRunLauncher"), ("ecs", "dagster_aws.ecs.EcsRunLauncher")],
)
def test_deploy_instance_validates_and_names_its_launcher(target, launcher):
    # The instance schema first, then the launcher's own (which the instance leaves open).
    config, _ = dagster_instance_config(str(DEPLOY / target))
    section = config["run_launcher"]
    assert f"{section['module']}.{section['class']}" == launcher
    launcher_class = getattr(importlib.import_module(section["module"]), section["class"])
    checked = validate_config(launcher_class.config_type(), section["config"])
    assert checked.success, [error.message for error in checked.errors]
    assert config["storage"]["custom"]["class"] == "ProjectPostgresStorage"
    assert config["concurrency"]["runs"]["max_concurrent_runs"] >= 1


@pytest.mark.parametrize("target", ["kubernetes", "ecs"])
def test_deploy_files_hold_no_secret_values(target):
    text = (DEPLOY / target / "dagster.yaml").read_text()
    for name in ("password", "MASSIVE_AWS_SECRET_KEY=", "DATABASE_URL=", "postgresql://"):
        assert name not in text
