#!/usr/bin/env bash
# Instructions per request of pipelined memcache traffic through
# target/release/nutcracker, measured with callgrind (for a loaded machine,
# where wall-clock benchmarks mean little). One memcached, keys primed;
# for each request kind the proxy runs under callgrind twice, with 0 and N
# requests (pipelined 100 deep over one connection), and the difference
# of the instruction totals divided by N is printed.
#
# Kinds: set, get, ms (ms <key> 32 T0), mg (mg <key> v f), mgq (mg ... q,
# every key a hit; mg batches end in an mn). Needs memcached, valgrind and
# python3. Environment: N (default 20000), RUST (default
# target/release/nutcracker). Everything it starts is stopped by pid.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-20000}
RUST=${RUST:-target/release/nutcracker}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

cat > "$dir/load.py" <<'PY'
import socket, sys
port, kind, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
val = b"x" * 32
req = {"set": b"set %s 0 0 32\r\n" + val + b"\r\n", "get": b"get %s\r\n",
       "ms": b"ms %s 32 T0\r\n" + val + b"\r\n", "mg": b"mg %s v f\r\n",
       "mgq": b"mg %s v f q\r\n"}[kind]
term = {"set": b"STORED\r\n", "get": b"END\r\n", "ms": b"HD\r\n"}.get(kind, b"MN\r\n")
i = 0
while i < n:
    c = min(100, n - i)
    batch = b"".join(req % (b"key:%d" % (j % 1000)) for j in range(i, i + c))
    s.sendall(batch + (b"mn\r\n" if term == b"MN\r\n" else b""))
    want, buf = (c if term != b"MN\r\n" else 1), b""
    while buf.count(term) < want:
        d = s.recv(1 << 20)
        if not d:
            raise SystemExit("closed")
        buf += d
    i += c
PY

mp=$(port)
user=(); [ "$(id -u)" = 0 ] && user=(-u root)
memcached -l 127.0.0.1 -p "$mp" -U 0 "${user[@]}" & pids+=($!)
sleep 0.3
python3 "$dir/load.py" "$mp" set 1000

run() { # kind n -> total Ir
    local pp sp vp
    pp=$(port); sp=$(port)
    printf "mc:\n  listen: 127.0.0.1:%s\n  servers:\n   - 127.0.0.1:%s:1\n" "$pp" "$mp" > "$dir/c.yml"
    valgrind --tool=callgrind --callgrind-out-file="$dir/out" "$RUST" -c "$dir/c.yml" -s "$sp" -o "$dir/log" 2>/dev/null &
    vp=$!
    for _ in $(seq 1 100); do python3 -c "import socket;socket.create_connection(('127.0.0.1',$pp))" 2>/dev/null && break; sleep 0.2; done
    python3 "$dir/load.py" "$pp" "$1" "$2"
    kill -INT "$vp"; wait "$vp" 2>/dev/null || true
    awk '/^(summary|totals):/{print $2; exit}' "$dir/out"
}

printf "%-5s %10s\n" kind "Ir/request"
for k in set get ms mg mgq; do
    base=$(run "$k" 0); total=$(run "$k" "$N")
    printf "%-5s %10d\n" "$k" $(( (total - base) / N ))
done
