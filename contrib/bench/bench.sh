#!/usr/bin/env bash
# make bench: nutcracker-rs against twemproxy 0.5.0, side by side.
#
# Starts 4 redis-server and 2 memcached, then the original nutcracker
# (/usr/sbin/nutcracker, Debian package `nutcracker`) and target/release/
# nutcracker with identical configs (only the listen ports differ), each
# pinned to CPU 0 with `taskset -c 0`; backends and load generators run on
# CPU 1. Every scenario runs ROUNDS times per target, rotating which goes
# first. The redis scenarios also run against the first redis-server
# directly ("direct": the same pinning, no proxy), which holds every key
# too. Throughput and p99 latency come from the load generator
# (redis-benchmark, memcslap); proxy CPU time comes from utime+stime in
# /proc/<pid>/stat before and after each run. The table shows the median
# of the rounds and the ratios rust/original and rust/direct (throughput:
# higher is better; CPU µs per request: lower is better).
#
# Scenarios (redis-benchmark, -r 100000): redis-TEST-cC-dD-PP runs
# `-t TEST -c C -d D -P P` (GET and SET; -c 50/-c 100; values of 32, 100
# and 16384 bytes; -P 1 and -P 32; before a GET scenario, values of its
# size are stored under its keys); redis-mget1000-c50 runs MGET of the
# same 1,000 keys (32-byte values, present on every redis) over 50
# connections; mc-TEST-P1 runs memcslap over 50 connections.
#
# Then it points at the official ruler, ../shared/bench/run.sh, and runs it
# when BENCH_SHARED=1 and the script exists.
#
# Installs nothing: needs packages nutcracker redis-server redis-tools
# memcached libmemcached-tools (and util-linux for taskset). Takes about
# 6 minutes on a quiet machine (a -P 1 run sends 2,000 requests per
# connection: shorter runs moved single ratios by 0.2; 5 rounds, as 3
# left medians that moved by 0.1 between runs); everything it starts is
# stopped by pid on exit.
#
# Then a second table, nutcracker-rs alone: the same redis GET/SET load with
# RESP2 clients and with RESP3 clients (redis-benchmark -3, HELLO 3 first),
# alternating, and the RESP3/RESP2 ratios (0.5.0 cannot take part: it
# closes a connection that sends HELLO).
#
# Environment: ROUNDS (default 5), ORIG (default /usr/sbin/nutcracker),
# RUST (default target/release/nutcracker), BENCH_SHARED=1, SHARED_BENCH
# (path of run.sh, default ../shared/bench/run.sh), SCENARIOS (a subset of
# the names in the table), RESP3_SCENARIOS (default "get-c50-d32-P1
# set-c50-d32-P1 get-c50-d32-P32 set-c50-d32-P32": <test>-c<clients>-d<size>-P<pipeline>;
# empty: no RESP3 table).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-5}
SCENARIOS=${SCENARIOS:-}
ORIG=${ORIG:-/usr/sbin/nutcracker}
RUST=${RUST:-target/release/nutcracker}
SHARED=${SHARED_BENCH:-../shared/bench/run.sh}

missing=()
need() { # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need redis-server redis-server
need redis-benchmark redis-tools
need redis-cli redis-tools
need memcached memcached
need memcslap libmemcached-tools
need taskset util-linux
need cargo "cargo (https://rustup.rs)"
[ -x "$ORIG" ] || missing+=("nutcracker (for $ORIG)")
if ((${#missing[@]} > 0)); then
    echo "bench: missing: ${missing[*]}" >&2
    echo "bench: install with: apt-get install nutcracker redis-server redis-tools memcached libmemcached-tools" >&2
    exit 1
fi

echo "bench: building the release binary (cargo build --release)" >&2
cargo build --release --quiet
RUST=$(realpath "$RUST")

# CPU 0 for the proxies, CPU 1 for everything else (when there are two).
if [ "$(nproc)" -ge 2 ]; then
    on_proxy_cpu=(taskset -c 0)
    on_load_cpu=(taskset -c 1)
else
    on_proxy_cpu=()
    on_load_cpu=()
fi
tck=$(getconf CLK_TCK)

dir=$(mktemp -d "${TMPDIR:-/tmp}/nutcracker-bench.XXXXXX")
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port VAR: sets VAR to a loopback port below the ephemeral range
# (where outgoing connections cannot hold it) that nothing listens on and
# that was not handed out before in this run.
declare -A taken=()
read -r eph _ </proc/sys/net/ipv4/ip_local_port_range
free_port() {
    local port_
    while :; do
        port_=$((eph - 12000 + RANDOM % 11000))
        [ -z "${taken[$port_]:-}" ] || continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port_") 2>/dev/null; then
            taken[$port_]=1
            printf -v "$1" '%s' "$port_"
            return
        fi
    done
}

# Polls `cmd...` every 0.1 s for at most 10 s.
wait_for() {
    local i
    for ((i = 0; i < 100; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "bench: gave up waiting for: $*" >&2
    exit 1
}

mc_version() { # mc_version PORT
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'version\r\n' >&3
    local line
    IFS= read -r -t 2 line <&3
    exec 3<&-
    [[ $line == VERSION* ]]
}

mcuser=()
if [ "$(id -u)" -eq 0 ]; then mcuser=(-u root); fi
rports=() mports=()
for i in 0 1 2 3; do
    free_port p
    rports+=("$p")
    "${on_load_cpu[@]}" redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --dir "$dir" >"$dir/redis-$p.log" 2>&1 &
    pids+=($!)
    ((i < 2)) || continue
    free_port p
    mports+=("$p")
    "${on_load_cpu[@]}" memcached -l 127.0.0.1 -p "$p" -U 0 -t 1 -m 256 "${mcuser[@]}" >"$dir/mc-$p.log" 2>&1 &
    pids+=($!)
done
for p in "${rports[@]}"; do wait_for redis-cli -p "$p" ping; done
for p in "${mports[@]}"; do wait_for mc_version "$p"; done

# start_proxy NAME BIN: writes NAME.yml, starts BIN pinned; sets
# ${NAME}_pid, ${NAME}_redis, ${NAME}_mc.
start_proxy() {
    local name=$1 bin=$2 rl ml st
    free_port rl
    free_port ml
    free_port st
    cat >"$dir/$name.yml" <<EOF
bench_redis:
  listen: 127.0.0.1:$rl
  hash: fnv1a_64
  distribution: ketama
  redis: true
  backlog: 1024
  timeout: 10000
  preconnect: true
  auto_eject_hosts: false
  server_connections: 1
  servers:
   - 127.0.0.1:${rports[0]}:1 redis0
   - 127.0.0.1:${rports[1]}:1 redis1
   - 127.0.0.1:${rports[2]}:1 redis2
   - 127.0.0.1:${rports[3]}:1 redis3
bench_mc:
  listen: 127.0.0.1:$ml
  hash: fnv1a_64
  distribution: ketama
  redis: false
  backlog: 1024
  timeout: 10000
  preconnect: true
  auto_eject_hosts: false
  server_connections: 1
  servers:
   - 127.0.0.1:${mports[0]}:1 mc0
   - 127.0.0.1:${mports[1]}:1 mc1
EOF
    "${on_proxy_cpu[@]}" "$bin" -c "$dir/$name.yml" -s "$st" -a 127.0.0.1 -o "$dir/$name.log" &
    pids+=($!)
    printf -v "${name}_pid" '%s' "$!"
    printf -v "${name}_redis" '%s' "$rl"
    printf -v "${name}_mc" '%s' "$ml"
    wait_for redis-cli -p "$rl" get warmup
    wait_for mc_version "$ml"
}
start_proxy orig "$ORIG"
start_proxy rust "$RUST"
# "direct": redis-benchmark against the first redis-server itself.
direct_redis=${rports[0]} direct_pid=

# The MGET keys, on every redis-server, so that the direct run hits too.
mget_keys=()
mset=(MSET)
for ((k = 0; k < 1000; k++)); do
    printf -v key 'mget:%04d' "$k"
    mget_keys+=("$key")
    mset+=("$key" "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvv$((k % 10))$((k % 7))")
done
for p in "${rports[@]}"; do
    redis-cli -p "$p" "${mset[@]}" >/dev/null
done

cpu_ticks() { # utime + stime of pid $1, in clock ticks (0 for direct)
    if [ -z "$1" ]; then echo 0; else awk '{ print $14 + $15 }' "/proc/$1/stat"; fi
}

# One measured run: prints "<requests per second> <cpu µs per request> <p99 ms>".
# run_load TARGET SCENARIO (TARGET: orig, rust or direct)
run_load() {
    local name=$1 scen=$2 pid rport mport t0 t1 out rps reqs p99=-
    pid=${name}_pid rport=${name}_redis mport=${name}_mc
    pid=${!pid} rport=${!rport} mport=${!mport:-}
    t0=$(cpu_ticks "$pid")
    case $scen in
    redis-mget1000-c50)
        n=3000
        out=$(timeout 60 "${on_load_cpu[@]}" redis-benchmark -h 127.0.0.1 -p "$rport" -c 50 -n "$n" \
            --csv MGET "${mget_keys[@]}" 2>&1 || true)
        rps=$(awk -F'","' '$1 ~ /^"MGET/ { print $2 }' <<<"$out")
        p99=$(awk -F'","' '$1 ~ /^"MGET/ { print $7 }' <<<"$out")
        reqs=$n
        ;;
    redis-* | redis3-*)
        local spec=${scen#redis*-} test c d p n resp=()
        IFS=- read -r test c d p <<<"$spec"
        c=${c#c} d=${d#d} p=${p#P}
        # redis3-*: every connection starts with HELLO 3 (RESP3 replies)
        if [[ $scen == redis3-* ]]; then resp=(-3); fi
        if [ "$p" = 1 ]; then n=$((c * 2000)); else n=300000; fi
        if [ "$d" -gt 1000 ]; then n=$((n / 2)); fi
        out=$(timeout 60 "${on_load_cpu[@]}" redis-benchmark -h 127.0.0.1 -p "$rport" -c "$c" -n "$n" \
            -P "$p" -r 100000 -d "$d" -t "$test" "${resp[@]}" --csv 2>&1 || true)
        rps=$(awk -F'","' -v t="${test^^}" '$1 == "\"" t { print $2 }' <<<"$out")
        p99=$(awk -F'","' -v t="${test^^}" '$1 == "\"" t { print $7 }' <<<"$out")
        reqs=$n
        ;;
    mc-*)
        local test=${scen#mc-} e=600 secs
        test=${test%%-*}
        out=$(timeout 60 "${on_load_cpu[@]}" memcslap -s "127.0.0.1:$mport" -c 50 -e "$e" -t "$test" 2>&1)
        secs=$(awk '/^Time to (get|set) .* threads:/ { print $(NF-1) }' <<<"$out")
        reqs=$((50 * e))
        rps=$(awk -v n="$reqs" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", n / s }')
        # memcslap's get test first sets its e keys over one connection
        if [ "$test" = get ]; then reqs=$((reqs + e)); fi
        ;;
    esac
    t1=$(cpu_ticks "$pid")
    if [ -z "$rps" ]; then
        echo "bench: $scen through $name produced no result:" >&2
        echo "$out" | tail -5 >&2
        exit 1
    fi
    awk -v r="$rps" -v d=$((t1 - t0)) -v t="$tck" -v n="$reqs" -v q="${p99%\"}" \
        'BEGIN { printf "%.0f %.3f %s\n", r, d * 1e6 / t / n, q }'
}

# fill_values SCENARIO: before a GET scenario, stores a value of its size
# (-d) under most of the keys it reads (key:000000000000 ... 99,999;
# 300,000 pipelined SETs of random keys leave about 95 % of them set),
# through nutcracker-rs (both proxies route alike, so this fills the four
# redis-servers for both) and on the first redis-server for "direct".
# Without it a GET row would read whatever the scenario before had
# written, whatever its -d says. Unmeasured.
fill_values() {
    local spec=${1#redis*-} test c d p port
    IFS=- read -r test c d p <<<"$spec"
    [ "$test" = get ] || return 0
    d=${d#d}
    for port in "$rust_redis" "$direct_redis"; do
        timeout 120 "${on_load_cpu[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -c 10 -n 300000 \
            -P 32 -r 100000 -d "$d" -t set >/dev/null 2>&1 || true
    done
}

median() { # median of the arguments
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

scenarios=(
    redis-get-c50-d32-P1 redis-set-c50-d32-P1
    redis-get-c100-d100-P1 redis-set-c100-d100-P1
    redis-get-c50-d16384-P1 redis-set-c50-d16384-P1
    redis-get-c50-d32-P32 redis-set-c50-d32-P32
    redis-mget1000-c50
    mc-get-P1 mc-set-P1
)
if [ -n "$SCENARIOS" ]; then read -r -a scenarios <<<"$SCENARIOS"; fi

# Warm-up (unmeasured): the proxies' buffers and connections.
for name in orig rust direct; do
    run_load "$name" redis-set-c50-d32-P32 >/dev/null
done

echo "bench: $ROUNDS rounds per scenario, proxies on CPU 0, load and redis on CPU 1; original $ORIG, rust $RUST" >&2
printf '%-24s %9s %9s %9s %7s %7s  %-17s %8s %8s %7s\n' scenario "orig rps" "rust rps" "direct" rust/o rust/d \
    "p99 ms o/r/d" "o us/req" "r us/req" ratio
log_tp=0 log_cpu=0 ntp=0 min_o=99 min_d=99
for scen in "${scenarios[@]}"; do
    targets=(orig rust)
    if [[ $scen == redis-* ]]; then targets+=(direct); fi
    declare -A rps_of=() cpu_of=() p99_of=()
    if [[ $scen == redis-* ]]; then fill_values "$scen"; fi
    for ((round = 0; round < ROUNDS; round++)); do
        # rotate the order, so no target always runs first
        order=("${targets[@]:round % ${#targets[@]}}" "${targets[@]:0:round % ${#targets[@]}}")
        for name in "${order[@]}"; do
            read -r rps cpu p99 < <(run_load "$name" "$scen") || true
            [ -n "${cpu:-}" ] || exit 1 # run_load said why
            echo "bench: $scen round $((round + 1)) $name: $rps req/s, $cpu us/req, p99 $p99 ms" >&2
            rps_of[$name]+=" $rps" cpu_of[$name]+=" $cpu" p99_of[$name]+=" $p99"
        done
    done
    # shellcheck disable=SC2086 # word splitting of the value lists is intended
    {
        orps=$(median ${rps_of[orig]}) rrps=$(median ${rps_of[rust]})
        ocpu=$(median ${cpu_of[orig]}) rcpu=$(median ${cpu_of[rust]})
        op99=$(median ${p99_of[orig]}) rp99=$(median ${p99_of[rust]})
        drps=0 dp99=-
        if [ -n "${rps_of[direct]:-}" ]; then drps=$(median ${rps_of[direct]}) dp99=$(median ${p99_of[direct]}); fi
    }
    if [[ $scen == mc-* ]]; then op99=- rp99=-; fi
    awk -v s="$scen" -v a="$orps" -v b="$rrps" -v x="$drps" -v c="$ocpu" -v d="$rcpu" \
        -v lat="$op99/$rp99/$dp99" 'BEGIN {
        printf "%-24s %9.0f %9.0f %9s %6.2fx %7s  %-17s %8.2f %8.2f %6.2fx\n", s, a, b,
            (x > 0) ? sprintf("%.0f", x) : "-", b / a, (x > 0) ? sprintf("%.2fx", b / x) : "-",
            lat, c, d, d / c }'
    log_tp=$(awk -v s="$log_tp" -v a="$orps" -v b="$rrps" 'BEGIN { print s + log(b / a) }')
    log_cpu=$(awk -v s="$log_cpu" -v c="$ocpu" -v d="$rcpu" 'BEGIN { print s + log(d / c) }')
    min_o=$(awk -v m="$min_o" -v a="$orps" -v b="$rrps" 'BEGIN { r = b / a; print (r < m) ? r : m }')
    if [ "$drps" != 0 ]; then
        min_d=$(awk -v m="$min_d" -v x="$drps" -v b="$rrps" 'BEGIN { r = b / x; print (r < m) ? r : m }')
    fi
    ntp=$((ntp + 1))
    unset rps_of cpu_of p99_of
done
awk -v t="$log_tp" -v c="$log_cpu" -v n="$ntp" -v mo="$min_o" -v md="$min_d" 'BEGIN {
    printf "geomean rust/original: throughput %.2fx, cpu per request %.2fx; lowest throughput rust/original %.2fx, rust/direct %s\n",
        exp(t / n), exp(c / n), mo, (md < 99) ? sprintf("%.2fx", md) : "-" }'

# RESP3 next to RESP2, nutcracker-rs only (0.5.0 closes a connection that
# sends HELLO): the same GET/SET load, the clients in RESP2 then in RESP3
# (redis-benchmark -3), alternating. Target: RESP3 within 10% of RESP2.
resp3_scenarios=(${RESP3_SCENARIOS-get-c50-d32-P1 set-c50-d32-P1 get-c50-d32-P32 set-c50-d32-P32})
if ((${#resp3_scenarios[@]} > 0)); then
    echo
    printf '%-24s %10s %10s %7s   %11s %11s %7s\n' "rust scenario" "resp2 rps" "resp3 rps" ratio "resp2 us/req" "resp3 us/req" ratio
    run_load rust redis3-set-c50-d32-P32 >/dev/null # warm-up: the RESP3 server connections
fi
for s3 in "${resp3_scenarios[@]}"; do
    declare -a a_rps=() b_rps=() a_cpu=() b_cpu=()
    fill_values "redis-$s3"
    for ((round = 0; round < ROUNDS; round++)); do
        if ((round % 2 == 0)); then order=(redis redis3); else order=(redis3 redis); fi
        for kind in "${order[@]}"; do
            read -r rps cpu _ < <(run_load rust "$kind-$s3") || true
            [ -n "${cpu:-}" ] || exit 1
            echo "bench: $kind-$s3 round $((round + 1)) rust: $rps req/s, $cpu us/req" >&2
            if [ "$kind" = redis ]; then a_rps+=("$rps") a_cpu+=("$cpu"); else b_rps+=("$rps") b_cpu+=("$cpu"); fi
        done
    done
    awk -v s="redis-$s3" -v a="$(median "${a_rps[@]}")" -v b="$(median "${b_rps[@]}")" \
        -v c="$(median "${a_cpu[@]}")" -v d="$(median "${b_cpu[@]}")" 'BEGIN {
        printf "%-24s %10.0f %10.0f %6.2fx   %11.2f %11.2f %6.2fx\n", s, a, b, b / a, c, d, d / c }'
    unset a_rps b_rps a_cpu b_cpu
done

echo
echo "The official ruler (checks every reply, CPU from schedstat, concurrent rounds):"
echo "  $SHARED --quick /usr/sbin/nutcracker rust=target/release/nutcracker"
if [ "${BENCH_SHARED:-0}" = 1 ]; then
    if [ -x "$SHARED" ]; then
        cleanup
        trap - EXIT
        "$SHARED" --quick /usr/sbin/nutcracker "rust=$RUST"
    else
        echo "bench: BENCH_SHARED=1 but $SHARED is not there" >&2
    fi
else
    echo "  (set BENCH_SHARED=1 to run it after this table)"
fi
