#!/usr/bin/env bash
# MULTI/EXEC figures for tuning.md, measured side by side in one run:
#  1. MULTI, SET, SET, EXEC per second (closed loop, 50 connections), both keys on one
#     shard and on two, shardis (4 shards) against redis-server;
#  2. single-key SET per second on shard 0 (closed loop, 25 connections) alone and while
#     other clients run cross-shard EXECs on shards 1 and 2 at a fixed rate (open loop),
#     alternating, median of --rounds.
# Usage: scripts/bench-transactions.sh [--binary PATH] [--rounds N] [--seconds S] [--exec-rate R]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
binary="$target/release/shardis"
probe="$target/release/shardis-probe"
rounds=5
seconds=5
exec_rate=2000
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --exec-rate) exec_rate=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
command -v redis-server >/dev/null || { echo "redis-server missing: run scripts/setup.sh" >&2; exit 1; }
[ -x "$probe" ] || cargo build --release --bin shardis-probe
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sport=$(free_port); rport=$(free_port)
"$binary" --port "$sport" --dir "$work/shardis" --shards 4 >"$work/shardis.log" 2>&1 &
redis-server --port "$rport" --dir "$work" --save '' --appendonly yes --appendfsync everysec >/dev/null 2>&1 &
for p in "$sport" "$rport"; do
    for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
rate() { sed -n 's/.*rate=\([0-9]*\)\/s.*/\1/p'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
closed() { "$probe" --port "$1" --closed --duration "$seconds" --shards 4 "${@:2}" | rate; }

echo "## MULTI/SET/SET/EXEC per second, 50 connections, median of $rounds"
echo "machine: $(nproc) cores, $(uname -r); shardis $("$binary" --version 2>/dev/null || echo "$binary")"
echo
echo "| keys | shardis | redis | shardis/redis |"
echo "|---|---|---|---|"
for w in multi-one multi-two; do
    s=(); r=()
    for _ in $(seq "$rounds"); do
        s+=("$(closed "$sport" --command "$w" --connections 50 --on-shard 0)")
        r+=("$(closed "$rport" --command "$w" --connections 50 --on-shard 0)")
    done
    ms=$(printf '%s\n' "${s[@]}" | median); mr=$(printf '%s\n' "${r[@]}" | median)
    label=$([ "$w" = multi-one ] && echo "one shard" || echo "two shards")
    echo "| $label | $ms | $mr | $(awk "BEGIN {printf \"%.2fx\", $ms/$mr}") |"
done
echo
echo "## SET on shard 0 (25 connections) alone and with ${exec_rate} cross-shard EXECs/s on shards 1+2, median of $rounds"
echo
alone=(); loaded=()
for _ in $(seq "$rounds"); do
    alone+=("$(closed "$sport" --command set --on-shard 0 --connections 25)")
    "$probe" --port "$sport" --command multi-two --on-shard 1 --shards 4 --connections 10 \
        --rate $((exec_rate / 10)) --duration $((seconds + 2)) --label exec >"$work/exec.txt" &
    load=$!
    sleep 1
    loaded+=("$(closed "$sport" --command set --on-shard 0 --connections 25)")
    wait "$load"
    grep -q "errors=0" "$work/exec.txt" || { echo "EXEC load failed: $(cat "$work/exec.txt")" >&2; exit 1; }
done
ma=$(printf '%s\n' "${alone[@]}" | median); ml=$(printf '%s\n' "${loaded[@]}" | median)
echo "| SET/s alone | SET/s with EXEC load | ratio | runs (alone / loaded) |"
echo "|---|---|---|---|"
echo "| $ma | $ml | $(awk "BEGIN {printf \"%.2fx\", $ml/$ma}") | ${alone[*]} / ${loaded[*]} |"
