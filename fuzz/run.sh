#!/usr/bin/env bash
# Runs fuzz targets for SECS seconds each: fuzz/run.sh SECS [TARGET...]
# (default: every target). New inputs go to fuzz/target/work/<target>; the
# committed seeds in fuzz/corpus/<target> are only read. Crashes land in
# fuzz/artifacts/<target>/: commit each as fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=(redis_req redis_rsp memcache_req memcache_rsp conf split_invariance fragment_coalesce sentinel)
fi
dict_for() {
    case $1 in
        redis_*) echo redis ;; memcache_*) echo memcache ;; conf) echo yaml ;;
        fragment_coalesce) echo memcache ;; *) echo redis ;;
    esac
}
cargo +nightly fuzz build -O -a -s none
for t in "${targets[@]}"; do
    mkdir -p "target/work/$t"
    echo "fuzz: $t for ${secs}s"
    cargo +nightly fuzz run -O -a -s none "$t" "target/work/$t" "corpus/$t" -- \
        -dict="dict/$(dict_for "$t").dict" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 2>&1 |
        grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|==[0-9]+== ERROR|SUMMARY|Test unit written|artifact_prefix|panicked)' || true
    if [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
        echo "fuzz: $t crashed; inputs in fuzz/artifacts/$t" >&2
        exit 1
    fi
done
