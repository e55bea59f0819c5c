#!/usr/bin/env bash
#
# bench/replication.sh: phantom's Raft replication against PostgreSQL's own
# quorum synchronous replication (issue 4's benchmark).
#
#   bash bench/replication.sh [--quick] [--reps N] [--seconds S]
#                             [--clients "1 4 8"] [--no-install] [--keep]
#                             [--failover-only]
#
# It installs phantom (scripts/install.sh) and starts, as user postgres on
# 127.0.0.1 (free ports of 54600-54699, data under /tmp/benchrepl-*):
#
#   solo        one server, no replication: the local-commit reference
#               (heap and phantom tables side by side)
#   syncrep     a primary and two streaming standbys with
#               synchronous_standby_names = 'ANY 1 (s1, s2)' (PostgreSQL's
#               quorum commit; heap table)
#   raft        three phantom nodes forming one Raft group (phantom table
#               created on the leader)
#
# Every server runs with fsync on and the same memory settings.  The
# workload is a single-row upsert per transaction (pgbench, prepared
# statements) at each client count, run ALTERNATELY on syncrep (side A) and
# raft (side B), --reps times; then the same on solo (heap = A, phantom = B)
# for the cost of replication itself.  Finally, under a writing client, the
# raft leader is killed with SIGKILL and the time until the first write
# succeeds on the new leader is measured, --reps times (the killed node is
# restarted and rejoins between rounds).
#
# --failover-only starts only the three raft nodes and runs only the
# failover part (--reps rounds, default 3; 10 with --failover-only).
#
# Output: bench/summarize.pl's table (medians, min-max, ratio B/A), plus
# CSV/JSON in bench/results/repl-<timestamp>/.  A benchmark, not a test:
# no thresholds.
#
set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$BENCH_DIR/.." && pwd)
PGBIN=${PHANTOM_PG_ROOT:-/usr}/lib/postgresql/15/bin
RUN_USER=postgres

QUICK=0
REPS=""
SECONDS_RUN=""
CLIENTS=""
INSTALL=1
KEEP=0
FAILOVER_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --reps) REPS=$2; shift ;;
        --seconds) SECONDS_RUN=$2; shift ;;
        --clients) CLIENTS=$2; shift ;;
        --no-install) INSTALL=0 ;;
        --keep) KEEP=1 ;;
        --failover-only) FAILOVER_ONLY=1 ;;
        -h|--help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "replication.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$FAILOVER_ONLY" = 1 ]; then
    : "${REPS:=10}"
fi
if [ "$QUICK" = 1 ]; then
    : "${REPS:=1}" "${SECONDS_RUN:=4}" "${CLIENTS:=1 4}"
else
    : "${REPS:=3}" "${SECONDS_RUN:=20}" "${CLIENTS:=1 4 8}"
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$BENCH_DIR/results/repl-$STAMP"
mkdir -p "$RES"
RAW="$RES/raw.tsv"
LOG="$RES/run.log"
: >"$RAW"
: >"$LOG"

say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
as_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$RUN_USER" -- "$@"; else "$@"; fi
}
port_free() {
    perl -MIO::Socket::INET -e \
        'exit(IO::Socket::INET->new(Listen => 1, ReuseAddr => 1, LocalAddr => "127.0.0.1:$ARGV[0]") ? 0 : 1)' "$1"
}
# raw <workload> <metric> <unit> <side> <rep> <value>
raw() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; }

if [ "$INSTALL" = 1 ]; then
    say "installing phantom (scripts/install.sh)"
    bash "$TOP/scripts/install.sh" >>"$LOG" 2>&1 || { say "scripts/install.sh failed (see $LOG)"; exit 1; }
fi

# Ports: 9 PostgreSQL servers' worth of ports (solo, p, s1, s2, n1-n3 and
# three raft ports) from 54600-54699.
PORTS=()
for p in $(seq 54600 54699); do
    port_free "$p" && PORTS+=("$p")
    [ ${#PORTS[@]} -ge 9 ] && break
done
[ ${#PORTS[@]} -ge 9 ] || { echo "replication.sh: not enough free ports in 54600-54699" >&2; exit 1; }
declare -A PORT=([solo]=${PORTS[0]} [p]=${PORTS[1]} [s1]=${PORTS[2]} [s2]=${PORTS[3]}
                 [n1]=${PORTS[4]} [n2]=${PORTS[5]} [n3]=${PORTS[6]})
declare -A RAFT=([n1]=${PORTS[7]} [n2]=${PORTS[8]})
# the third raft port: any other free one
for p in $(seq 54699 -1 54600); do
    if port_free "$p" && ! printf '%s\n' "${PORTS[@]}" | grep -qx "$p"; then RAFT[n3]=$p; break; fi
done

BASE=$(mktemp -d /tmp/benchrepl-XXXXXX)
chmod 755 "$BASE"
[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$BASE"
SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

cleanup() {
    local rc=$? n
    for n in solo p s1 s2 n1 n2 n3; do
        [ -f "$BASE/$n/postmaster.pid" ] &&
            as_user "$PGBIN/pg_ctl" -D "$BASE/$n" -m immediate -w stop >/dev/null 2>&1
    done
    for n in solo p s1 s2 n1 n2 n3; do
        [ -f "$BASE/$n.log" ] && cp "$BASE/$n.log" "$RES/server-$n.log" 2>/dev/null
    done
    if [ "$KEEP" = 1 ]; then echo "replication.sh: kept $BASE"; else rm -rf "$BASE"; fi
    exit $rc
}
trap cleanup EXIT
trap 'echo "replication.sh: interrupted"; exit 130' INT TERM

psql_n() {                      # psql_n NODE ARGS...
    local n=$1
    shift
    timeout 120 "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${PORT[$n]}" \
        -U postgres -d postgres "$@"
}

common_conf() {                 # common_conf NODE
    cat >>"$BASE/$1/postgresql.conf" <<CONF
# added by phantom's bench/replication.sh
listen_addresses = '127.0.0.1'
port = ${PORT[$1]}
unix_socket_directories = '$BASE'
shared_preload_libraries = 'phantom'
shared_buffers = '256MB'
max_connections = 40
fsync = on
synchronous_commit = on
max_wal_size = '2GB'
jit = off
log_min_messages = warning
phantom.compaction = off
CONF
}

start_node() {                  # start_node NODE
    as_user "$PGBIN/pg_ctl" -D "$BASE/$1" -l "$BASE/$1.log" -w -t 120 start >>"$LOG" 2>&1 ||
        { say "server $1 did not start:"; tail -n 15 "$BASE/$1.log" | tee -a "$LOG"; return 1; }
}

initdb_node() {
    as_user "$PGBIN/initdb" -D "$BASE/$1" -U postgres --auth=trust -E UTF8 --no-locale >>"$LOG" 2>&1
}

# ------------------------------------------------------------ the servers
if [ "$FAILOVER_ONLY" = 1 ]; then
say "starting raft (n1, n2, n3) servers under $BASE"
else
say "starting solo, syncrep (p, s1, s2) and raft (n1, n2, n3) servers under $BASE"
initdb_node solo && common_conf solo && start_node solo || exit 1
psql_n solo -c "CREATE EXTENSION phantom" >>"$LOG" 2>&1

initdb_node p && common_conf p || exit 1
cat >>"$BASE/p/postgresql.conf" <<CONF
wal_level = replica
max_wal_senders = 10
synchronous_standby_names = 'ANY 1 (s1, s2)'
CONF
echo "host replication postgres 127.0.0.1/32 trust" >>"$BASE/p/pg_hba.conf"
start_node p || exit 1
for s in s1 s2; do
    as_user "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "${PORT[p]}" -U postgres -D "$BASE/$s" -X stream \
        >>"$LOG" 2>&1 || { say "pg_basebackup for $s failed"; exit 1; }
    cat >>"$BASE/$s/postgresql.conf" <<CONF
port = ${PORT[$s]}
primary_conninfo = 'host=127.0.0.1 port=${PORT[p]} user=postgres application_name=$s'
hot_standby = on
CONF
    touch "$BASE/$s/standby.signal"
    chown "$RUN_USER" "$BASE/$s/standby.signal" 2>/dev/null
    start_node "$s" || exit 1
done
for _ in $(seq 1 100); do
    [ "$(psql_n p -c "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'quorum'")" = 2 ] && break
    sleep 0.2
done
say "syncrep: $(psql_n p -c "SELECT string_agg(application_name || '=' || sync_state, ' ') FROM pg_stat_replication")"

fi

for n in n1 n2 n3; do
    initdb_node "$n" && common_conf "$n" || exit 1
    cat >>"$BASE/$n/postgresql.conf" <<CONF
phantom.node_name = '$n'
phantom.raft_listen = '127.0.0.1:${RAFT[$n]}'
phantom.cluster_secret = '$SECRET'
phantom.database = 'postgres'
CONF
    start_node "$n" || exit 1
    psql_n "$n" -c "CREATE EXTENSION phantom" >>"$LOG" 2>&1
done
psql_n n1 -c "SELECT phantom.cluster_create()" >>"$LOG" 2>&1 || { say "cluster_create failed (see $LOG)"; exit 1; }
for n in n2 n3; do
    psql_n n1 -c "SELECT phantom.node_add('$n', 'host=127.0.0.1 port=${PORT[$n]} dbname=postgres', '127.0.0.1:${RAFT[$n]}')" \
        >>"$LOG" 2>&1 || { say "node_add $n failed (see $LOG)"; exit 1; }
done
say "raft: $(psql_n n1 -c "SELECT string_agg(name || '=' || role || CASE WHEN is_leader THEN '*' ELSE '' END, ' ') FROM phantom.nodes")"

# leader: prints the name of the node that leads the raft group (as one of
# the given nodes sees it), or nothing.
leader() {
    local n l
    for n in "$@"; do
        l=$(psql_n "$n" -c "SELECT leader FROM phantom.raft_status() WHERE leader IS NOT NULL" 2>/dev/null)
        [ -n "$l" ] && { echo "$l"; return; }
    done
}

TABLE_SQL="CREATE TABLE bench_kv (k bigint PRIMARY KEY, v text)"
if [ "$FAILOVER_ONLY" = 0 ]; then
psql_n solo -c "$TABLE_SQL USING heap; CREATE TABLE bench_kv_ph (LIKE bench_kv INCLUDING ALL) USING phantom" >>"$LOG" 2>&1
psql_n p -c "$TABLE_SQL USING heap" >>"$LOG" 2>&1
fi
LEADER=$(leader n1 n2 n3)
if ! psql_n "$LEADER" -c "$TABLE_SQL USING phantom" >>"$LOG" 2>&1; then
    say "creating the phantom table on the raft leader failed (see $LOG)"
fi
# the table must reach the followers (DDL replication) before they can apply rows
for _ in $(seq 1 100); do
    ok=1
    for n in n1 n2 n3; do
        [ "$(psql_n "$n" -c "SELECT count(*) FROM pg_class WHERE relname = 'bench_kv'" 2>/dev/null)" = 1 ] || ok=0
    done
    [ $ok = 1 ] && break
    sleep 0.1
done
[ $ok = 1 ] || say "warning: bench_kv did not appear on every raft node"

if [ "$FAILOVER_ONLY" = 0 ]; then
# ------------------------------------------------------------ the workload
for tbl in bench_kv bench_kv_ph; do
    cat >"$BASE/upsert-$tbl.sql" <<SQL
\\set k random(1, 2000000000)
INSERT INTO $tbl (k, v) VALUES (:k, md5(:k::text)) ON CONFLICT (k) DO UPDATE SET v = excluded.v;
SQL
    chmod 644 "$BASE/upsert-$tbl.sql"
done

# run_pgbench WORKLOAD SIDE REP NODE TABLE CLIENTS: one timed pgbench run;
# records tps, average and p99 latency (ms).
run_pgbench() {
    local w=$1 side=$2 rep=$3 n=$4 tbl=$5 c=$6 out dir tps avg p99
    dir=$(mktemp -d "$BASE/pgb-XXXXXX")
    chown "$RUN_USER" "$dir" 2>/dev/null
    out=$(cd "$dir" && as_user "$PGBIN/pgbench" -n -M prepared -h 127.0.0.1 -p "${PORT[$n]}" -U postgres \
        -c "$c" -j "$c" -T "$SECONDS_RUN" -l --log-prefix="$dir/pgbench_log" -f "$BASE/upsert-$tbl.sql" postgres 2>&1)
    echo "$out" >>"$LOG"
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
    avg=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p')
    if [ -z "$tps" ]; then
        raw "$w" "c=$c tps" __failed__ "$side" "$rep" \
            "$(echo "$out" | grep -m1 -iE 'error|fatal' | tr '\t' ' ' | head -c 200)"
        rm -rf "$dir"
        return
    fi
    # pgbench -l: per transaction "client tx latency_us ..." lines
    p99=$(cat "$dir"/pgbench_log.* 2>/dev/null | awk '{print $3}' | sort -n |
          awk '{a[NR]=$1} END {if (NR) {i=int(NR*0.99); if (i<NR*0.99) i++; if (i<1) i=1; printf "%.3f", a[i]/1000}}')
    raw "$w" "c=$c tps" "tx/s" "$side" "$rep" "$tps"
    raw "$w" "c=$c latency avg" "ms" "$side" "$rep" "$avg"
    [ -n "$p99" ] && raw "$w" "c=$c latency p99" "ms" "$side" "$rep" "$p99"
    rm -rf "$dir"
}

raft_term() { psql_n "$(leader n1 n2 n3)" -c "SELECT term FROM phantom.raft_status()" 2>/dev/null; }
TERM0=$(raft_term)
for rep in $(seq 1 "$REPS"); do
    for c in $CLIENTS; do
        say "rep $rep, $c client(s): syncrep, raft, solo heap, solo phantom"
        run_pgbench R1-replicated A "$rep" p bench_kv "$c"
        LEADER=$(leader n1 n2 n3)
        run_pgbench R1-replicated B "$rep" "${LEADER:-n1}" bench_kv "$c"
        run_pgbench R0-solo A "$rep" solo bench_kv "$c"
        run_pgbench R0-solo B "$rep" solo bench_kv_ph "$c"
    done
done

# a term change without a failure is a spurious election (load, missed heartbeats)
TERM1=$(raft_term)
say "raft term before/after the throughput runs: ${TERM0:-?} -> ${TERM1:-?} (a change means spurious elections)"
raw R1-replicated "spurious elections (term changes)" n B 1 $(( ${TERM1:-0} - ${TERM0:-0} ))

# rows on every raft node: replication must have kept them equal
sums=$(for n in n1 n2 n3; do psql_n "$n" -c "SELECT count(*) || ':' || coalesce(sum(hashtext(v)), 0) FROM bench_kv" 2>&1; done | sort -u | wc -l)
[ "$sums" = 1 ] && say "raft nodes agree on bench_kv" || say "warning: raft nodes differ on bench_kv"

fi

# --------------------------------------------------------------- failover
# A writer hits the leader; kill -9 it; measure until a write succeeds on
# one of the others.
for rep in $(seq 1 "$REPS"); do
    LEADER=$(leader n1 n2 n3)
    [ -n "$LEADER" ] || { say "no raft leader"; break; }
    others=()
    for n in n1 n2 n3; do [ "$n" != "$LEADER" ] && others+=("$n"); done
    pid=$(head -1 "$BASE/$LEADER/postmaster.pid")
    psql_n "$LEADER" -c "INSERT INTO bench_kv VALUES (-$rep, 'before kill') ON CONFLICT (k) DO NOTHING" >>"$LOG" 2>&1
    t0=$(date +%s%N)
    kill -9 "$pid"
    t1=""
    while [ $(( $(date +%s%N) - t0 )) -lt 30000000000 ]; do
        for n in "${others[@]}"; do
            if PGCONNECT_TIMEOUT=1 timeout 2 "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "${PORT[$n]}" -U postgres -d postgres \
                -c "SET statement_timeout = '1s'; INSERT INTO bench_kv VALUES (-1000 - $rep, 'after kill') ON CONFLICT (k) DO NOTHING" \
                >/dev/null 2>&1; then
                t1=$(date +%s%N)
                break 2
            fi
        done
        sleep 0.02
    done
    if [ -n "$t1" ]; then
        secs=$(awk -v d=$(( t1 - t0 )) 'BEGIN {printf "%.3f", d / 1e9}')
        say "failover $rep: killed $LEADER, first write on the new leader after ${secs} s"
        raw F-failover "kill -9 leader -> first write" s B "$rep" "$secs"
    else
        say "failover $rep: no write succeeded within 30 s"
        raw F-failover "kill -9 leader -> first write" __failed__ B "$rep" "no write within 30 s"
    fi
    # the killed node restarts (crash recovery) and rejoins as follower
    as_user "$PGBIN/pg_ctl" -D "$BASE/$LEADER" -m immediate stop >/dev/null 2>&1
    start_node "$LEADER"
    sleep 2
done

{
    echo "phantom replication benchmark $STAMP (results: $RES)"
    echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "phantom: $(git -C "$TOP" log -1 --format='%h %s' 2>/dev/null)"
    echo "R1-replicated: A = PostgreSQL quorum sync replication (primary + 2 standbys, ANY 1, heap)"
    echo "               B = phantom Raft group of 3 nodes (phantom table, on the leader)"
    echo "R0-solo:       one server without replication, A = heap, B = phantom"
    echo "F-failover:    kill -9 of the raft leader -> first successful write on another node"
    echo "workload: single-row upsert per transaction, pgbench -M prepared, ${SECONDS_RUN}s per run, reps $REPS"
} >"$RES/meta.txt"
perl "$BENCH_DIR/summarize.pl" --raw "$RAW" --meta "$RES/meta.txt" --am-a "A" --am-b "B" \
    --csv "$RES/results.csv" --json "$RES/results.json" | tee "$RES/summary.txt"
echo "results: $RES/{summary.txt,results.csv,results.json,raw.tsv,run.log}"
