#!/usr/bin/env bash
#
# bench/run.sh: side-by-side benchmark of phantom against heap (issue 3).
#
#   bash bench/run.sh [--quick] [--issue-scale] [--workloads W1,W3,...]
#                     [--reps N] [--am-a heap] [--am-b phantom]
#                     [--no-install] [--keep] [--port P]
#
# It installs phantom (scripts/install.sh), starts its own PostgreSQL 15
# server (user postgres, 127.0.0.1, a free port of 54190-54199, data under
# /tmp/bench-*), creates the extension in two databases (bench_a for side A,
# bench_b for side B), then runs every selected workload ALTERNATELY for
# side A and side B (A, B, A, B, ...) --reps times each.  Every measurement
# is appended to bench/results/<timestamp>/raw.tsv; at the end
# bench/summarize.pl prints one row per metric (median and min-max of each
# side, ratio B/A) and writes results.csv and results.json next to it.
#
# It is a benchmark, not a test: there are no thresholds.  A workload run
# that fails (e.g. a feature phantom does not have yet) is recorded as
# "failed: <error>" and the suite goes on; if the server dies it is
# restarted (or re-created) before the next run.  Scales and durations are
# knobs (environment variables, listed by --help and in docs/benchmarks.md).
#
# The server is stopped and its directory removed at the end (--keep keeps
# it, stopped).
#
set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$BENCH_DIR/.." && pwd)
PGBIN=${PHANTOM_PG_ROOT:-/usr}/lib/postgresql/15/bin
RUN_USER=postgres

usage() {
    cat <<'EOF'
usage: bash bench/run.sh [options]

  --quick             smoke run: ~1/50 of the rows, seconds-long runs, 1 repetition,
                      shared_buffers 128MB (< 3 minutes on 2 idle cores)
  --issue-scale       the exact sizes and durations of issue 3 (several hours)
  --workloads LIST    comma-separated subset of W1,W2,W3,W4,W5,W6 (default: all)
  --reps N            repetitions per side (default 3, --quick 1)
  --am-a AM           access method of side A (default heap)
  --am-b AM           access method of side B (default phantom)
  --no-install        do not run scripts/install.sh (use what is installed)
  --keep              keep the server's directory (stopped) at the end
  --port P            port to use (default: first free one in 54190-54199)
  --dry-run           print the knobs and the estimated duration, run nothing

Knobs (environment variables; defaults full / --quick):
  BENCH_SHARED_BUFFERS 2GB/128MB   BENCH_TIMEOUT (s per statement) 1800/180
  BENCH_W1_ROWS 5000000/100000     BENCH_W1_SCALE 50/1
  BENCH_W2_SCALE 50/1  BENCH_W2_SECONDS 12/3  BENCH_W2_CLIENTS "1 4 8"  BENCH_W2_SYNC "off on"
  BENCH_W3_ROWS 1000000/20000  BENCH_W3_UPDATES 400000/20000  BENCH_W3_CLIENTS 4
  BENCH_W3_QUIET 30/3  BENCH_W3_LOOP 200000/4000
  BENCH_W4_KEYS 1000000/20000  BENCH_W4_TXNS 400000/20000  BENCH_W4_CLIENTS 4
  BENCH_W5_SECONDS 30/6  BENCH_W5_CLIENTS 4  BENCH_W5_SYNC "off on"  BENCH_W5_LOOP 200000/4000
  BENCH_W6_ROWS 5000000/100000  BENCH_W6_LOOP 500000/10000  BENCH_W6_SECONDS 10/3  BENCH_W6_SCALE 50/1
  BENCH_LOOP_BATCH 1000  (in-server loops commit every N iterations)
EOF
}

# ---------------------------------------------------------------- options
QUICK=0
ISSUE=0
WORKLOADS="W1,W2,W3,W4,W5,W6"
REPS=""
AM_A=heap
AM_B=phantom
INSTALL=1
KEEP=0
DRY=0
PORT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --issue-scale) ISSUE=1 ;;
        --workloads) WORKLOADS=$2; shift ;;
        --workloads=*) WORKLOADS=${1#*=} ;;
        --reps) REPS=$2; shift ;;
        --reps=*) REPS=${1#*=} ;;
        --am-a) AM_A=$2; shift ;;
        --am-a=*) AM_A=${1#*=} ;;
        --am-b) AM_B=$2; shift ;;
        --am-b=*) AM_B=${1#*=} ;;
        --no-install) INSTALL=0 ;;
        --keep) KEEP=1 ;;
        --dry-run) DRY=1 ;;
        --port) PORT=$2; shift ;;
        --port=*) PORT=${1#*=} ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
WORKLOADS=$(echo "$WORKLOADS" | tr 'a-z,' 'A-Z ')
for w in $WORKLOADS; do
    case "$w" in W1|W2|W3|W4|W5|W6) ;; *) echo "run.sh: unknown workload $w" >&2; exit 2 ;; esac
done

# ------------------------------------------------------------------ knobs
# knob NAME FULL QUICK ISSUE: sets BENCH_NAME unless the environment did.
knob() {
    local var=BENCH_$1 val=$2
    [ "$QUICK" = 1 ] && val=$3
    [ "$ISSUE" = 1 ] && [ -n "${4:-}" ] && val=$4
    [ -n "${!var:-}" ] || printf -v "$var" '%s' "$val"
    export "${var?}"
}
knob SHARED_BUFFERS 2GB 128MB
knob TIMEOUT 1800 180 7200
knob W1_ROWS 5000000 100000
knob W1_SCALE 50 1
knob W2_SCALE 50 1
knob W2_SECONDS 12 3 60
knob W2_CLIENTS "1 4 8" "1 4 8"
knob W2_SYNC "off on" "off on"
knob W3_ROWS 1000000 20000
knob W3_UPDATES 400000 20000 2000000
knob W3_CLIENTS 4 4
knob W3_QUIET 30 3 90
knob W3_LOOP 200000 4000
knob W4_KEYS 1000000 20000
knob W4_TXNS 400000 20000 2000000
knob W4_CLIENTS 4 4
knob W5_SECONDS 30 6 60
knob W5_CLIENTS 4 4
knob W5_SYNC "off on" "off on"
knob W5_LOOP 200000 4000
knob W6_ROWS 5000000 100000
knob W6_LOOP 500000 10000
knob W6_SECONDS 10 3
knob W6_SCALE 50 1
knob LOOP_BATCH 1000 1000
if [ -z "$REPS" ]; then
    if [ "$QUICK" = 1 ]; then REPS=1; else REPS=3; fi
fi

. "$BENCH_DIR/workloads.sh"

# Estimated duration (seconds) of the selected workloads, from rough heap
# speeds on a 2-core machine; phantom may be slower or faster.
estimate() {
    local total=0 w n
    for w in $WORKLOADS; do
        n=$(est_"$w")
        total=$((total + n))
    done
    echo "$total"
}

if [ "$DRY" = 1 ]; then
    echo "side A = $AM_A   side B = $AM_B   reps = $REPS   workloads = $WORKLOADS   quick = $QUICK"
    env | grep '^BENCH_' | sort | sed 's/^/  /'
    for w in $WORKLOADS; do
        echo "$w ~$(( ($(est_"$w") + 59) / 60 )) min: $(desc_"$w")"
    done
    echo "estimated total: ~$(( ($(estimate) + 59) / 60 )) min (at heap speed on both sides)"
    exit 0
fi

# ---------------------------------------------------------------- helpers
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$BENCH_DIR/results/$STAMP"
mkdir -p "$RES"
RAW="$RES/raw.tsv"
LOG="$RES/run.log"
: >"$RAW"
: >"$LOG"
TMPC="$RES/tmp"            # client-side scratch (pgbench scripts and logs)
mkdir -p "$TMPC"

say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }

as_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$RUN_USER" -- "$@"; else "$@"; fi
}

# port_free P: true when nothing listens on 127.0.0.1:P.
port_free() {
    perl -MIO::Socket::INET -e \
        'exit(IO::Socket::INET->new(Listen => 1, ReuseAddr => 1, LocalAddr => "127.0.0.1:$ARGV[0]") ? 0 : 1)' "$1"
}

# ----------------------------------------------------------------- server
BASE=""
DATA=""

write_conf() {
    cat >>"$DATA/postgresql.conf" <<CONF
# added by phantom's bench/run.sh
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$BASE'
shared_preload_libraries = 'phantom'
shared_buffers = '$BENCH_SHARED_BUFFERS'
max_connections = 40
max_wal_size = '$( [ "$QUICK" = 1 ] && echo 1GB || echo 16GB )'
checkpoint_timeout = '30min'
maintenance_work_mem = '$( [ "$QUICK" = 1 ] && echo 64MB || echo 512MB )'
jit = off
statement_timeout = '${BENCH_TIMEOUT}s'
log_min_messages = warning
log_checkpoints = on
CONF
}

# init_cluster: (re)creates the data directory and starts the server.
init_cluster() {
    rm -rf "$DATA"
    as_user "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-locale >>"$LOG" 2>&1 ||
        { say "initdb failed (see $LOG)"; return 1; }
    write_conf
    start_server
}

start_server() {
    if ! as_user "$PGBIN/pg_ctl" -D "$DATA" -l "$BASE/server.log" -w -t 300 start >>"$LOG" 2>&1; then
        say "server did not start; last lines of $BASE/server.log:"
        tail -n 15 "$BASE/server.log" | tee -a "$LOG"
        return 1
    fi
        local db
    for db in bench_a bench_b; do
        psql_db postgres -c "CREATE DATABASE $db" >/dev/null 2>&1
        psql_db "$db" -c "CREATE EXTENSION IF NOT EXISTS phantom" >>"$LOG" 2>&1 ||
            say "warning: CREATE EXTENSION phantom failed in $db (see $LOG)"
    done
    return 0
}

stop_server() {
    [ -n "$DATA" ] && [ -f "$DATA/postmaster.pid" ] &&
        as_user "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 120 stop >>"$LOG" 2>&1
    }

# ensure_server: after a run, make sure the server accepts connections; a
# crashed server normally restarts by itself (crash recovery), otherwise we
# start it, and as the last resort re-create the cluster.
ensure_server() {
    local _
    for _ in $(seq 1 180); do
        "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres && return 0
        # postmaster gone (not merely in crash recovery): no use waiting
        as_user "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 || break
        sleep 1
    done
    say "server not ready (see server.log); restarting it"
    as_user "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >>"$LOG" 2>&1
    start_server && return 0
    say "server does not start; re-creating the cluster"
    init_cluster
}

cleanup() {
    local rc=$?
    stop_server
    if [ -n "$BASE" ]; then
        [ -f "$BASE/server.log" ] && cp "$BASE/server.log" "$RES/server.log" 2>/dev/null
        if [ "$KEEP" = 1 ]; then
            echo "run.sh: kept $BASE"
        else
            rm -rf "$BASE"
        fi
    fi
    rm -rf "$TMPC"
    exit $rc
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted"; exit 130' INT TERM

# psql_db DB ARGS...: psql on DB, unaligned, stop at the first error, with
# a client-side timeout on top of statement_timeout.
psql_db() {
    local db=$1
    shift
    timeout "$((BENCH_TIMEOUT + 60))" "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$PORT" -U postgres -d "$db" "$@"
}

# ------------------------------------------------------------------ start
if [ "$INSTALL" = 1 ]; then
    say "installing phantom (scripts/install.sh)"
    bash "$TOP/scripts/install.sh" 2>&1 | tee -a "$LOG" | tail -n 3 ||
        { say "scripts/install.sh failed"; exit 1; }
fi

if [ -z "$PORT" ]; then
    for p in $(seq 54190 54199); do
        if port_free "$p"; then PORT=$p; break; fi
    done
    [ -n "$PORT" ] || { echo "run.sh: no free port in 54190-54199" >&2; exit 1; }
fi
BASE=$(mktemp -d /tmp/bench-XXXXXX)
DATA="$BASE/data"
chmod 755 "$BASE"
[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$BASE"
init_cluster || exit 1

{
    echo "phantom benchmark $STAMP  (results: $RES)"
    echo "side A = $AM_A   side B = $AM_B   reps = $REPS   workloads = $WORKLOADS   quick = $QUICK"
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "phantom: $(git -C "$TOP" log -1 --format='%h %cd %s' --date=iso 2>/dev/null || echo 'not a git checkout')"
    echo "server: 127.0.0.1:$PORT, data $DATA"
    psql_db postgres -c "SELECT version()"
    echo "settings:"
    psql_db postgres -F ' = ' -c "SELECT name, setting || coalesce(' ' || unit, '') FROM pg_settings
        WHERE name IN ('shared_buffers', 'wal_level', 'fsync', 'synchronous_commit',
            'full_page_writes', 'wal_compression', 'max_wal_size', 'checkpoint_timeout',
            'autovacuum', 'autovacuum_naptime', 'jit', 'maintenance_work_mem', 'work_mem',
            'max_parallel_workers_per_gather', 'statement_timeout', 'shared_preload_libraries')
            OR name LIKE 'phantom.%' ORDER BY name" | sed 's/^/  /'
    echo "knobs:"
    env | grep '^BENCH_' | sort | sed 's/^/  /'
    echo "estimated total: ~$(( ($(estimate) + 59) / 60 )) min (at heap speed on both sides)"
} 2>&1 | tee -a "$LOG" | tee "$RES/header.txt"

T_START=$(date +%s)
for w in $WORKLOADS; do
    run_workload "$w"
done
T_END=$(date +%s)
say "all workloads done in $(( T_END - T_START )) s ($(( (T_END - T_START + 30) / 60 )) min)"

{
    cat "$RES/header.txt"
    echo "elapsed: $(( T_END - T_START )) s; load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
    grep -E '\] W[1-6] done in' "$LOG" | sed 's/^\[[^]]*\] /  /'
} >"$RES/meta.txt"
perl "$BENCH_DIR/summarize.pl" --raw "$RAW" --meta "$RES/meta.txt" \
    --am-a "$AM_A" --am-b "$AM_B" --csv "$RES/results.csv" --json "$RES/results.json" |
    tee "$RES/summary.txt"
echo "results: $RES/{summary.txt,results.csv,results.json,raw.tsv,run.log}"
