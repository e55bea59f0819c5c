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

# PHANTOM_PG_ROOT=/some/dir installs into a private, relocated copy of
# PostgreSQL 15 (dir/lib/postgresql/15, dir/share/postgresql/15) instead of
# the system one, so several checkouts can build and test side by side
# without replacing each other's phantom.so under running servers.
root=${PHANTOM_PG_ROOT:-/usr}
if [ "$root" != /usr ] && [ ! -x "$root/lib/postgresql/15/bin/postgres" ]; then
    mkdir -p "$root/lib/postgresql" "$root/share/postgresql"
    cp -a /usr/lib/postgresql/15 "$root/lib/postgresql/"
    cp -a /usr/share/postgresql/15 "$root/share/postgresql/"
fi
[ "$root" = /usr ] || [ -e "$root/include" ] || ln -s /usr/include "$root/include"
export PATH=$root/lib/postgresql/15/bin:$PATH
PG_CONFIG=$root/lib/postgresql/15/bin/pg_config
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config)

make -C "$top" -s -j2 PG_CONFIG="$PG_CONFIG" PROFILE=-Werror
if [ "$root" != /usr ] && [ -w "$root" ]; then
    make -C "$top" -s install PG_CONFIG="$PG_CONFIG"
else
    as_root make -C "$top" -s install PG_CONFIG="$PG_CONFIG"
fi
echo "install.sh: phantom built and installed into $("$PG_CONFIG" --pkglibdir)"
