"""Connections to the PostgreSQL that holds ``historical_bars`` and ``watchlist``."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict

from market_data.errors import DatabaseUnavailable

__all__ = ["DatabaseUnavailable", "connect", "describe", "plain_url"]


def describe(url: str) -> str:
    """``user@host:port/dbname`` of a URL: safe to print, no password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable database URL>"
    host = info.get("host") or "localhost"
    return f"{info.get('user', '')}@{host}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def plain_url(url: str) -> str:
    """SQLAlchemy-style URLs (``postgresql+psycopg2://``) as libpq understands them."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}" if sep else url


def connect(url: str, application_name: str = "market-data") -> psycopg.Connection:
    try:
        return psycopg.connect(
            plain_url(url),
            autocommit=True,
            connect_timeout=10,
            application_name=application_name,
        )
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL {describe(url)}: {reason}"
        ) from error
