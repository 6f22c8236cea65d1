#!/usr/bin/env bash
# Blocking commands and pub/sub against redis-server, in one run (tuning.md, issue 18):
# BLPOP wake-up latency across network threads, PUBLISH throughput with 1 and 100
# subscribers, PUBLISH/PING/wake-up while every shard is stalled, and the memory of
# 10,000 blocked clients. See scripts/bench_pubsub.py --help for the options.
# Usage: scripts/bench-pubsub.sh [--binary PATH] [--rounds N] [--requests N] [--waiters N]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-benchmark >/dev/null || scripts/setup.sh
target=${CARGO_TARGET_DIR:-target}
if ! printf '%s\n' "$@" | grep -qx -- --binary; then
    cargo build --release --quiet --bin shardis
    set -- --binary "$target/release/shardis" "$@"
fi
ulimit -n 65536 2>/dev/null || true
exec python3 scripts/bench_pubsub.py "$@"
