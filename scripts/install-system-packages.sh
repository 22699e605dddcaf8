#!/usr/bin/env bash
# Installs the system packages market-data runs against: the PostgreSQL server binaries
# for the embedded cluster. Does nothing where they are already there.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ -n "${MARKET_DATA_PG_BINDIR:-}" ] && [ -x "${MARKET_DATA_PG_BINDIR}/initdb" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL server binaries not found: install them (Debian: apt-get install postgresql-15)" \
       "or set DATABASE_URL to an existing server." >&2
  exit 1
fi
echo "installing PostgreSQL server binaries (postgresql-15)…"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql-15 >/dev/null
