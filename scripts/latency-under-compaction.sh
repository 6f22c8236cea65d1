#!/usr/bin/env bash
# Latency of PING, GET and new connections while RocksDB flushes, compacts and stalls,
# for --runtime dual and --runtime single side by side. Writes .hgrm files.
#   scripts/latency-under-compaction.sh [--duration 15] [--out latency-results]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet --bins
exec python3 scripts/latency.py "$@"
