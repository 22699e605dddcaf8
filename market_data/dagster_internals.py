"""The parts of Dagster's private API market-data relies on, in one place.

The project's event log storage (``instance.py``) wipes asset partitions, which Dagster's
SQL storages refuse: it writes to the event log's own tables. And a check evaluated per
partition in a range run (``defs/checks.py``) names the materialization it judged, so
that the check's partitions tab counts it. Those tables, the storage's config class and
that evaluation's target class are private to Dagster (``dagster._core``,
``dagster._serdes``) and may move in any release; ``market_data_tests/test_dagster_internals.py`` fails with
a message naming the missing name when an upgrade moves one.
"""

from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetKeyTable,
    SqlEventLogStorageTable,
)
from dagster._serdes import ConfigurableClassData

# Every private name used, by where Dagster keeps it: what the test checks.
PRIVATE_NAMES = {
    "dagster._core.definitions.asset_checks.asset_check_evaluation": (
        "AssetCheckEvaluationTargetMaterializationData",
    ),
    "dagster._core.storage.event_log.schema": (
        "AssetCheckExecutionsTable",
        "AssetKeyTable",
        "SqlEventLogStorageTable",
    ),
    "dagster._serdes": ("ConfigurableClassData",),
}

__all__ = [
    "PRIVATE_NAMES",
    "AssetCheckEvaluationTargetMaterializationData",
    "AssetCheckExecutionsTable",
    "AssetKeyTable",
    "ConfigurableClassData",
    "SqlEventLogStorageTable",
]
