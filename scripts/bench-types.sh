#!/usr/bin/env bash
# Throughput of SETBIT, BITCOUNT, PFADD, PFCOUNT, GEOADD, GEOSEARCH and SORT against
# redis-server in one run (tuning.md, issue 19). See scripts/bench_types.py --help.
# Usage: scripts/bench-types.sh [--binary PATH] [--requests N] [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-benchmark >/dev/null || scripts/setup.sh
target=${CARGO_TARGET_DIR:-target}
if ! printf '%s\n' "$@" | grep -qx -- --binary; then
    cargo build --release --quiet --bin shardis
    set -- --binary "$target/release/shardis" "$@"
fi
exec python3 scripts/bench_types.py "$@"
