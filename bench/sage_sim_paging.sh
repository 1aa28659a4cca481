#!/bin/sh
# sage_sim_paging.sh - customers/s that mlc-sage-sim serves when paged with curl.
#
# usage: bench/sage_sim_paging.sh [BUILD_DIR] [CUSTOMERS] [PAGE_SIZE]
#        (defaults: build, 100000, 1000)
#
# Starts mlc-sage-sim with CUSTOMERS generated customers and the given server
# page size, reports its start-up time and resident memory, then pages
# through every customer three ways and prints customers/s for each:
#   1. bench_sage_sim (libcurl, one keep-alive connection) following
#      @odata.nextLink from ARCustomers?$orderby=CustomerNumber;
#   2. bench_sage_sim in keyset mode (CustomerNumber gt '<last>', $top=1000),
#      the way the extractor pages;
#   3. the curl command line, one process fetching every $skip page over
#      one connection (URLs computed up front).
# Full records are fetched every time. The target is >= 20,000 customers/s.
set -eu
BUILD=${1:-build}
N=${2:-100000}
PS=${3:-1000}
SIM="$BUILD/mlc-sage-sim"
BENCH="$BUILD/bench_sage_sim"
for f in "$SIM" "$BENCH"; do
    [ -x "$f" ] || { echo "missing $f: build first (cmake --build $BUILD)" >&2; exit 2; }
done
TMP=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
T0=$(date +%s.%N)
"$SIM" --port 0 --customers "$N" --page-size "$PS" --seed 1 --today 2024-03-18 \
    >"$TMP/out" 2>"$TMP/err" &
PID=$!
while [ ! -s "$TMP/out" ]; do
    kill -0 "$PID" 2>/dev/null || { cat "$TMP/err" >&2; exit 1; }
    sleep 0.02
done
T1=$(date +%s.%N)
BASE=$(head -n1 "$TMP/out")
RSS=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
echo "sim: $N customers, page size $PS, started in $(echo "$T1 - $T0" | bc) s, RSS $((RSS / 1024)) MiB"
URL="${BASE}SAMINC/AR/ARCustomers"

"$BENCH" "$URL?\$orderby=CustomerNumber" WEBAPI WEBAPI
"$BENCH" "$URL" WEBAPI WEBAPI keyset

# curl CLI: every page over one connection, URLs known up front ($skip paging)
PAGES=$(( (N + PS - 1) / PS ))
: >"$TMP/urls"
i=0
while [ $i -lt $PAGES ]; do
    echo "url = \"$URL?\$orderby=CustomerNumber&\$skip=$((i * PS))\"" >>"$TMP/urls"
    echo "output = \"/dev/null\"" >>"$TMP/urls"
    i=$((i + 1))
done
S0=$(date +%s.%N)
curl -sS --fail -u WEBAPI:WEBAPI -H 'Content-Type: application/json' \
    -H 'Accept: application/json' -K "$TMP/urls"
S1=$(date +%s.%N)
SECS=$(echo "$S1 - $S0" | bc)
echo "mode=curl-cli pages=$PAGES customers=$N seconds=$SECS customers_per_s=$(echo "$N / $SECS" | bc)"
