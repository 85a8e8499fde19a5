#!/usr/bin/env bash
# Instructions per request of nutcracker-rs, RESP2 against RESP3 clients,
# counted by valgrind's callgrind: exact and independent of the machine's
# load, where `make bench`'s CPU times are noisy.
#
# Starts one redis-server and BIN (default target/release/nutcracker)
# under callgrind with a one-server redis pool; for each scenario (GET and
# SET, unpipelined and -P 32) it runs redis-benchmark once unmeasured, then
# zeroes the counters (callgrind_control -z), runs N requests, dumps them
# (callgrind_control -d) and prints instructions per request for RESP2
# clients and for RESP3 clients (redis-benchmark -3), and the ratio.
#
# Usage: contrib/bench/callgrind.sh [BIN]; N (default 100000) requests per
# run, CLIENTS (default 20) connections, SCEN (default "get-1 set-1 get-32
# set-32": command-pipeline; mget-K is an MGET of K present keys, as
# bench.sh's redis-mget1000-c50, its last column Ir per key), SERVERS
# (default 1) redis servers in the pool (fnv1a_64, ketama), RESPS=2 for
# RESP2 only (a binary without HELLO), KEEP=1 keeps the dumps. bench.sh's
# MGET case: SERVERS=4 SCEN=mget-1000 RESPS=2 N=200 CLIENTS=10. With CLIENTS=1 and unpipelined scenarios
# every request takes the same path (no batching that depends on timing),
# so counts are comparable between two binaries to a few instructions. Needs valgrind, redis-server, redis-benchmark, redis-cli. Everything
# it starts is stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=$(realpath "${1:-target/release/nutcracker}")
N=${N:-100000}
RESPS=${RESPS:-2 3} # RESPS=2: RESP2 only (a binary without HELLO)
CLIENTS=${CLIENTS:-20}
SCEN=${SCEN:-get-1 set-1 get-32 set-32}
dir=$(mktemp -d "${TMPDIR:-/tmp}/nutcracker-callgrind.XXXXXX")
KEEP=${KEEP:-}
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ -n "$KEEP" ] || rm -rf "$dir"
}
trap cleanup EXIT

port() { # a free loopback port above 20000
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() {
    local i
    for ((i = 0; i < 1200; i++)); do # valgrind starts slowly on a busy machine
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "callgrind: gave up waiting for: $*" >&2
    exit 1
}

SERVERS=${SERVERS:-1}
rports=()
for ((i = 0; i < SERVERS; i++)); do
    rp=$(port)
    redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --dir "$dir" \
        --dbfilename "dump$i.rdb" >"$dir/redis$i.log" 2>&1 &
    pids+=($!)
    rports+=("$rp")
    wait_for redis-cli -p "$rp" ping
done
lp=$(port)
cat >"$dir/nc.yml" <<EOF
bench:
  listen: 127.0.0.1:$lp
  redis: true
  hash: fnv1a_64
  distribution: ketama
  preconnect: true
  server_connections: 1
  servers:
EOF
for ((i = 0; i < SERVERS; i++)); do echo "   - 127.0.0.1:${rports[i]}:1 redis$i" >>"$dir/nc.yml"; done
# mget_keys K: the keys of scenario mget-K, present on every server
mget_keys() {
    local k key mset=(MSET)
    keys=()
    for ((k = 0; k < $1; k++)); do
        printf -v key 'mget:%04d' "$k"
        keys+=("$key")
        mset+=("$key" "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvv$((k % 10))$((k % 7))")
    done
    for rp in "${rports[@]}"; do redis-cli -p "$rp" "${mset[@]}" >/dev/null; done
}
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" "$BIN" -c "$dir/nc.yml" -o "$dir/nc.log" -a 127.0.0.1 -s "$(port)" \
    >"$dir/valgrind.log" 2>&1 &
vpid=$!
pids+=($vpid)
wait_for redis-cli -p "$lp" get warmup

# dump_ir: appends to `ir` the instructions counted since the last
# zeroing, from a fresh dump (dumps are numbered from 1)
ndump=0
dump_ir() {
    ndump=$((ndump + 1))
    callgrind_control -d "$vpid" >/dev/null
    wait_for grep -q '^totals:' "$dir/cg.$vpid.$ndump"
    ir+=("$(awk '/^summary:/ { print $2 }' "$dir/cg.$vpid.$ndump")")
}

load() { # load TEST PIPELINE [-3]
    if [ "$1" = mget ]; then
        redis-benchmark -h 127.0.0.1 -p "$lp" -c "$CLIENTS" -n "$N" "${@:3}" -q MGET "${keys[@]}" >/dev/null
        return
    fi
    redis-benchmark -h 127.0.0.1 -p "$lp" -c "$CLIENTS" -n "$N" -P "$2" -r 100000 -d 32 -t "$1" "${@:3}" -q >/dev/null
}

printf '%-14s %12s %12s %7s\n' scenario "resp2 Ir/req" "resp3 Ir/req" ratio
for scen in $SCEN; do
    t=${scen%-*} p=${scen#*-}
    if [ "$t" = mget ]; then mget_keys "$p"; fi
    declare -a ir=()
    for resp in $RESPS; do
        flag=()
        if [ "$resp" = 3 ]; then flag=(-3); fi
        load "$t" "$p" "${flag[@]}" >/dev/null # warm-up: connections, buffers
        callgrind_control -z "$vpid" >/dev/null
        load "$t" "$p" "${flag[@]}"
        dump_ir
    done
    awk -v s="$scen" -v a="${ir[0]}" -v b="${ir[1]:-0}" -v n="$N" -v t="$t" -v k="$p" 'BEGIN {
        printf "%-14s %12.0f %12.0f %6.3fx", s, a / n, b / n, b / a
        if (t == "mget") printf "  %.1f resp2 Ir/key", a / n / k
        printf "\n" }'
done
