#!/usr/bin/env bash
# What keyspace notifications and client tracking cost, against redis-server in one run
# (tuning.md, issue 18). See scripts/bench_notify.py --help for the options.
# Usage: scripts/bench-notify.sh [--binary PATH] [--requests N] [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-benchmark >/dev/null || scripts/setup.sh
target=${CARGO_TARGET_DIR:-target}
if ! printf '%s\n' "$@" | grep -qx -- --binary; then
    cargo build --release --quiet --bin shardis
    set -- --binary "$target/release/shardis" "$@"
fi
exec python3 scripts/bench_notify.py "$@"
