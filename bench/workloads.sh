# shellcheck shell=bash
#
# bench/workloads.sh: the workloads W1-W6 of issue 3 and the measuring
# helpers they share; sourced by bench/run.sh (which defines psql_db, say,
# PORT, BASE, RAW, TMPC, AM_A/AM_B, REPS and the BENCH_* knobs).
#
# Conventions:
# - A "run" is one workload for one side (A or B) and one repetition; it
#   uses the side's database (bench_a / bench_b) and creates its tables
#   USING the side's access method; pgbench -i gets the access method
#   through PGOPTIONS='-c default_table_access_method=...'.  Every table a
#   run creates is checked to really use that access method.
# - A run is split in "steps"; each step runs in a subshell with set -e, so
#   a failing statement ends the step, is recorded as "failed: <error>" in
#   the step's row, and the run goes on with its next step.
# - Measurements go to $RAW, one line each:
#       workload <TAB> metric <TAB> unit <TAB> side <TAB> rep <TAB> value
#   (unit "__failed__" marks a failed step, value = the error; unit
#   "__note__" a remark).  bench/summarize.pl turns them into the table.
# - Sizes are in MB (1 MB = 2^20 bytes); WAL bytes are differences of
#   pg_current_wal_insert_lsn() (not pg_current_wal_lsn(), the write
#   position, which lags with synchronous_commit off), so they include
#   whatever autovacuum or the compaction workers wrote meanwhile: that is
#   part of the cost of each table AM.
#

CUR_W=""
CUR_SIDE=""
CUR_REP=0
AM=""
DB=""

# ----------------------------------------------------------- measurement
emit() {                        # emit METRIC UNIT VALUE
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$CUR_W" "$1" "$2" "$CUR_SIDE" "$CUR_REP" "$3" >>"$RAW"
}
note() {                        # note TEXT
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$CUR_W" "note" "__note__" "$CUR_SIDE" "$CUR_REP" "$*" >>"$RAW"
}

q() { psql_db "$DB" "$@"; }
qv() { q -c "$1"; }              # qv SQL: prints the (single) value

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }    # calc EXPR [DECIMALS]

lsn() { qv "SELECT pg_current_wal_insert_lsn()"; }
wal_since() { qv "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$1')::bigint"; }

relsize() { qv "SELECT pg_relation_size('$1')"; }
totalsize() { qv "SELECT pg_total_relation_size('$1')"; }
mb() { calc "$1 / 1048576" 2; }

# check_am TABLE...: fails unless every TABLE uses access method $AM.
check_am() {
    local t am
    for t in "$@"; do
        am=$(qv "SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
                 WHERE c.oid = '$t'::regclass")
        if [ "$am" != "$AM" ]; then
            echo "ERROR: table $t uses access method '$am', not '$AM'" >&2
            return 1
        fi
    done
}

# settle TABLE...: VACUUM (FREEZE, ANALYZE), then phantom.compact() for
# phantom tables: the state a table reaches when it is left alone.  Soft:
# a failure is a note, the sizes are then measured as they are.
# SETTLE_MOVED is then the number of vblocks phantom.compact() moved.
SETTLE_MOVED=0
settle() {
    local t err n
    SETTLE_MOVED=0
    for t in "$@"; do
        if ! err=$(q -c "VACUUM (FREEZE, ANALYZE) $t" 2>&1); then
            note "VACUUM $t failed: $(errline <<<"$err")"
        fi
        if [ "$AM" = phantom ]; then
            if n=$(q -c "SELECT phantom.compact('$t')" 2>"$TMPC/settle.err"); then
                SETTLE_MOVED=$((SETTLE_MOVED + n))
            else
                note "phantom.compact($t) failed: $(errline <"$TMPC/settle.err")"
            fi
        fi
    done
}

# errline: the most telling line of an error output on stdin.
errline() {
    local all line
    all=$(cat)
    line=$(grep -m1 -E 'ERROR|FATAL|PANIC|error|aborted|terminated|timed out|could not' <<<"$all")
    [ -n "$line" ] || line=$(grep -v '^\s*$' <<<"$all" | tail -n 1)
    [ -n "$line" ] || line="exit status non-zero, no message"
    line=$(sed -E 's/^psql:[^:]*:[0-9]+: //; s/^(pgbench: )?(error: )?(query failed: )?//;
                   s/^(ERROR|FATAL|PANIC): +//' <<<"$line")
    echo "${line:0:200}"
}

# pgb OUT [pgbench args...]: runs pgbench on $DB with output in OUT (the
# client logs, if any, go to $TMPC/pgb.*); fails when pgbench does.
pgb() {
    local out=$1
    shift
    local rc=0
    rm -f "$TMPC"/pgb.*
    if ! (cd "$TMPC" && timeout "$((BENCH_TIMEOUT + 60))" "$PGBIN/pgbench" -h 127.0.0.1 \
        -p "$PORT" -U postgres "$@" "$DB") >"$out" 2>&1; then
        rc=1
    fi
    cat "$out" >>"$LOG"
    if [ $rc -ne 0 ]; then
        errline <"$out" >&2
        return 1
    fi
    if grep -qE 'number of failed transactions: [1-9]|aborted in command' "$out"; then
        echo "ERROR: $(grep -m1 -E 'failed transactions|aborted' "$out")" >&2
        return 1
    fi
}
pgb_tps() { sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$1" | head -n 1; }
pgb_lat() { sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$1" | head -n 1; }
pgb_tx() { sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$1" | head -n 1; }

# pct P...: percentiles (ms) of the per-transaction latencies of the last
# pgbench --log run, space separated.
pct() {
    cat "$TMPC"/pgb.* 2>/dev/null | perl -e '
        my @v = sort { $a <=> $b } map { (split)[2] } <STDIN>;
        print join(" ", map { @v ? sprintf("%.3f", $v[int($_ / 100 * $#v + 0.5)] / 1000) : "nan" } @ARGV), "\n";
    ' "$@"
}

# inloop N KEYEXPR STMT: a plpgsql DO loop of N iterations in one session;
# each iteration sets k := KEYEXPR and runs STMT (which uses k); it
# commits every $BENCH_LOOP_BATCH iterations.  Prints "µs_per_iteration
# WAL_bytes_per_iteration", both measured inside the server.
inloop() {
    local n=$1 key=$2 stmt=$3
    q -c "DO \$bench\$
DECLARE
    t0 timestamptz;
    l0 pg_lsn;
    k bigint;
BEGIN
    l0 := pg_current_wal_insert_lsn();
    t0 := clock_timestamp();
    FOR i IN 1..$n LOOP
        k := $key;
        $stmt;
        IF i % $BENCH_LOOP_BATCH = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
    COMMIT;
    PERFORM set_config('bench.us', (extract(epoch FROM clock_timestamp() - t0) * 1e6 / $n)::numeric(20,3)::text, false);
    PERFORM set_config('bench.wal', (pg_wal_lsn_diff(pg_current_wal_insert_lsn(), l0) / $n)::numeric(20,1)::text, false);
END
\$bench\$" -c "SELECT current_setting('bench.us') || ' ' || current_setting('bench.wal')"
}

# ensure_csv ROWS: prints the path of a CSV file of ROWS rows
# (id bigint, v int, t text): id = 1..ROWS in order, v = a hash of id,
# t = 40 hex characters; written once by the server, shared by W1 and W6.
ensure_csv() {
    local rows=$1 f="$BASE/rows_$1.csv"
    if [ ! -f "$f.done" ]; then
        psql_db postgres -c "COPY (SELECT g, hashint8(g), substr(md5(g::text) || md5((-g)::text), 1, 40)
            FROM generate_series(1, $rows::bigint) g) TO '$f' (FORMAT csv)" >&2 || return 1
        touch "$f.done"
    fi
    echo "$f"
}

# pgbench_init SCALE: pgbench -i with tables of access method $AM (all of
# it, the vacuum included: a failing VACUUM fails it).
pgbench_init() {
    local out="$TMPC/init.out"
    PGOPTIONS="-c default_table_access_method=$AM" pgb "$out" -i -q -s "$1" || return 1
    check_am pgbench_accounts pgbench_branches pgbench_tellers pgbench_history
    echo "$out"
}

# pgbench_init_soft SCALE: the same tables for workloads that only need
# them: create + generate, then settle (VACUUM FREEZE, compact; a failure is
# a note), then the primary keys.
pgbench_init_soft() {
    local out="$TMPC/init.out"
    PGOPTIONS="-c default_table_access_method=$AM" pgb "$out" -i -q -I dtg -s "$1" || return 1
    check_am pgbench_accounts pgbench_branches pgbench_tellers pgbench_history
    settle pgbench_branches pgbench_tellers pgbench_accounts
    pgb "$out" -i -q -I p || return 1
}

# ------------------------------------------------------------ the driver
# step LABEL FUNC [ARGS...]: runs FUNC in a subshell with set -e; on
# failure records LABEL as failed with the error, and goes on.  Never call
# step as a condition ("step ... && x", "if step ..."): bash ignores set -e
# inside anything run as a condition, so test $? on the next line instead.
step() {
    local label=$1 err="$TMPC/step.err" t0 rc msg
    shift
    t0=$(now)
    (set -e -o pipefail; "$@") 2>"$err"
    rc=$?
    cat "$err" >>"$LOG"
    if [ $rc -eq 0 ]; then
        say "  $CUR_W $(run_tag) $label: ok ($(since "$t0") s)"
    else
        msg=$(errline <"$err")
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$CUR_W" "$label" "__failed__" "$CUR_SIDE" "$CUR_REP" "$msg" >>"$RAW"
        say "  $CUR_W $(run_tag) $label: failed: $msg"
        ensure_server
    fi
    return $rc
}

run_tag() {
    if [ "$CUR_REP" = 0 ]; then echo "$CUR_SIDE($AM)"; else echo "rep $CUR_REP/$REPS $CUR_SIDE($AM)"; fi
}

set_side() {                    # set_side A|B
    CUR_SIDE=$1
    if [ "$1" = A ]; then AM=$AM_A; DB=bench_a; else AM=$AM_B; DB=bench_b; fi
}

# run_workload W: optional per-side setup (W_setup), then REPS runs of
# each side alternately (A, B, A, B, ...), then optional teardown.
run_workload() {
    local w=$1 rep side t0
    t0=$(date +%s)
    CUR_W=$w
    say "$w: $(desc_"$w")"
    if declare -F "${w}_setup" >/dev/null; then
        CUR_REP=0
        for side in A B; do
            set_side "$side"
            step "setup" "${w}_setup"
            ensure_server
        done
    fi
    for rep in $(seq 1 "$REPS"); do
        CUR_REP=$rep
        for side in A B; do
            set_side "$side"
            "${w}_run"
            ensure_server
        done
    done
    if declare -F "${w}_teardown" >/dev/null; then
        for side in A B; do
            set_side "$side"
            (set -e; "${w}_teardown") >>"$LOG" 2>&1
        done
    fi
    say "$w done in $(( $(date +%s) - t0 )) s (estimated $(est_"$w") s)"
}

# ================================================================== W1
desc_W1() { echo "bulk load: COPY $BENCH_W1_ROWS rows without / with a primary key; pgbench -i -s $BENCH_W1_SCALE"; }
est_W1() { echo $(( REPS * 2 * (BENCH_W1_ROWS * 3 / 250000 + BENCH_W1_SCALE * 1 + 2) + BENCH_W1_ROWS / 300000 )); }

w1_copy() {                     # w1_copy LABEL PK(0|1)
    local label=$1 pk=$2 csv l0 t0 secs wal ddl
    csv=$(ensure_csv "$BENCH_W1_ROWS")
    qv "DROP TABLE IF EXISTS w1" >/dev/null
    ddl="id bigint, v int, t text"
    [ "$pk" = 1 ] && ddl="id bigint PRIMARY KEY, v int, t text"
    qv "CREATE TABLE w1 ($ddl) USING $AM" >/dev/null
    check_am w1
    qv "CHECKPOINT" >/dev/null
    l0=$(lsn)
    t0=$(now)
    qv "COPY w1 FROM '$csv' (FORMAT csv)" >/dev/null
    secs=$(since "$t0")
    wal=$(wal_since "$l0")
    emit "$label: COPY time" s "$secs"
    emit "$label: COPY rows/s" rows/s "$(calc "$BENCH_W1_ROWS / $secs" 0)"
    emit "$label: COPY WAL" MB "$(mb "$wal")"
    emit "$label: table size after load" MB "$(mb "$(relsize w1)")"
    emit "$label: total size after load" MB "$(mb "$(totalsize w1)")"
    t0=$(now)
    settle w1
    emit "$label: VACUUM FREEZE (+compact) time" s "$(since "$t0")"
    [ "$AM" != phantom ] || emit "$label: vblocks moved by compact" n "$SETTLE_MOVED"
    emit "$label: table size settled" MB "$(mb "$(relsize w1)")"
    emit "$label: total size settled" MB "$(mb "$(totalsize w1)")"
    qv "DROP TABLE w1" >/dev/null
}

w1_pgbench() {
    local l0 t0 secs wal out
    qv "CHECKPOINT" >/dev/null
    l0=$(lsn)
    t0=$(now)
    out=$(pgbench_init "$BENCH_W1_SCALE")
    secs=$(since "$t0")
    wal=$(wal_since "$l0")
    emit "pgbench -i: time" s "$secs"
    emit "pgbench -i: WAL" MB "$(mb "$wal")"
    emit "pgbench -i: pgbench_accounts size" MB "$(mb "$(relsize pgbench_accounts)")"
    emit "pgbench -i: all tables total size" MB "$(mb "$(qv "SELECT sum(pg_total_relation_size(c)) FROM unnest('{pgbench_accounts,pgbench_branches,pgbench_tellers,pgbench_history}'::regclass[]) c")")"
    settle pgbench_accounts
    emit "pgbench -i: pgbench_accounts size settled" MB "$(mb "$(relsize pgbench_accounts)")"
    qv "DROP TABLE pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history" >/dev/null
}

W1_run() {
    step "no PK" w1_copy "no PK" 0
    step "with PK" w1_copy "with PK" 1
    step "pgbench -i" w1_pgbench
}

# ================================================================== W2
desc_W2() { echo "TPC-B: pgbench -i -s $BENCH_W2_SCALE, then -T $BENCH_W2_SECONDS at clients {$BENCH_W2_CLIENTS} x synchronous_commit {$BENCH_W2_SYNC}"; }
est_W2() {
    local n=0 c s
    for c in $BENCH_W2_CLIENTS; do for s in $BENCH_W2_SYNC; do n=$((n + BENCH_W2_SECONDS + 1)); done; done
    echo $(( REPS * 2 * (BENCH_W2_SCALE * 1 + 2 + n) ))
}

w2_init() {
    pgbench_init_soft "$BENCH_W2_SCALE"
    qv "CHECKPOINT" >/dev/null
    emit "pgbench_accounts size before" MB "$(mb "$(relsize pgbench_accounts)")"
}

w2_one() {                      # w2_one CLIENTS SYNC
    local c=$1 s=$2 l0 wal out="$TMPC/w2.out" tx p tag
    tag="c=$c sync=$s"
    qv "CHECKPOINT" >/dev/null
    l0=$(lsn)
    PGOPTIONS="-c synchronous_commit=$s" pgb "$out" -n -M prepared -T "$BENCH_W2_SECONDS" \
        -c "$c" -j "$(( c < 2 ? c : 2 ))" --log --log-prefix=pgb
    wal=$(wal_since "$l0")
    tx=$(pgb_tx "$out")
    read -r p <<<"$(pct 99)"
    emit "$tag: tps" tps "$(pgb_tps "$out")"
    emit "$tag: latency avg" ms "$(pgb_lat "$out")"
    emit "$tag: latency p99" ms "$p"
    emit "$tag: WAL per transaction" B "$(calc "$wal / $tx" 0)"
}

w2_after() {
    emit "pgbench_accounts size after" MB "$(mb "$(relsize pgbench_accounts)")"
    emit "all tables total size after" MB "$(mb "$(qv "SELECT sum(pg_total_relation_size(c)) FROM unnest('{pgbench_accounts,pgbench_branches,pgbench_tellers,pgbench_history}'::regclass[]) c")")"
    qv "DROP TABLE pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history" >/dev/null
}

W2_run() {
    local s c
    step "pgbench -i" w2_init
    [ $? -eq 0 ] || return 0
    for s in $BENCH_W2_SYNC; do
        for c in $BENCH_W2_CLIENTS; do
            step "c=$c sync=$s" w2_one "$c" "$s"
        done
    done
    step "sizes after" w2_after
}

# ================================================================== W3
desc_W3() { echo "update-heavy: $BENCH_W3_ROWS rows, $BENCH_W3_UPDATES random single-row updates at $BENCH_W3_CLIENTS clients, PK only / + index on the updated column; ${BENCH_W3_QUIET}s quiet; in-server loop of $BENCH_W3_LOOP updates"; }
est_W3() { echo $(( REPS * 2 * 2 * (BENCH_W3_ROWS / 150000 + BENCH_W3_UPDATES / 8000 + BENCH_W3_QUIET + BENCH_W3_LOOP / 20000 + 1) )); }

w3_load() {                     # w3_load VARIANT
    qv "DROP TABLE IF EXISTS w3" >/dev/null
    qv "CREATE TABLE w3 (id bigint PRIMARY KEY, v int NOT NULL, t text) USING $AM" >/dev/null
    check_am w3
    qv "INSERT INTO w3 SELECT g, 0, substr(md5(g::text) || md5((-g)::text), 1, 40)
        FROM generate_series(1, $BENCH_W3_ROWS) g" >/dev/null
    [ "$1" = idx ] && qv "CREATE INDEX w3_v ON w3 (v)" >/dev/null
    settle w3
    qv "CHECKPOINT" >/dev/null
}

w3_sizes() {                    # w3_sizes TAG WHEN
    emit "$1: table size $2" MB "$(mb "$(relsize w3)")"
    emit "$1: total size $2" MB "$(mb "$(totalsize w3)")"
}

w3_updates() {                  # w3_updates VARIANT TAG
    local tag=$2 l0 wal out="$TMPC/w3.out" tx c=$BENCH_W3_CLIENTS
    w3_load "$1"
    w3_sizes "$tag" before
    printf '%s\n' '\set id random(1, :rows)' 'UPDATE w3 SET v = v + 1 WHERE id = :id;' >"$TMPC/w3.sql"
    l0=$(lsn)
    PGOPTIONS="-c synchronous_commit=off" pgb "$out" -n -M prepared -c "$c" -j "$(( c < 2 ? c : 2 ))" \
        -t "$(( (BENCH_W3_UPDATES + c - 1) / c ))" -D rows="$BENCH_W3_ROWS" -f "$TMPC/w3.sql"
    wal=$(wal_since "$l0")
    tx=$(pgb_tx "$out")
    emit "$tag: updates/s" tps "$(pgb_tps "$out")"
    emit "$tag: latency avg" ms "$(pgb_lat "$out")"
    emit "$tag: WAL per update" B "$(calc "$wal / $tx" 0)"
    w3_sizes "$tag" after
    sleep "$BENCH_W3_QUIET"
    w3_sizes "$tag" "after ${BENCH_W3_QUIET}s quiet"
}

w3_loop() {                     # w3_loop TAG
    local r
    r=$(PGOPTIONS="-c synchronous_commit=off" inloop "$BENCH_W3_LOOP" \
        "1 + floor(random() * $BENCH_W3_ROWS)::bigint" "UPDATE w3 SET v = v + 1 WHERE id = k")
    emit "$1: in-server loop time per update" us "${r% *}"
    emit "$1: in-server loop WAL per update" B "${r#* }"
}

W3_run() {
    local v tag
    for v in pk idx; do
        if [ $v = pk ]; then tag="PK only"; else tag="PK + index(v)"; fi
        step "$tag: updates" w3_updates "$v" "$tag"
        [ $? -eq 0 ] || continue
        step "$tag: in-server loop" w3_loop "$tag"
    done
    q -c "DROP TABLE IF EXISTS w3" >/dev/null 2>&1
}

# ================================================================== W4
desc_W4() { echo "upsert: $BENCH_W4_TXNS INSERT .. ON CONFLICT DO UPDATE over $BENCH_W4_KEYS keys, 5 secondary indexes, $BENCH_W4_CLIENTS clients"; }
est_W4() { echo $(( REPS * 2 * (BENCH_W4_TXNS / 5000 + BENCH_W4_KEYS / 100000 + 3) )); }

w4_create() {                   # w4_create NAME
    qv "DROP TABLE IF EXISTS $1" >/dev/null
    qv "CREATE TABLE $1 (k bigint PRIMARY KEY, a int, b int, c int, d int, e text,
        n int NOT NULL DEFAULT 0) USING $AM" >/dev/null
    check_am "$1"
}
w4_indexes() {                  # w4_indexes NAME
    local col
    for col in a b c d e; do
        qv "CREATE INDEX ${1}_$col ON $1 ($col)" >/dev/null
    done
}

w4_main() {
    local l0 wal out="$TMPC/w4.out" tx c=$BENCH_W4_CLIENTS
    w4_create w4
    w4_indexes w4
    qv "CHECKPOINT" >/dev/null
    cat >"$TMPC/w4.sql" <<'SQL'
\set k random(1, :keys)
\set r random(1, 1000000000)
INSERT INTO w4 (k, a, b, c, d, e) VALUES (:k, :r, :k % 1000, :k % 100000, :r % 1000, md5(:k::text))
    ON CONFLICT (k) DO UPDATE SET a = EXCLUDED.a, d = EXCLUDED.d, n = w4.n + 1;
SQL
    l0=$(lsn)
    PGOPTIONS="-c synchronous_commit=off" pgb "$out" -n -M prepared -c "$c" -j "$(( c < 2 ? c : 2 ))" \
        -t "$(( (BENCH_W4_TXNS + c - 1) / c ))" -D keys="$BENCH_W4_KEYS" -f "$TMPC/w4.sql"
    wal=$(wal_since "$l0")
    tx=$(pgb_tx "$out")
    emit "upserts/s" tps "$(pgb_tps "$out")"
    emit "latency avg" ms "$(pgb_lat "$out")"
    emit "WAL per transaction" B "$(calc "$wal / $tx" 0)"
    emit "rows after" rows "$(qv "SELECT count(*) FROM w4")"
    emit "table size after" MB "$(mb "$(relsize w4)")"
    emit "total size after" MB "$(mb "$(totalsize w4)")"
}

w4_fresh() {
    local fresh
    w4_create w4_fresh
    qv "INSERT INTO w4_fresh SELECT * FROM w4" >/dev/null
    w4_indexes w4_fresh
    settle w4_fresh
    fresh=$(totalsize w4_fresh)
    emit "fresh copy: table size" MB "$(mb "$(relsize w4_fresh)")"
    emit "fresh copy: total size" MB "$(mb "$fresh")"
    emit "total size after / fresh copy" x "$(calc "$(totalsize w4) / $fresh" 3)"
}

W4_run() {
    step "upserts" w4_main
    if [ $? -eq 0 ]; then
        step "fresh copy" w4_fresh
    fi
    q -c "DROP TABLE IF EXISTS w4, w4_fresh" >/dev/null 2>&1
}

# ================================================================== W5
desc_W5() { echo "insert-only, random 64-bit keys, PK + 1 secondary index: ${BENCH_W5_SECONDS}s at $BENCH_W5_CLIENTS clients x synchronous_commit {$BENCH_W5_SYNC}; in-server loop of $BENCH_W5_LOOP inserts"; }
est_W5() {
    local n=0 s
    for s in $BENCH_W5_SYNC; do n=$((n + BENCH_W5_SECONDS + 1)); done
    echo $(( REPS * 2 * (n + BENCH_W5_LOOP / 20000 + 1) ))
}

w5_create() {
    qv "DROP TABLE IF EXISTS w5" >/dev/null
    qv "CREATE TABLE w5 (id bigint PRIMARY KEY, v int NOT NULL, t text) USING $AM" >/dev/null
    qv "CREATE INDEX w5_v ON w5 (v)" >/dev/null
    check_am w5
}

w5_one() {                      # w5_one SYNC
    local s=$1
    local tag="sync=$s" l0 wal out="$TMPC/w5.out" c=$BENCH_W5_CLIENTS rows win r
    w5_create
    qv "CHECKPOINT" >/dev/null
    cat >"$TMPC/w5.sql" <<'SQL'
\set k random(1, 9000000000000000000)
\set v random(1, 2000000000)
INSERT INTO w5 VALUES (:k, :v, md5(:v::text) || '01234567');
SQL
    l0=$(lsn)
    PGOPTIONS="-c synchronous_commit=$s" pgb "$out" -n -M prepared -c "$c" -j "$(( c < 2 ? c : 2 ))" \
        -T "$BENCH_W5_SECONDS" -f "$TMPC/w5.sql" --log --log-prefix=pgb --aggregate-interval=1
    wal=$(wal_since "$l0")
    rows=$(qv "SELECT count(*) FROM w5")
    win=$(( BENCH_W5_SECONDS / 3 < 10 ? BENCH_W5_SECONDS / 3 : 10 ))
    [ "$win" -ge 1 ] || win=1
    # aggregate log: interval_start num_transactions ...; first/last WIN
    # complete seconds (the last, partial interval is dropped).
    r=$(cat "$TMPC"/pgb.* | perl -e '
        my %n; while (<STDIN>) { my @f = split; $n{$f[0]} += $f[1]; }
        my @k = sort { $a <=> $b } keys %n; pop @k if @k > 2;
        my $w = $ARGV[0]; $w = int(@k / 2) if $w > @k / 2; $w = 1 if $w < 1;
        my ($f, $l) = (0, 0); $f += $n{$_} for @k[0 .. $w - 1]; $l += $n{$_} for @k[-$w .. -1];
        printf "%.0f %.0f\n", $f / $w, $l / $w;' "$win")
    emit "$tag: rows/s overall" rows/s "$(pgb_tps "$out")"
    emit "$tag: rows/s first ${win}s" rows/s "${r% *}"
    emit "$tag: rows/s last ${win}s" rows/s "${r#* }"
    emit "$tag: rows" rows "$rows"
    emit "$tag: table bytes per row" B "$(calc "$(relsize w5) / $rows" 1)"
    emit "$tag: total bytes per row" B "$(calc "$(totalsize w5) / $rows" 1)"
    emit "$tag: WAL per row" B "$(calc "$wal / $rows" 0)"
}

w5_loop() {
    local r
    w5_create
    r=$(PGOPTIONS="-c synchronous_commit=off" inloop "$BENCH_W5_LOOP" \
        "1 + floor(random() * 9e18)::bigint" "INSERT INTO w5 VALUES (k, (k % 2000000000)::int, md5(k::text) || '01234567')")
    emit "in-server loop time per insert" us "${r% *}"
    emit "in-server loop WAL per insert" B "${r#* }"
}

W5_run() {
    local s
    for s in $BENCH_W5_SYNC; do
        step "sync=$s" w5_one "$s"
    done
    step "in-server loop" w5_loop
    q -c "DROP TABLE IF EXISTS w5" >/dev/null 2>&1
}

# ================================================================== W6
desc_W6() { echo "reads: $BENCH_W6_ROWS-row table (PK) settled; in-server loop of $BENCH_W6_LOOP PK lookups; pgbench point lookups at 1/8 clients and -S (scale $BENCH_W6_SCALE) at 8 clients, ${BENCH_W6_SECONDS}s each; count(*)/sum(v) serial and with 2 workers"; }
est_W6() { echo $(( 2 * (BENCH_W6_ROWS / 150000 + BENCH_W6_SCALE + 2) + REPS * 2 * (BENCH_W6_LOOP / 50000 + 3 * (BENCH_W6_SECONDS + 1) + 6 * BENCH_W6_ROWS / 2000000 + 1) + BENCH_W6_ROWS / 300000 )); }

W6_setup() {
    local csv t0
    csv=$(ensure_csv "$BENCH_W6_ROWS")
    qv "DROP TABLE IF EXISTS w6" >/dev/null
    qv "CREATE TABLE w6 (id bigint PRIMARY KEY, v int, t text) USING $AM" >/dev/null
    check_am w6
    t0=$(now)
    qv "COPY w6 FROM '$csv' (FORMAT csv)" >/dev/null
    emit "setup: COPY time" s "$(since "$t0")"
    settle w6
    [ "$AM" != phantom ] || emit "setup: vblocks moved by compact" n "$SETTLE_MOVED"
    emit "setup: table size settled" MB "$(mb "$(relsize w6)")"
    emit "setup: total size settled" MB "$(mb "$(totalsize w6)")"
    pgbench_init_soft "$BENCH_W6_SCALE"
}

w6_loop() {
    local r
    qv "SELECT sum(v) FROM w6" >/dev/null      # warm the cache
    r=$(inloop "$BENCH_W6_LOOP" "1 + floor(random() * $BENCH_W6_ROWS)::bigint" \
        "PERFORM v FROM w6 WHERE id = k")
    emit "in-server loop time per PK lookup" us "${r% *}"
}

w6_point() {                    # w6_point CLIENTS
    local c=$1 out="$TMPC/w6.out" p50 p99
    printf '%s\n' '\set id random(1, :rows)' 'SELECT v, t FROM w6 WHERE id = :id;' >"$TMPC/w6.sql"
    pgb "$out" -n -M prepared -c "$c" -j "$(( c < 2 ? c : 2 ))" -T "$BENCH_W6_SECONDS" \
        -D rows="$BENCH_W6_ROWS" -f "$TMPC/w6.sql" --log --log-prefix=pgb
    read -r p50 p99 <<<"$(pct 50 99)"
    emit "point lookups c=$c: tps" tps "$(pgb_tps "$out")"
    emit "point lookups c=$c: latency p50" ms "$p50"
    emit "point lookups c=$c: latency p99" ms "$p99"
}

w6_select_only() {
    local out="$TMPC/w6s.out" p99
    pgb "$out" -n -M prepared -S -c 8 -j 2 -T "$BENCH_W6_SECONDS" --log --log-prefix=pgb
    read -r p99 <<<"$(pct 99)"
    emit "pgbench -S c=8: tps" tps "$(pgb_tps "$out")"
    emit "pgbench -S c=8: latency p99" ms "$p99"
}

# w6_agg WORKERS: times count(*) and sum(v) (psql \timing, warm cache).
w6_agg() {
    local w=$1 set expr ms m tag launched
    set="SET max_parallel_workers_per_gather = $w"
    [ "$w" -gt 0 ] && set="$set; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0"
    if [ "$w" = 0 ]; then tag="serial"; else tag="$w workers"; fi
    for expr in "count(*)" "sum(v)"; do
        # one warm-up execution, then 3 timed ones (each one a value)
        q -c "$set" -c "SELECT $expr FROM w6" -c '\timing on' -c "SELECT $expr FROM w6" \
            -c "SELECT $expr FROM w6" -c "SELECT $expr FROM w6" >"$TMPC/agg.out"
        ms=$(sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' "$TMPC/agg.out")
        [ "$(wc -w <<<"$ms")" = 3 ] || { echo "ERROR: no timing for $expr" >&2; return 1; }
        for m in $ms; do
            emit "$expr $tag" ms "$m"
        done
    done
    if [ "$w" -gt 0 ]; then
        launched=$(q -c "$set" -c "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) SELECT count(*) FROM w6" |
            sed -nE 's/.*Workers Launched: ([0-9]+).*/\1/p' | head -n 1)
        emit "workers launched ($tag)" n "${launched:-0}"
    fi
}

W6_run() {
    if grep -qP "^W6\tsetup\t__failed__\t$CUR_SIDE\t" "$RAW"; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$CUR_W" "reads" "__failed__" "$CUR_SIDE" "$CUR_REP" \
            "setup failed" >>"$RAW"
        return 0
    fi
    step "in-server loop" w6_loop
    step "point lookups c=1" w6_point 1
    step "point lookups c=8" w6_point 8
    step "pgbench -S" w6_select_only
    step "aggregates serial" w6_agg 0
    step "aggregates 2 workers" w6_agg 2
}

W6_teardown() {
    q -c "DROP TABLE IF EXISTS w6, pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history"
}
