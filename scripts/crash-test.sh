#!/usr/bin/env bash
# Kills shardis with SIGKILL mid-write, restarts it and checks that acknowledged writes
# survived within the appendfsync promise.
#   scripts/crash-test.sh --fsync always --rounds 20 [--runtime single]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --build-only
cargo build --release --quiet --bin shardis
exec python3 scripts/crash_test.py "$@"
