#!/bin/sh
# profile_extractor.sh - where the extractor's CPU goes in a full scan (perf, software clock).
#
# usage: bench/profile_extractor.sh [BUILD_DIR] [CUSTOMERS] [OUT_DIR]
#        (defaults: build, 100000, a temporary directory)
#
# Starts mlc-sage-sim (CUSTOMERS, page size 1000) and `mlc devbroker`, then
# records `mlc-extractor once --full` (a first load, fresh state file) and a
# second `once --full` on the same file (every customer unchanged) with
# `perf record -e cpu-clock --call-graph dwarf` (this machine's virtual CPUs
# expose no hardware counters: `perf stat -e instructions true` says
# <not supported>; the software clock samples at -F 999 Hz). Prints the top
# symbols by self time and by inclusive time for each run, all threads.
# CALLGRAPH=flat records no call graphs (self time only: for a million
# customers, where dwarf stacks would take gigabytes).
set -eu
case "${CALLGRAPH:-dwarf}" in
flat) CG= ;;
*) CG="--call-graph dwarf,16384" ;;
esac
BUILD=${1:-build}
N=${2:-100000}
OUT=${3:-}
TMP=$(mktemp -d)
[ -n "$OUT" ] || OUT=$TMP
mkdir -p "$OUT"
SIM_PID= BROKER_PID=
cleanup() {
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
    [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
first_line() { # file pid
    while [ ! -s "$1" ]; do
        kill -0 "$2" 2>/dev/null || { echo "server exited" >&2; exit 1; }
        sleep 0.05
    done
    head -n1 "$1"
}
"$BUILD/mlc-sage-sim" --port 0 --customers "$N" --page-size 1000 >"$TMP/sim.out" 2>"$TMP/sim.err" &
SIM_PID=$!
"$BUILD/mlc" devbroker --partitions 3 >"$TMP/broker.out" 2>"$TMP/broker.err" &
BROKER_PID=$!
export MLC_SAGE_URL="$(first_line "$TMP/sim.out" $SIM_PID)"
export MLC_KAFKA_BROKERS="$(first_line "$TMP/broker.out" $BROKER_PID)"
export MLC_SAGE_COMPANIES=SAMINC MLC_SAGE_USER=WEBAPI MLC_SAGE_PASSWORD=WEBAPI
export MLC_SAGE_PAGE_SIZE=1000 MLC_STATE_DB="$TMP/ext.db" MLC_TOPIC=profile
for run in first repeat; do
    # shellcheck disable=SC2086
    perf record -q -F 999 -e cpu-clock $CG -o "$OUT/perf-$run.data" -- \
        "$BUILD/mlc-extractor" once --full 2>"$TMP/ext-$run.err" || {
        tail -5 "$TMP/ext-$run.err" >&2
        exit 1
    }
    grep ' cycle .* ok in ' "$TMP/ext-$run.err" | sed 's/.*mlc-extractor: /extractor: /'
    echo "== $run: self time, top 25 (all threads)"
    perf report -i "$OUT/perf-$run.data" --stdio --no-children --sort symbol -q 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -25
    echo "== $run: inclusive time, top 40"
    perf report -i "$OUT/perf-$run.data" --stdio --children --sort symbol -q -g none 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -40
    echo "== $run: by thread"
    perf report -i "$OUT/perf-$run.data" --stdio --no-children --sort comm -q -g none 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -8
done
