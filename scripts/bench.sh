#!/usr/bin/env bash
# The benchmark kit: builds the release binary, then compares shardis --runtime dual,
# --runtime single and redis-server (appendonly everysec) with redis-benchmark and
# prints a markdown table. `scripts/bench.sh --help` lists the options;
# `scripts/bench.sh --short` finishes in under two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet --bin shardis
exec python3 scripts/bench.py "$@"
