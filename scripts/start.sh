#!/usr/bin/env bash
#
# start.sh: installs phantom (scripts/install.sh) and starts a local
# three-node phantom cluster on 127.0.0.1, ready for psql:
#
#   node  data directory                            PostgreSQL        raft
#   n1    ${PHANTOM_DATA:-/tmp/phantom-demo}/n1     127.0.0.1:5440    127.0.0.1:7441
#   n2    .../n2                                    127.0.0.1:5441    127.0.0.1:7442
#   n3    .../n3                                    127.0.0.1:5442    127.0.0.1:7443
#
# (first PostgreSQL port: PHANTOM_PORT, default 5440; first raft port:
# PHANTOM_RAFT_PORT, default 7441).  The nodes share a
# cluster secret generated at the first start ($PHANTOM_DATA/cluster.secret).
# The extension is created in database "postgres" of every node; n1 creates
# the cluster and adds n2 and n3.  PHANTOM_NODES=1 starts a single server
# (no replication) instead.  Run it again to restart; "scripts/start.sh
# stop" stops every node.  Data directories are owned by user postgres.
#
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=${PHANTOM_DATA:-/tmp/phantom-demo}
port0=${PHANTOM_PORT:-5440}
raft0=${PHANTOM_RAFT_PORT:-7441}
nodes=${PHANTOM_NODES:-3}
pgbin=${PHANTOM_PG_ROOT:-/usr}/lib/postgresql/15/bin
user=postgres

as_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}
psql_at() {		# psql_at <port> <sql>: one value, quiet
    as_user "$pgbin/psql" -X -q -At -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2"
}

if [ "${1:-}" = stop ]; then
    for d in "$base"/n*; do
        [ -f "$d/PG_VERSION" ] || continue
        if as_user "$pgbin/pg_ctl" -D "$d" status >/dev/null 2>&1; then
            as_user "$pgbin/pg_ctl" -D "$d" -m fast stop >/dev/null && echo "stopped $(basename "$d")"
        fi
    done
    exit 0
fi
case "$nodes" in
    1|3) ;;
    *) echo "start.sh: PHANTOM_NODES must be 1 or 3" >&2; exit 1 ;;
esac
if [ -f "$base/nodes" ] && [ "$(cat "$base/nodes")" != "$nodes" ]; then
    echo "start.sh: $base holds a $(cat "$base/nodes")-node setup; run 'scripts/start.sh stop' and remove $base to switch to $nodes" >&2
    exit 1
fi

bash "$top/scripts/install.sh"

mkdir -p "$base"
[ "$(id -u)" -eq 0 ] && chown "$user" "$base"
echo "$nodes" >"$base/nodes"
if [ "$nodes" = 3 ] && [ ! -s "$base/cluster.secret" ]; then
    (umask 077; od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$base/cluster.secret")
    [ "$(id -u)" -eq 0 ] && chown "$user" "$base/cluster.secret"
fi

for i in $(seq 1 "$nodes"); do
    data="$base/n$i"
    port=$((port0 + i - 1))
    if [ ! -f "$data/PG_VERSION" ]; then
        as_user "$pgbin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
        cat >>"$data/postgresql.conf" <<CONF
# added by phantom's scripts/start.sh
shared_preload_libraries = 'phantom'
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$base'
CONF
        if [ "$nodes" = 3 ]; then
            cat >>"$data/postgresql.conf" <<CONF
phantom.node_name = 'n$i'
phantom.raft_listen = '127.0.0.1:$((raft0 + i - 1))'
phantom.cluster_secret = '$(cat "$base/cluster.secret")'
CONF
        fi
    fi
    if as_user "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        as_user "$pgbin/pg_ctl" -D "$data" -m fast stop >/dev/null
    fi
    as_user "$pgbin/pg_ctl" -D "$data" -l "$data/server.log" -w start >/dev/null
    psql_at "$port" "CREATE EXTENSION IF NOT EXISTS phantom" >/dev/null
done

if [ "$nodes" = 1 ]; then
    cat <<MSG
phantom is running: PostgreSQL 15 on 127.0.0.1:$port0, data in $base/n1.

  psql -h 127.0.0.1 -p $port0 -U postgres

then, for example:

  CREATE TABLE accounts (id bigint PRIMARY KEY, balance numeric) USING phantom;
  INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 100000) g;
  SELECT phantom.compact('accounts');       -- move settled pages into zstd runs
  SELECT vblocks, hot_pages, cold_vblocks, run_pages, compression_ratio
    FROM phantom.stat_tables;
  SELECT * FROM phantom.verify('accounts');

Stop it with: bash scripts/start.sh stop
MSG
    exit 0
fi

# form the cluster once: n1 creates it and adds the others
if [ "$(psql_at "$port0" "SELECT role FROM phantom.raft_status()")" = none ]; then
    psql_at "$port0" "SELECT phantom.cluster_create()" >/dev/null
    for i in 2 3; do
        psql_at "$port0" "SELECT phantom.node_add('n$i', 'host=127.0.0.1 port=$((port0 + i - 1)) dbname=postgres', '127.0.0.1:$((raft0 + i - 1))')" >/dev/null
    done
fi
leader=""
for _ in $(seq 1 100); do
    leader=$(psql_at "$port0" "SELECT leader FROM phantom.raft_status()" 2>/dev/null || true)
    [ -n "$leader" ] && break
    sleep 0.1
done
lport=$((port0 + ${leader#n} - 1))
fport=$((port0 + (${leader#n} % 3)))

cat <<MSG
phantom is running: a three-node cluster on 127.0.0.1, data in $base/n1..n3.

  n1  psql -h 127.0.0.1 -p $port0 -U postgres      (raft 127.0.0.1:$raft0)
  n2  psql -h 127.0.0.1 -p $((port0 + 1)) -U postgres      (raft 127.0.0.1:$((raft0 + 1)))
  n3  psql -h 127.0.0.1 -p $((port0 + 2)) -U postgres      (raft 127.0.0.1:$((raft0 + 2)))

The leader is $leader (port $lport); only the leader accepts writes, every
node serves reads.  Try:

  psql -h 127.0.0.1 -p $lport -U postgres -c "CREATE TABLE accounts (id bigint PRIMARY KEY, balance numeric) USING phantom"
  psql -h 127.0.0.1 -p $lport -U postgres -c "INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 1000) g"
  psql -h 127.0.0.1 -p $fport -U postgres -c "SELECT count(*), sum(balance) FROM accounts"    # a follower
  psql -h 127.0.0.1 -p $fport -U postgres -c "SELECT * FROM phantom.nodes"

A write on a follower fails and names the leader.  Stop the leader
(pg_ctl -D $base/$leader stop -m immediate) and another node takes over in
about two seconds.  Stop everything with: bash scripts/start.sh stop
MSG
