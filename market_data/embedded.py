"""The one door between the product and its stand-ins (package ``market_data_local``).

Where nothing is configured, market-data runs on an embedded default: a local PostgreSQL,
a local S3-compatible server holding generated day files and a REST server over them.
Those live in ``market_data_local``, installed with the ``local`` extra
(``pip install 'market-data[local]'``, which ``make demo`` and ``make test`` use); a
deployment configured by ``DATABASE_URL`` and Massive's credentials needs none of it.
This module decides from the settings which outside system is left to the embedded
default, and is the only place the product imports the stand-ins from.
"""

from __future__ import annotations

import importlib.util
from datetime import date
from types import ModuleType
from typing import TYPE_CHECKING, cast

from market_data import settings
from market_data.errors import ConfigurationError

if TYPE_CHECKING:
    from market_data_local.embedded import EmbeddedServers

INSTALL_HINT = "pip install 'market-data[local]'"


def _unconfigured() -> str:
    """The variables whose absence leaves an outside system to the embedded default."""
    unset = [
        name
        for name, left in (
            ("DATABASE_URL", settings.wants_embedded_database()),
            ("MASSIVE_AWS_ACCESS_KEY/MASSIVE_AWS_SECRET_KEY", settings.wants_embedded_source()),
            ("MASSIVE_API_KEY", settings.wants_embedded_rest()),
        )
        if left
    ]
    return ", ".join(unset) or "nothing"


def _local() -> ModuleType:
    """``market_data_local.embedded``, or a clear error saying what to set or install.

    The package ships with the product; what the ``local`` extra adds is its servers'
    dependencies (moto), so their absence means a deployment without the embedded default.
    """
    missing = "moto" if importlib.util.find_spec("moto") is None else None
    try:
        from market_data_local import embedded
    except ImportError as error:
        missing = str(error)
    if missing:
        raise ConfigurationError(
            f"not set: {_unconfigured()}, and the embedded default that stands in is not "
            f"installed ({missing} missing): set them, or {INSTALL_HINT}"
        )
    return embedded


def start_embedded() -> EmbeddedServers | None:
    """Start (or reuse) whichever embedded server the settings leave to us (None: none)."""
    database, source, rest = (
        settings.wants_embedded_database(),
        settings.wants_embedded_source(),
        settings.wants_embedded_rest(),
    )
    if not (database or source or rest):
        return None
    # _local() is a module object, untyped to mypy: the casts below name what
    # market_data_local.embedded's functions return.
    return cast(
        "EmbeddedServers", _local().start_embedded(database=database, source=source, rest=rest)
    )


def embedded_database_url() -> str:
    """The running embedded cluster's data database."""
    return cast(str, _local().embedded_database_url())


def ensure_embedded_database() -> str:
    """The embedded cluster's data database, the cluster started if need be (a read needs
    no S3 server)."""
    return cast(str, _local().ensure_embedded_database())


def embedded_dagster_database(name: str) -> str:
    """The running embedded cluster's database ``name`` for Dagster's storage."""
    return cast(str, _local().embedded_cluster().ensure_database(name))


def embedded_s3() -> tuple[str, dict[str, str]]:
    """The demo source's endpoint and its (dummy) credentials."""
    local = _local()
    return local.embedded_s3_endpoint(), local.LOCAL_CREDENTIALS


def embedded_rest() -> tuple[str, str]:
    """The demo REST server's base URL and the demo key it accepts."""
    local = _local()
    return local.embedded_rest_base_url(), local.DEMO_API_KEY


def demo_days() -> tuple[date, date]:
    """The days ``market-data demo`` loads."""
    local = _local()
    return local.DEMO_START, local.DEMO_END


def running_embedded() -> list[str]:
    """The embedded servers that run, as a person would look for them (none installed: [])."""
    try:
        local = _local()
    except ConfigurationError:
        return []
    return cast(list[str], local.running_embedded())


def stop_embedded() -> list[str]:
    """Stop the embedded servers that run; what was stopped."""
    try:
        local = _local()
    except ConfigurationError:
        return []
    return cast(list[str], local.stop_embedded())
