#!/usr/bin/env bash
#
# start.sh: installs phantom (scripts/install.sh) and starts a local
# PostgreSQL 15 server with phantom preloaded, ready for psql:
#
#   data directory  ${PHANTOM_DATA:-/tmp/phantom-demo}/n1   (owned by user postgres)
#   address         127.0.0.1:${PHANTOM_PORT:-5440}
#
# The extension is created in database "postgres".  Run it again to restart;
# "scripts/start.sh stop" stops the server.  Replication is not wired yet,
# so this starts one node; it will start a three-node cluster once it is.
#
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=${PHANTOM_DATA:-/tmp/phantom-demo}
port=${PHANTOM_PORT:-5440}
pgbin=${PHANTOM_PG_ROOT:-/usr}/lib/postgresql/15/bin
user=postgres
data="$base/n1"

as_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

if [ "${1:-}" = stop ]; then
    as_user "$pgbin/pg_ctl" -D "$data" -m fast stop
    exit 0
fi

bash "$top/scripts/install.sh"

mkdir -p "$base"
[ "$(id -u)" -eq 0 ] && chown "$user" "$base"
if [ ! -f "$data/PG_VERSION" ]; then
    as_user "$pgbin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
    cat >>"$data/postgresql.conf" <<CONF
# added by phantom's scripts/start.sh
shared_preload_libraries = 'phantom'
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$base'
CONF
fi
if as_user "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_user "$pgbin/pg_ctl" -D "$data" -m fast stop >/dev/null
fi
as_user "$pgbin/pg_ctl" -D "$data" -l "$data/server.log" -w start >/dev/null
as_user "$pgbin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -c "CREATE EXTENSION IF NOT EXISTS phantom" >/dev/null

cat <<MSG
phantom is running: PostgreSQL 15 on 127.0.0.1:$port, data in $data.

  psql -h 127.0.0.1 -p $port -U postgres

then, for example:

  CREATE TABLE accounts (id bigint PRIMARY KEY, balance numeric) USING phantom;
  INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 100000) g;
  SELECT phantom.compact('accounts');       -- move settled pages into zstd runs
  SELECT vblocks, hot_pages, cold_vblocks, run_pages, compression_ratio
    FROM phantom.stat_tables;
  SELECT * FROM phantom.verify('accounts');

Stop it with: bash scripts/start.sh stop
MSG
