#!/usr/bin/env bash
# Script figures for tuning.md, measured side by side in one run with redis-benchmark
# (50 connections, random keys), median of --rounds, the servers alternating:
#  1. EVALSHA of redis-py's lock release script (GET, compare, DEL) at pipelining 1
#     and 16, shardis (one shard per storage thread, the default) against
#     redis-server (appendonly everysec);
#  2. EVALSHA of a script that writes (SET ... PX), same way;
#  3. the cost of undeclared keys: the release script with its key passed in ARGV
#     (0 declared keys, so it holds every shard) against the declared form, shardis
#     with 4 shards.
# Usage: scripts/bench-scripts.sh [--binary PATH] [--rounds N] [--requests N]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
binary="$target/release/shardis"
rounds=3
requests=100000
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --requests) requests=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
command -v redis-benchmark >/dev/null || { echo "redis-benchmark missing: run scripts/setup.sh" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sport=$(free_port); s4port=$(free_port); rport=$(free_port)
"$binary" --port "$sport" --dir "$work/shardis" >"$work/shardis.log" 2>&1 &
"$binary" --port "$s4port" --dir "$work/shardis4" --shards 4 >"$work/shardis4.log" 2>&1 &
redis-server --port "$rport" --dir "$work" --save '' --appendonly yes --appendfsync everysec >/dev/null 2>&1 &
for p in "$sport" "$s4port" "$rport"; do
    for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

release='local token = redis.call("get", KEYS[1]) if not token or token ~= ARGV[1] then return 0 end redis.call("del", KEYS[1]) return 1'
release_argv='local key = "lock:" .. ARGV[1] local token = redis.call("get", key) if not token or token ~= ARGV[2] then return 0 end redis.call("del", key) return 1'
acquire='return redis.call("set", KEYS[1], ARGV[1], "px", 10000)'
for p in "$sport" "$s4port" "$rport"; do
    for s in "$release" "$release_argv" "$acquire"; do redis-cli -p "$p" script load "$s" >/dev/null; done
done
sha() { redis-cli -p "$rport" script load "$1"; }
rel=$(sha "$release"); rel_argv=$(sha "$release_argv"); acq=$(sha "$acquire")

# requests per second of one redis-benchmark run: PORT PIPELINE ARGS...
rps() {
    local port=$1 pipeline=$2; shift 2
    redis-benchmark -p "$port" -c 50 -n "$requests" -P "$pipeline" -r 100000 -q "$@" 2>/dev/null \
        | tr '\r' '\n' | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A runs
cells=()
cell() { cells+=("$1"); }
for round in $(seq "$rounds"); do
    for pipeline in 1 16; do
        for name in redis shardis; do
            port=$rport; [ "$name" = shardis ] && port=$sport
            runs["release P$pipeline $name"]+="$(rps "$port" "$pipeline" evalsha "$rel" 1 lock:__rand_int__ token) "
            runs["acquire P$pipeline $name"]+="$(rps "$port" "$pipeline" evalsha "$acq" 1 lock:__rand_int__ token) "
        done
        runs["release P$pipeline shardis-4 declared"]+="$(rps "$s4port" "$pipeline" evalsha "$rel" 1 lock:__rand_int__ token) "
        runs["release P$pipeline shardis-4 undeclared"]+="$(rps "$s4port" "$pipeline" evalsha "$rel_argv" 0 __rand_int__ token) "
    done
done

echo "| script | pipeline | redis-server | shardis | shardis / redis |"
echo "| --- | --- | --- | --- | --- |"
for script in release acquire; do
    for pipeline in 1 16; do
        r=$(echo ${runs["$script P$pipeline redis"]} | tr ' ' '\n' | median)
        s=$(echo ${runs["$script P$pipeline shardis"]} | tr ' ' '\n' | median)
        echo "| $script | $pipeline | $r | $s | $(python3 -c "print(f'{$s/$r:.2f}x')") |"
    done
done
echo
echo "| release, shardis 4 shards | pipeline | declared key | key from ARGV (every shard held) | undeclared / declared |"
echo "| --- | --- | --- | --- | --- |"
for pipeline in 1 16; do
    d=$(echo ${runs["release P$pipeline shardis-4 declared"]} | tr ' ' '\n' | median)
    u=$(echo ${runs["release P$pipeline shardis-4 undeclared"]} | tr ' ' '\n' | median)
    echo "| | $pipeline | $d | $u | $(python3 -c "print(f'{$u/$d:.2f}x')") |"
done
