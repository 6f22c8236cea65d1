#!/usr/bin/env bash
# Builds (once) and starts shardis: port 6379, data in ./data, unless flags say otherwise.
#   scripts/run.sh --port 7000 --dir /tmp/shardis --runtime single
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --build-only
exec cargo run --release --quiet --bin shardis -- "$@"
