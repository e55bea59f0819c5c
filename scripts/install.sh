#!/usr/bin/env bash
#
# install.sh: installs what phantom needs on Debian bookworm (PostgreSQL 15
# server and headers, zstd, liburcu, IPC::Run for the TAP tests), builds
# phantom with warnings treated as errors, and installs it into PostgreSQL
# 15.  Idempotent; must run as root (or with sudo available).
#
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
packages=(postgresql-15 postgresql-server-dev-15 postgresql-contrib
          libzstd-dev liburcu-dev libipc-run-perl make gcc)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install.sh: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export PATH=/usr/lib/postgresql/15/bin:$PATH
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config)

make -C "$top" -s -j2 PG_CONFIG="$PG_CONFIG" PROFILE=-Werror
as_root make -C "$top" -s install PG_CONFIG="$PG_CONFIG"
echo "install.sh: phantom built and installed into $("$PG_CONFIG" --pkglibdir)"
