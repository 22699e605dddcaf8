#!/usr/bin/env bash
# Installs the system packages market-data runs and is tested against: the PostgreSQL
# server binaries for the embedded cluster and, with --browser (the UI tests only),
# Chromium. Does nothing where they are already there.
set -euo pipefail

browser=false
[ "${1:-}" = "--browser" ] && browser=true

missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1 \
   && ! [ -x "${MARKET_DATA_PG_BINDIR:-/nonexistent}/initdb" ]; then
  missing+=(postgresql-15)
fi
if $browser && ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${missing[*]} (Debian: apt-get install ${missing[*]});" \
       "PostgreSQL can also be an existing server given by DATABASE_URL" >&2
  exit 1
fi
echo "installing ${missing[*]}…"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
