"""The parts of Dagster's private API market-data relies on, in one place.

The project's event log storage (``instance.py``) wipes asset partitions, which Dagster's
SQL storages refuse: it writes to the event log's own tables. Those tables and the
storage's config class are private to Dagster (``dagster._core``, ``dagster._serdes``)
and may move in any release; ``market_data_tests/test_dagster_internals.py`` fails with
a message naming the missing name when an upgrade moves one.
"""

from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetKeyTable,
    SqlEventLogStorageTable,
)
from dagster._serdes import ConfigurableClassData

# Every private name used, by where Dagster keeps it: what the test checks.
PRIVATE_NAMES = {
    "dagster._core.storage.event_log.schema": (
        "AssetCheckExecutionsTable",
        "AssetKeyTable",
        "SqlEventLogStorageTable",
    ),
    "dagster._serdes": ("ConfigurableClassData",),
}

__all__ = [
    "PRIVATE_NAMES",
    "AssetCheckExecutionsTable",
    "AssetKeyTable",
    "ConfigurableClassData",
    "SqlEventLogStorageTable",
]
