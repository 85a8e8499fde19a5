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
# set-32": command-pipeline), RESPS=2 for RESP2 only (a binary without
# HELLO), KEEP=1 keeps the dumps. With CLIENTS=1 and unpipelined scenarios
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

rp=$(port)
redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --dir "$dir" >"$dir/redis.log" 2>&1 &
pids+=($!)
wait_for redis-cli -p "$rp" ping
lp=$(port)
cat >"$dir/nc.yml" <<EOF
bench:
  listen: 127.0.0.1:$lp
  redis: true
  preconnect: true
  server_connections: 1
  servers:
   - 127.0.0.1:$rp:1 redis0
EOF
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
    redis-benchmark -h 127.0.0.1 -p "$lp" -c "$CLIENTS" -n "$N" -P "$2" -r 100000 -d 32 -t "$1" "${@:3}" -q >/dev/null
}

printf '%-14s %12s %12s %7s\n' scenario "resp2 Ir/req" "resp3 Ir/req" ratio
for scen in $SCEN; do
    t=${scen%-*} p=${scen#*-}
    declare -a ir=()
    for resp in $RESPS; do
        flag=()
        if [ "$resp" = 3 ]; then flag=(-3); fi
        load "$t" "$p" "${flag[@]}" >/dev/null # warm-up: connections, buffers
        callgrind_control -z "$vpid" >/dev/null
        load "$t" "$p" "${flag[@]}"
        dump_ir
    done
    awk -v s="$scen" -v a="${ir[0]}" -v b="${ir[1]:-0}" -v n="$N" 'BEGIN {
        printf "%-14s %12.0f %12.0f %6.3fx\n", s, a / n, b / n, b / a }'
done
