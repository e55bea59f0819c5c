#!/usr/bin/env bash
#
# regress-baseline.sh: runs phantom's pg_regress and isolation schedules
# against a temporary instance with a chosen default_table_access_method.
#
#   scripts/regress-baseline.sh                 heap baseline: run everything
#                                               (real + .pending schedules) on
#                                               heap and WRITE the outputs
#                                               into expected/
#   scripts/regress-baseline.sh --check         run everything on phantom and
#                                               compare with expected/ (writes
#                                               nothing; diffs are printed)
#   scripts/regress-baseline.sh [--check] dml   only these tests (extension
#                                               and setup always run first)
#
# Options:
#   --am NAME        access method of the run (heap by default, phantom with
#                    --check).  Only a heap run writes expected/.
#   --check          same as --am phantom
#   --suite S        regress or isolation (default: both)
#   --no-pending     ignore regress/schedule.pending and
#                    regress/isolation_schedule.pending
#   --no-install     do not run scripts/install.sh first
#   --keep           keep the temporary directory
#   --set 'NAME = V' add a setting to the instance's configuration
#                    (repeatable), e.g. --check --set 'phantom.compaction_naptime = 1'
#                    runs everything while background compaction is busy
#
# The tests are AM-agnostic: they create tables without USING, so the AM
# comes from default_table_access_method.  The heap outputs are therefore
# the expected outputs by definition; any difference on phantom is a bug in
# phantom.  Tests named phantom_* test phantom's own API: their expected
# output is written by hand and a heap run neither runs nor overwrites them.
#
# Servers run as user postgres on a free 127.0.0.1 port, in a temporary
# directory removed at the end.
#
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pgbin=${PHANTOM_PG_ROOT:-/usr}/lib/postgresql/15/bin
pgxs=${PHANTOM_PG_ROOT:-/usr}/lib/postgresql/15/lib/pgxs
run_user=postgres

am=heap
suites="regress isolation"
pending=1
install=1
keep=0
only=()
extra_conf=()
while [ $# -gt 0 ]; do
    case $1 in
        --am) am=$2; shift ;;
        --check) am=phantom ;;
        --suite) suites=$2; shift ;;
        --no-pending) pending=0 ;;
        --no-install) install=0 ;;
        --keep) keep=1 ;;
        --set) extra_conf+=("$2"); shift ;;
        -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
        -*) echo "regress-baseline.sh: unknown option $1" >&2; exit 2 ;;
        *) only+=("$1") ;;
    esac
    shift
done

if [ "$install" = 1 ]; then
    bash "$top/scripts/install.sh" || exit 1
fi

work=$(mktemp -d /tmp/phantom-baseline.XXXXXX)
cleanup() {
    if [ "$keep" = 1 ]; then echo "regress-baseline.sh: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

mkdir -p "$work/src"
cp -r "$top/regress" "$work/src/regress"
cp -r "$top/expected" "$work/src/expected"
rm -rf "$work/src/regress/expected"
ln -s ../expected "$work/src/regress/expected"
# the same configuration as the phantom runs, with the AM swapped
sed -E "s/^default_table_access_method *=.*/default_table_access_method = $am/" \
    "$top/regress/phantom.conf" >"$work/src/regress/baseline.conf"
for c in "${extra_conf[@]}"; do echo "$c" >>"$work/src/regress/baseline.conf"; done
grep -q "^default_table_access_method = $am" "$work/src/regress/baseline.conf" || {
    echo "regress-baseline.sh: regress/phantom.conf has no default_table_access_method line" >&2
    exit 1
}
if [ "$(id -u)" -eq 0 ]; then
    chown -R "$run_user" "$work"
    as_user() { runuser -u "$run_user" -- env PATH="$pgbin:$PATH" "$@"; }
else
    as_user() { env PATH="$pgbin:$PATH" "$@"; }
fi

free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport, "\n"'
}

# make_schedule <schedule> <first tests...>: prints the schedule to run:
# the real schedule and its .pending companion (or only the tests asked
# for, after the first tests), without phantom_* tests on a non-phantom AM.
make_schedule() {
    local base=$1 files=() t
    shift
    if [ ${#only[@]} -gt 0 ]; then
        for t in "$@"; do echo "test: $t"; done
        for t in "${only[@]}"; do
            case " $* " in *" $t "*) continue ;; esac
            [ -f "$work/src/regress/sql/$t.sql" ] || [ -f "$work/src/regress/specs/$t.spec" ] ||
                continue
            echo "test: $t"
        done
    else
        files=("$work/src/regress/$base")
        [ "$pending" = 1 ] && [ -f "$work/src/regress/$base.pending" ] &&
            files+=("$work/src/regress/$base.pending")
        cat "${files[@]}" | grep -E '^test:'
    fi | if [ "$am" = phantom ]; then cat; else
        sed -E 's/ phantom_[A-Za-z0-9_-]+//g' | grep -vE '^test: *$'
    fi
}

status=0
rm -f /tmp/phantom-baseline-regress.diffs /tmp/phantom-baseline-isolation.diffs 2>/dev/null
for suite in $suites; do
    case $suite in
        regress) driver="$pgxs/src/test/regress/pg_regress"; base=schedule; first=(extension setup) ;;
        isolation) driver="$pgxs/src/test/isolation/pg_isolation_regress"; base=isolation_schedule; first=(iso-setup) ;;
        *) echo "regress-baseline.sh: unknown suite $suite" >&2; exit 2 ;;
    esac
    [ -f "$work/src/regress/$base" ] || continue
    out="$work/out-$suite"
    mkdir -p "$out"
    make_schedule "$base" "${first[@]}" >"$work/$suite.schedule"
    # a suite with nothing but its setup tests has nothing to compare
    [ "$(grep -c . "$work/$suite.schedule")" -gt "${#first[@]}" ] || [ ${#only[@]} -eq 0 ] ||
        { echo "== $suite: none of the tests asked for"; continue; }
    # pg_regress gives up when diff cannot open an expected file: new tests
    # get an empty one in the work copy
    for t in $(sed 's/^test://' "$work/$suite.schedule"); do
        [ -f "$work/src/expected/$t.out" ] || : >"$work/src/expected/$t.out"
    done
    chown -R "$run_user" "$work" 2>/dev/null
    echo "== $suite on $am: $(sed 's/^test: //' "$work/$suite.schedule" | tr '\n' ' ')"
    as_user "$driver" \
        --temp-instance="$out/instance" \
        --temp-config="$work/src/regress/baseline.conf" \
        --inputdir="$work/src/regress" \
        --outputdir="$out" \
        --bindir="$pgbin" \
        --host=127.0.0.1 --port="$(free_port)" \
        --dbname=regression \
        --schedule="$work/$suite.schedule" >"$out/driver.log" 2>&1
    rc=$?
    grep -E '^(test| ) |^ok|^not ok|^parallel group|tests? (passed|failed)' "$out/driver.log" ||
        cat "$out/driver.log"
    if [ "$am" = heap ]; then
        n=0
        for f in "$out"/results/*.out; do
            [ -f "$f" ] || continue
            name=$(basename "$f" .out)
            case $name in phantom_*) continue ;; esac
            if ! cmp -s "$f" "$top/expected/$name.out"; then
                cp "$f" "$top/expected/$name.out"
                echo "   wrote expected/$name.out"
                n=$((n + 1))
            fi
        done
        echo "== $suite: $n expected file(s) written from the heap run"
    else
        if [ -f "$out/regression.diffs" ]; then
            cp "$out/regression.diffs" "/tmp/phantom-baseline-$suite.diffs"
            chmod a+r "/tmp/phantom-baseline-$suite.diffs"
            head -c "${PHANTOM_DIFF_BYTES:-30000}" "$out/regression.diffs"
            echo "== $suite: differences from the heap baseline above" \
                 "(all in /tmp/phantom-baseline-$suite.diffs)"
            status=1
        elif [ $rc -ne 0 ]; then
            status=1
        fi
    fi
done
exit $status
