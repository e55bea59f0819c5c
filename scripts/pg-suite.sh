#!/usr/bin/env bash
#
# pg-suite.sh: runs PostgreSQL 15's own regression suite (src/test/regress,
# parallel_schedule), isolation suite (src/test/isolation,
# isolation_schedule) and the regression suites of the contrib modules
# that read table storage (contrib) twice each, on a temporary instance with phantom
# preloaded: first with default_table_access_method = heap (the baseline),
# then with default_table_access_method = phantom, whose outputs are compared
# with the baseline's.  Every test whose output differs is listed; the last
# line is a summary.  Exit status 0 when nothing differs.
#
#   scripts/pg-suite.sh                       both suites
#   scripts/pg-suite.sh --suite regress       one suite (regress|isolation)
#   scripts/pg-suite.sh --suite regress --tests "test_setup create_index"
#                                             only these tests (the regress
#                                             suite needs test_setup first)
#
# Options:
#   --suite S        regress, isolation, contrib, or several
#                    ("regress isolation contrib" is the default)
#   --tests "T..."   run these tests instead of the schedule (regress,
#                    isolation)
#   --modules "M..." contrib modules to run (default: amcheck pageinspect
#                    pg_visibility pgstattuple pg_surgery tsm_system_rows
#                    tsm_system_time file_fdw postgres_fdw bloom
#                    pg_freespacemap phantom; "phantom" is
#                    regress/pgsuite-contrib, our own test); each module's
#                    REGRESS (and ISOLATION) tests from its Makefile
#   --no-install     do not run scripts/install.sh first
#   --keep           keep the temporary directory (outputs, diffs, logs)
#   --set 'NAME = V' add a setting to both instances (repeatable), e.g.
#                    --set 'phantom.compaction_naptime = 1'
#                    --set 'phantom.compaction_min_pages = 1' (cold tier busy)
#   --am NAME        access method of the second run (default phantom);
#                    --am heap compares heap with heap, which shows the
#                    suites' own flakiness on this machine
#
# The PostgreSQL sources come from Debian's source package postgresql-15
# (the installed version if the mirror has it, else the newest one it has;
# the tests are compared heap against phantom, so a minor-version mismatch
# with the server does not matter).  They are unpacked once into
# $PHANTOM_PG_SRC (default /var/tmp/phantom-pg15-src); a deb-src entry is
# added to /etc/apt/sources.list.d/ when apt has none.  The suite's C module
# regress.so is built with PGXS; refint.so and autoinc.so (contrib/spi) come
# from the server's library directory.
#
# Both runs load the extension (CREATE EXTENSION phantom in template1 and
# pg_regress --load-extension), so extension objects appear identically in
# the baseline and in the phantom run.  Servers run as user postgres on free
# 127.0.0.1 ports, under one temporary directory removed at the end.  The
# phantom server's log is scanned for crashes (PANIC, "terminated by
# signal"), which are reported separately.
#
# Not part of scripts/test.sh: a full run takes several minutes.  The
# classification of the remaining differences is in docs/testing.md.
#
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pgroot=${PHANTOM_PG_ROOT:-/usr}
pgbin=$pgroot/lib/postgresql/15/bin
pgxs=$pgroot/lib/postgresql/15/lib/pgxs
pg_config=$pgbin/pg_config
[ -x "$pg_config" ] || pg_config=$(command -v pg_config)
srcroot=${PHANTOM_PG_SRC:-/var/tmp/phantom-pg15-src}
run_user=postgres

suites="regress isolation contrib"
tests=""
# contrib modules whose suites touch table storage (contrib suite); "phantom"
# is regress/pgsuite-contrib, tests of our own for the modules that have none
# in PostgreSQL 15 (pg_prewarm, pgrowlocks, pg_buffercache) and for the
# heap-only functions on compacted tables
modules="amcheck pageinspect pg_visibility pgstattuple pg_surgery tsm_system_rows tsm_system_time file_fdw postgres_fdw bloom pg_freespacemap phantom"
am2=phantom
install=1
keep=0
extra_conf=()
while [ $# -gt 0 ]; do
    case $1 in
        --suite) suites=$2; shift ;;
        --tests) tests=$2; shift ;;
        --modules) modules=$2; shift ;;
        --no-install) install=0 ;;
        --keep) keep=1 ;;
        --set) extra_conf+=("$2"); shift ;;
        --am) am2=$2; shift ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "pg-suite.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ $install = 1 ]; then
    bash "$top/scripts/install.sh" || exit 1
fi

# fetch_sources: unpacks Debian's postgresql-15 source package into $srcroot.
fetch_sources() {
    local have_src versions v dir
    have_src=$(grep -rls '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null)
    if [ -z "$have_src" ]; then
        echo "pg-suite.sh: adding deb-src entries (/etc/apt/sources.list.d/phantom-deb-src.sources)"
        sed -E 's/^Types: *deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
            as_root tee /etc/apt/sources.list.d/phantom-deb-src.sources >/dev/null
        as_root apt-get update -qq || return 1
    fi
    if ! apt-cache showsrc postgresql-15 >/dev/null 2>&1 ||
        [ -z "$(apt-cache showsrc postgresql-15 2>/dev/null)" ]; then
        as_root apt-get update -qq || return 1
    fi
    # the installed version first, then the others the mirror lists, newest first
    versions="$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null)
$(apt-cache showsrc postgresql-15 | sed -n 's/^Version: //p' | sort -rVu)"
    mkdir -p "$srcroot"
    for v in $(echo "$versions" | awk 'NF && !seen[$0]++'); do
        echo "pg-suite.sh: apt-get source postgresql-15=$v"
        if (cd "$srcroot" && apt-get source -qq "postgresql-15=$v" >/dev/null 2>&1); then
            dir=$(find "$srcroot" -maxdepth 1 -type d -name 'postgresql-15-*' | sort -V | tail -1)
            if [ -f "$dir/src/test/regress/parallel_schedule" ]; then
                ln -sfn "$dir" "$srcroot/current"
                echo "$v" >"$srcroot/current.version"
                return 0
            fi
        fi
    done
    echo "pg-suite.sh: could not fetch the postgresql-15 source package" >&2
    return 1
}

[ -f "$srcroot/current/src/test/regress/parallel_schedule" ] || fetch_sources || exit 1
pgsrc=$srcroot/current
echo "pg-suite.sh: tests of PostgreSQL $(cat "$srcroot/current.version" 2>/dev/null)," \
    "server $("$pg_config" --version)"

work=$(mktemp -d /tmp/phantom-pgsuite.XXXXXX)
pids=()
cleanup() {
    local d
    for d in "$work"/*/data; do
        [ -f "$d/postmaster.pid" ] && as_user pg_ctl -D "$d" -m immediate stop >/dev/null 2>&1
    done
    if [ $keep = 1 ]; then
        echo "pg-suite.sh: kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
chmod 755 "$work"

if [ "$(id -u)" -eq 0 ]; then
    as_user() { runuser -u "$run_user" -- env PATH="$pgbin:$PATH" "$@"; }
else
    as_user() { env PATH="$pgbin:$PATH" "$@"; }
fi

free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport, "\n"'
}

# The suites' C modules: regress.so built with PGXS, refint.so and
# autoinc.so from the server (postgresql-contrib) or built from contrib/spi.
mkdir -p "$work/lib"
cp "$pgsrc/src/test/regress/regress.c" "$work/lib/"
printf 'MODULES = regress\nPG_CPPFLAGS = -I%s\nPGXS := $(shell $(PG_CONFIG) --pgxs)\ninclude $(PGXS)\n' \
    "$pgsrc/src/test/regress" >"$work/lib/Makefile"
make -s -C "$work/lib" PG_CONFIG="$pg_config" >"$work/lib/build.log" 2>&1 ||
    { cat "$work/lib/build.log"; echo "pg-suite.sh: building regress.so failed"; exit 1; }
pkglib=$("$pg_config" --pkglibdir)
for m in refint autoinc; do
    if [ -f "$pkglib/$m.so" ]; then
        cp "$pkglib/$m.so" "$work/lib/"
    else
        cp "$pgsrc/contrib/spi/$m.c" "$work/lib/"
        make -s -C "$work/lib" MODULES="$m" PG_CONFIG="$pg_config" >>"$work/lib/build.log" 2>&1 ||
            { cat "$work/lib/build.log"; exit 1; }
    fi
done

# start_instance <dir> <am> [setting...]: initdb, configure, start; prints
# the port.
start_instance() {
    local dir=$1 am=$2 port c
    port=$(free_port)
    mkdir -p "$dir/sock"
    chown -R "$run_user" "$dir"
    as_user initdb -D "$dir/data" --no-locale -E UTF8 -A trust >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; return 1; }
    {
        echo "shared_preload_libraries = 'phantom'"
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir/sock'"
        echo "max_prepared_transactions = 10"
        echo "max_connections = 100"
        echo "max_worker_processes = 16"
        echo "max_parallel_workers = 8"
        echo "fsync = off"
        echo "log_line_prefix = '%m [%p] %d '"
        echo "log_autovacuum_min_duration = -1"
        echo "default_table_access_method = $am"
        for c in "${@:3}" "${extra_conf[@]}"; do echo "$c"; done
    } >>"$dir/data/postgresql.conf"
    # PGHOST: libpq connections the server makes itself (postgres_fdw's
    # loopback servers) reach it over TCP
    as_user env PGHOST=127.0.0.1 pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 120 start >/dev/null ||
        { tail -20 "$dir/server.log" >&2; return 1; }
    as_user psql -X -q -h 127.0.0.1 -p "$port" -d template1 \
        -c "CREATE EXTENSION phantom" >/dev/null || return 1
    echo "$port"
}

# check_crashes <server.log>: prints and counts crash lines.
check_crashes() {
    local n
    n=$(grep -cE 'PANIC|terminated by signal|server process .* was terminated|TRAP:' "$1")
    if [ "$n" -gt 0 ]; then
        echo "!! $n crash lines in $(basename "$(dirname "$1")")/server.log:"
        grep -E 'PANIC|terminated by signal|server process .* was terminated|TRAP:' "$1" | head -20
    fi
    return "$n"
}

# contrib_makevar <Makefile> <VAR>: the value of a (possibly continued)
# variable of a contrib Makefile.
contrib_makevar() {
    sed -n -e ':a' -e '/\\$/{N;ba' -e '}' -e "s/^$2 *= *//p" "$1" | tr -d '\\\n' | tr -s ' \t' ' '
}

# run_contrib <run dir> <port>: the regression (and isolation) tests of each
# module in $modules, results in <run>/out/<module>[-isolation]/; status
# lines "module/test ok|FAILED" in <run>/status.  The phantom run's expected
# output of each module is the heap run's results.
run_contrib() {
    local run=$1 port=$2 m msrc mk reg iso isoopts out exp kind t
    : >"$run/status"
    for m in $modules; do
        if [ "$m" = phantom ]; then
            msrc=$top/regress/pgsuite-contrib
            mk=$msrc/Makefile
        else
            msrc=$pgsrc/contrib/$m
            mk=$msrc/Makefile
        fi
        [ -f "$mk" ] || { echo "   $m: no such contrib module"; continue; }
        reg=$(contrib_makevar "$mk" REGRESS)
        iso=$(contrib_makevar "$mk" ISOLATION)
        isoopts=$(contrib_makevar "$mk" ISOLATION_OPTS | sed 's/--temp-config *[^ ]*//')
        for kind in regress isolation; do
            if [ $kind = regress ]; then
                [ -n "$reg" ] || continue
                out=$m
            else
                [ -n "$iso" ] || continue
                out=$m-isolation
            fi
            mkdir -p "$run/src/$out" "$run/out/$out"
            cp -r "$msrc"/. "$run/src/$out/"
            if [ "$run" != "$work/contrib-heap" ]; then
                rm -rf "$run/src/$out/expected" "$run/src/$out/output"
                exp=$work/contrib-heap/out/$out/results
                [ -d "$exp" ] && cp -r "$exp" "$run/src/$out/expected"
            fi
            chown -R "$run_user" "$run/src/$out" "$run/out/$out"
            if [ $kind = regress ]; then
                as_user "$pgxs/src/test/regress/pg_regress" \
                    --load-extension=phantom --dbname=contrib_regression \
                    --inputdir="$run/src/$out" --outputdir="$run/out/$out" \
                    --bindir="$pgbin" --host=127.0.0.1 --port="$port" \
                    $reg >"$run/out/$out/driver.log" 2>&1
            else
                as_user "$pgxs/src/test/isolation/pg_isolation_regress" \
                    --load-extension=phantom $isoopts --dbname=isolation_regression \
                    --inputdir="$run/src/$out" --outputdir="$run/out/$out" \
                    --bindir="$pgbin" --host=127.0.0.1 --port="$port" \
                    $iso >"$run/out/$out/driver.log" 2>&1
            fi
            grep -E '^(test | +)[^ ]+ +\.\.\. ' "$run/out/$out/driver.log" |
                sed -E 's/^(test )? +//; s/^test //' |
                awk -v m="$out" '{print m "/" $1, $3}' >>"$run/status"
        done
    done
}

total_diff=0
total_tests=0
total_crash=0
summary=()
for suite in $suites; do
    case $suite in
        regress)
            driver=$pgxs/src/test/regress/pg_regress
            sdir=$pgsrc/src/test/regress
            schedule=parallel_schedule
            opts=(--dlpath="$work/lib" --max-concurrent-tests=20 --dbname=regression)
            ;;
        isolation)
            driver=$pgxs/src/test/isolation/pg_isolation_regress
            sdir=$pgsrc/src/test/isolation
            schedule=isolation_schedule
            opts=(--dbname=isolation_regression)
            ;;
        contrib)
            opts=(--dbname=contrib_regression)
            ;;
        *) echo "pg-suite.sh: unknown suite $suite"; exit 2 ;;
    esac
    for run_name in heap "$am2"; do
        if [ "$run_name" = heap ] && [ ! -d "$work/$suite-heap" ]; then
            am=heap; run=$work/$suite-heap
        else
            am=$run_name; run=$work/$suite-$am-2
        fi
        mkdir -p "$run/out"
        if [ $suite = contrib ]; then
            mkdir -p "$run/src"
            chown -R "$run_user" "$run"
            # autovacuum off: pg_freespacemap's and the visibility tests'
            # results depend on it (their own configuration); logical WAL
            # for test_decoding (--modules test_decoding)
            port=$(start_instance "$run" "$am" "autovacuum = off" "wal_level = logical" \
                "max_replication_slots = 4" "max_wal_senders = 4") ||
                { echo "pg-suite.sh: $suite-$am: no server"; exit 1; }
            echo "== $suite ($modules), default_table_access_method = $am (port $port)"
            run_contrib "$run" "$port"
        else
            # a private copy of the test sources; the phantom run's expected/
            # holds only the heap run's results
            cp -r "$sdir" "$run/src"
            if [ "$run" != "$work/$suite-heap" ]; then
                rm -rf "$run/src/expected"
                cp -r "$work/$suite-heap/out/results" "$run/src/expected"
                rm -f "$run/src/resultmap"
            fi
            chown -R "$run_user" "$run"
            port=$(start_instance "$run" "$am") || { echo "pg-suite.sh: $suite-$am: no server"; exit 1; }
            if [ -n "$tests" ]; then
                what=($tests)
            else
                what=(--schedule="$run/src/$schedule")
            fi
            echo "== $suite, default_table_access_method = $am (port $port)"
            as_user "$driver" "${opts[@]}" \
                --load-extension=phantom \
                --inputdir="$run/src" \
                --outputdir="$run/out" \
                --bindir="$pgbin" \
                --host=127.0.0.1 --port="$port" \
                "${what[@]}" >"$run/driver.log" 2>&1
            # "test NAME ... ok", "     NAME ... FAILED" (parallel group member)
            grep -E '^(test | +)[^ ]+ +\.\.\. ' "$run/driver.log" | sed -E 's/^(test )? +//; s/^test //' |
                awk '{print $1, $3}' >"$run/status"
        fi
        if [ "$am" = phantom ]; then
            # how much of what the tests left behind is on the cold tier
            as_user psql -X -q -At -F ' ' -h 127.0.0.1 -p "$port" -d "${opts[-1]#--dbname=}" -c \
                "SELECT 'phantom tables left: ' || count(*) || ', vblocks ' || coalesce(sum(vblocks), 0)
                        || ', cold ' || coalesce(sum(cold_vblocks), 0)
                        || ' (largest cold: ' || coalesce(string_agg(name || ' ' || cold_vblocks, ', '
                           ORDER BY cold_vblocks DESC) FILTER (WHERE cold_vblocks > 0), '-') || ')'
                 FROM phantom.stat_tables" 2>&1 | cut -c1-300 | sed 's/^/   /'
        fi
        as_user pg_ctl -D "$run/data" -m fast -w stop >/dev/null 2>&1
        check_crashes "$run/server.log"
        crashes=$?
        if [ "$run" = "$work/$suite-heap" ]; then
            # the baseline itself: tests that do not match upstream's expected
            # output (minor-version differences, environment) are fine, as long
            # as they produced output
            n=$(wc -l <"$run/status")
            echo "   baseline: $n tests, $(grep -c ' FAILED\| failed' "$run/status") differ from upstream's expected output"
        else
            n=$(wc -l <"$run/status")
            differing=$(grep -E ' (FAILED|failed)$' "$run/status" | awk '{print $1}')
            nd=$(echo -n "$differing" | grep -c .)
            echo "   $am: $n tests, $nd differ from heap"
            : >"/tmp/phantom-pgsuite-$suite.diffs"
            for t in $differing; do
                if [ $suite = contrib ]; then
                    a=$work/contrib-heap/out/${t%%/*}/results/${t#*/}.out
                    b=$run/out/${t%%/*}/results/${t#*/}.out
                    cat "$run/out/${t%%/*}/regression.diffs" >>"/tmp/phantom-pgsuite-$suite.diffs" 2>/dev/null
                else
                    a=$work/$suite-heap/out/results/$t.out
                    b=$run/out/results/$t.out
                fi
                lines=$(diff "$a" "$b" 2>/dev/null | grep -c '^[<>]')
                echo "   DIFF $suite/$t ($lines lines)"
            done
            [ $suite != contrib ] && [ -f "$run/out/regression.diffs" ] &&
                cp "$run/out/regression.diffs" "/tmp/phantom-pgsuite-$suite.diffs"
            [ -s "/tmp/phantom-pgsuite-$suite.diffs" ] && chmod 644 "/tmp/phantom-pgsuite-$suite.diffs" &&
                echo "   diffs: /tmp/phantom-pgsuite-$suite.diffs"
            total_diff=$((total_diff + nd))
            total_tests=$((total_tests + n))
            summary+=("$suite: $n tests, $nd differ")
        fi
        total_crash=$((total_crash + crashes))
    done
done

echo "pg-suite.sh: ${summary[*]}; crash lines in server logs: $total_crash"
echo "$total_tests tests, $((total_tests - total_diff)) identical to heap, $total_diff differ"
[ $total_diff -eq 0 ] && [ $total_crash -eq 0 ]
