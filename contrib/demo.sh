#!/usr/bin/env bash
# make demo: nutcracker-rs in front of two redis-server and two memcached.
#
# Builds the release binary if needed, starts the backends and the proxy on
# free loopback ports with a config written to a temporary directory, sends
# a little traffic (redis-cli for redis, printf into /dev/tcp for memcache),
# prints a summary of the stats JSON, and stops every process it started by
# pid when it exits (also on error or Ctrl-C). Takes a few seconds.
#
# Needs: cargo, redis-server, redis-cli (redis-tools), memcached, python3.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for cmd in cargo redis-server redis-cli memcached python3; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if ((${#missing[@]} > 0)); then
    echo "demo: missing ${missing[*]} (bash .ci/run installs redis-server, redis-tools and memcached)" >&2
    exit 1
fi

echo "demo: building the release binary (cargo build --release)"
cargo build --release --quiet
bin=$PWD/target/release/nutcracker

dir=$(mktemp -d "${TMPDIR:-/tmp}/nutcracker-demo.XXXXXX")
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Seven distinct free loopback ports: 2 redis, 2 memcached, 2 pools, stats.
read -r r0 r1 m0 m1 rlisten mlisten stats < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)

# Polls `cmd...` every 0.1 s for at most 10 s.
wait_for() {
    local i
    for ((i = 0; i < 100; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "demo: gave up waiting for: $*" >&2
    return 1
}

# memcache request over bash's /dev/tcp: sends $2, prints the reply up to
# and including the line that ends it (END, STORED, DELETED, ...).
mc() {
    local port=$1 req=$2 line
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf '%b' "$req" >&3
    while IFS= read -r -t 5 line <&3; do
        printf '%s\n' "${line%$'\r'}"
        case ${line%$'\r'} in
        END | STORED | NOT_STORED | DELETED | NOT_FOUND | ERROR | SERVER_ERROR* | CLIENT_ERROR* | VERSION*) break ;;
        esac
    done
    exec 3<&-
}

mcuser=()
if [ "$(id -u)" -eq 0 ]; then mcuser=(-u root); fi
for port in "$r0" "$r1"; do
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --dir "$dir" >"$dir/redis-$port.log" 2>&1 &
    pids+=($!)
done
for port in "$m0" "$m1"; do
    memcached -l 127.0.0.1 -p "$port" -U 0 "${mcuser[@]}" >"$dir/memcached-$port.log" 2>&1 &
    pids+=($!)
done
for port in "$r0" "$r1"; do wait_for redis-cli -p "$port" ping; done
for port in "$m0" "$m1"; do wait_for mc "$port" 'version\r\n'; done

cat >"$dir/demo.yml" <<EOF
demo_redis:
  listen: 127.0.0.1:$rlisten
  redis: true
  hash: fnv1a_64
  distribution: ketama
  timeout: 400
  auto_eject_hosts: false
  server_connections: 1
  servers:
   - 127.0.0.1:$r0:1 redis0
   - 127.0.0.1:$r1:1 redis1
demo_memcache:
  listen: 127.0.0.1:$mlisten
  redis: false
  hash: fnv1a_64
  distribution: ketama
  timeout: 400
  auto_eject_hosts: false
  server_connections: 1
  servers:
   - 127.0.0.1:$m0:1 mc0
   - 127.0.0.1:$m1:1 mc1
EOF
"$bin" -c "$dir/demo.yml" -s "$stats" -a 127.0.0.1 -i 200 -o "$dir/nutcracker.log" &
pids+=($!)
wait_for redis-cli -p "$rlisten" ping
wait_for mc "$mlisten" 'get warmup\r\n'

echo
echo "== redis pool demo_redis on 127.0.0.1:$rlisten (backends $r0 $r1)"
rc() {
    echo "> redis-cli $*"
    timeout 5 redis-cli -p "$rlisten" "$@"
}
for k in apple banana cherry date elderberry fig; do
    timeout 5 redis-cli -p "$rlisten" set "fruit:$k" "$k is tasty" >/dev/null
done
rc set greeting "hello, nutcracker-rs"
rc get greeting
rc mget fruit:apple fruit:banana fruit:cherry fruit:date fruit:elderberry fruit:fig
rc del fruit:apple fruit:banana greeting
rc mget fruit:apple fruit:cherry
echo "> keys per backend (dbsize): redis0 $(redis-cli -p "$r0" dbsize), redis1 $(redis-cli -p "$r1" dbsize)"
echo "> which server holds each key (nutcracker --locate):"
"$bin" -c "$dir/demo.yml" --locate demo_redis fruit:cherry fruit:date fruit:elderberry fruit:fig | sed 's/^/  /'

echo
echo "== memcache pool demo_memcache on 127.0.0.1:$mlisten (backends $m0 $m1)"
mcd() {
    printf '> %s\n' "$1"
    mc "$mlisten" "$1" | sed 's/^/  /'
}
mcd 'set city 0 0 6\r\nbrugge\r\n'
mcd 'set river 0 0 4\r\nleie\r\n'
mcd 'get city river nothing\r\n'
mcd 'delete river\r\n'
mcd 'get city river\r\n'
for word in alpha bravo charlie delta echo foxtrot golf hotel; do
    mc "$mlisten" "set word:$word 0 0 ${#word}\r\n$word\r\n" >/dev/null
done
echo "> 8 more keys stored; which server holds each (nutcracker --locate):"
"$bin" -c "$dir/demo.yml" --locate demo_memcache word:alpha word:bravo word:charlie word:delta | sed 's/^/  /'

echo
echo "== stats (JSON from 127.0.0.1:$stats, summarised)"
sleep 0.5 # the stats thread folds in the loop's counters every -i ms
python3 - "$stats" <<'EOF'
import json, socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
    raw = b""
    while chunk := s.recv(65536):
        raw += chunk
doc = json.loads(raw)
print(f"service {doc['service']} {doc['version']}, uptime {doc['uptime']} s, "
      f"{doc['curr_connections']} connections open, {doc['total_connections']} ever")
for pool, v in doc.items():
    if not isinstance(v, dict):
        continue
    servers = {k: s for k, s in v.items() if isinstance(s, dict)}
    reqs = sum(s["requests"] for s in servers.values())
    print(f"{pool}: {v['client_connections']} clients, forward_error {v['forward_error']}, "
          f"{reqs} requests to servers")
    for name, s in servers.items():
        print(f"  {name}: requests {s['requests']} ({s['request_bytes']} B), "
              f"responses {s['responses']} ({s['response_bytes']} B), "
              f"server_connections {s['server_connections']}")
EOF
echo
echo "demo: done; stopping the proxy and the backends"
