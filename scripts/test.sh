#!/usr/bin/env bash
#
# test.sh: installs everything phantom needs (scripts/install.sh) and runs
# every test suite, then prints one line "N passed, M failed".
#
#   unit       regress/unit/test_*.c      TAP programs (Raft core, simulator, log)
#   regress    regress/schedule           pg_regress, temporary instance
#   isolation  regress/isolation_schedule isolationtester, temporary instance
#   tap        regress/t/*.pl             PostgreSQL::Test::Cluster (crash, standby, ...)
#
# Servers run as the unprivileged user "postgres" (initdb refuses root), on
# 127.0.0.1, with all data under one temporary directory that is removed at
# the end (kept with PHANTOM_KEEP_TMP=1).  Select suites with
# PHANTOM_SUITES="unit regress isolation tap" (default: all), and TAP files
# with PHANTOM_TAP_FILTER=<regex on the file name> (e.g. '^03[67]_').
# A failed TAP file gets its diagnostics (the test's "#" lines and the
# warnings of its servers' logs) printed again just before the last line,
# because CI shows the tail of a long output.
#
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
suites=${PHANTOM_SUITES:-"unit regress isolation tap"}
pgbin=${PHANTOM_PG_ROOT:-/usr}/lib/postgresql/15/bin
pgxs=${PHANTOM_PG_ROOT:-/usr}/lib/postgresql/15/lib/pgxs
run_user=postgres

bash "$top/scripts/install.sh" || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
failures=()
tap_failed_logs=()

work=$(mktemp -d /tmp/phantom-test.XXXXXX)
cleanup() {
    if [ "${PHANTOM_KEEP_TMP:-0}" = 1 ]; then
        echo "test.sh: kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# The checkout may be unreadable for the test user (CI clones as root), so
# the tests run from a copy owned by it.
mkdir -p "$work/src"
cp -r "$top/regress" "$work/src/regress"
cp -r "$top/expected" "$work/src/expected"
rm -rf "$work/src/regress/expected"
ln -s ../expected "$work/src/regress/expected"
if [ "$(id -u)" -eq 0 ]; then
    chown -R "$run_user" "$work"
    as_user() { runuser -u "$run_user" -- env PATH="$pgbin:$PATH" "$@"; }
else
    as_user() { env PATH="$pgbin:$PATH" "$@"; }
fi

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport, "\n"'
}

record() {                      # record <suite> <passed> <failed> [names...]
    local suite=$1 p=$2 f=$3
    shift 3
    passed=$((passed + p))
    failed=$((failed + f))
    echo "== $suite: $p passed, $f failed"
    for n in "$@"; do failures+=("$suite: $n"); done
}

# count_pg_regress <log>: counts "... ok" and "... FAILED" lines of a
# pg_regress run (PostgreSQL 15 format).
count_pg_regress() {
    local log=$1 p f names
    p=$(grep -cE '\.\.\. ok' "$log")
    f=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$log")
    names=$(grep -E '\.\.\. (FAILED|failed)' "$log" | sed -E 's/^(test|     ) *([^ ]+).*/\2/')
    echo "$p $f $names"
}

run_pg_regress() {              # run_pg_regress <suite> <driver> <schedule>
    local suite=$1 driver=$2 schedule=$3 out="$work/out-$1" res
    [ -f "$work/src/regress/$schedule" ] || { echo "== $suite: no schedule"; return; }
    mkdir -p "$out" && chown "$run_user" "$out" 2>/dev/null
    as_user "$driver" \
        --temp-instance="$out/instance" \
        --temp-config="$work/src/regress/phantom.conf" \
        --inputdir="$work/src/regress" \
        --outputdir="$out" \
        --bindir="$pgbin" \
        --host=127.0.0.1 --port="$(free_port)" \
        --dbname=regression \
        --schedule="$work/src/regress/$schedule" >"$out/driver.log" 2>&1
    cat "$out/driver.log"
    read -r -a res <<<"$(count_pg_regress "$out/driver.log")"
    if [ "${res[0]}" -eq 0 ] && [ "${res[1]}" -eq 0 ]; then
        res=(0 1 "$suite-did-not-run")
    fi
    record "$suite" "${res[@]}"
    [ -f "$out/regression.diffs" ] && cp "$out/regression.diffs" "$work/$suite.diffs" &&
        head -c 20000 "$out/regression.diffs"
}

# run_tap <suite> <prove args...>: runs each TAP file on its own, counts its
# assertions, and counts a file that dies or plans wrongly as one failure.
run_tap() {
    local suite=$1 p=0 f=0 names=() file log op on
    shift
    for file in "$@"; do
        if [ -n "${PHANTOM_TAP_FILTER:-}" ] && [ "$suite" = tap ] &&
            ! [[ $(basename "$file") =~ $PHANTOM_TAP_FILTER ]]; then
            continue
        fi
        log="$work/tap-$(basename "$file").log"
        # PostgreSQL::Test::Utils creates only the last level of TESTDIR/tmp_check
        mkdir -p "$work/tapdata/$(basename "$file")"
        chown "$run_user" "$work/tapdata" "$work/tapdata/$(basename "$file")" 2>/dev/null
        as_user env TESTDIR="$work/tapdata/$(basename "$file")" \
            PERL5LIB="$pgxs/src/test/perl${PERL5LIB:+:$PERL5LIB}" \
            PG_REGRESS="$pgxs/src/test/regress/pg_regress" \
            PHANTOM_SRC="$work/src" \
            prove -v ${PROVE_EXEC+--exec "$PROVE_EXEC"} "$file" >"$log" 2>&1
        local rc=$?
        cat "$log"
        op=$(grep -cE '^ok [0-9]+' "$log")
        on=$(grep -cE '^not ok [0-9]+' "$log")
        if [ $rc -ne 0 ] && [ "$on" -eq 0 ]; then on=1; fi
        p=$((p + op)); f=$((f + on))
        if [ "$on" -gt 0 ]; then
            names+=("$(basename "$file")")
            tap_failed_logs+=("$file")
        fi
    done
    record "$suite" "$p" "$f" "${names[@]}"
}

for suite in $suites; do
    case $suite in
        unit)
            if make -s -C "$top/regress/unit" all >"$work/unit-build.log" 2>&1; then
                mkdir -p "$work/unitbin"
                cp -r "$top/regress/unit/bin/." "$work/unitbin/" 2>/dev/null
                chown -R "$run_user" "$work/unitbin" 2>/dev/null
                shopt -s nullglob
                unitfiles=("$work"/unitbin/test_*)
                shopt -u nullglob
                if [ ${#unitfiles[@]} -gt 0 ]; then
                    PROVE_EXEC='' run_tap unit "${unitfiles[@]}"
                fi
            else
                cat "$work/unit-build.log"
                record unit 0 1 "build"
            fi
            ;;
        regress)
            run_pg_regress regress "$pgxs/src/test/regress/pg_regress" schedule
            ;;
        isolation)
            run_pg_regress isolation "$pgxs/src/test/isolation/pg_isolation_regress" \
                isolation_schedule
            ;;
        tap)
            shopt -s nullglob
            tapfiles=("$work"/src/regress/t/*.pl)
            shopt -u nullglob
            if [ ${#tapfiles[@]} -gt 0 ]; then
                run_tap tap "${tapfiles[@]}"
            fi
            ;;
        *)
            echo "test.sh: unknown suite $suite"
            record "$suite" 0 1 unknown-suite
            ;;
    esac
done

# tap_diagnostics <file>: the "#" and "not ok" lines of a failed TAP file
# and the last warnings and errors of each of its servers.
tap_diagnostics() {
    local file=$1 base srv
    base=$(basename "$file")
    echo "---- diagnostics of $base"
    grep -E '^(not ok|#)' "$work/tap-$base.log" | tail -n 60
    for srv in "$work/tapdata/$base"/tmp_check/log/*.log; do
        [ -f "$srv" ] || continue
        case $srv in */regress_log_*) continue ;; esac
        echo "-- $(basename "$srv"): last warnings"
        grep -E 'WARNING|ERROR|FATAL|PANIC|terminated by signal|LOG:  (raft|phantom)' "$srv" |
            tail -n 25 | cut -c1-300
    done
}

if [ ${#tap_failed_logs[@]} -gt 0 ]; then
    for f in "${tap_failed_logs[@]}"; do tap_diagnostics "$f"; done
fi

if [ ${#failures[@]} -gt 0 ]; then
    echo "Failed:"
    printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
