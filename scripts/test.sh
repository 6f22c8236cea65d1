#!/usr/bin/env bash
# Runs every test: unit tests, black-box tests against the real binary (both runtime
# modes), and differential tests against a real redis-server (installed if missing).
# Everything builds with the release profile, so RocksDB is compiled once for the
# server, the tests and the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export SHARDIS_REQUIRE_REDIS=1
cargo fmt --all -- --check
# clippy checks with the release profile too, so it reuses the compiled RocksDB.
cargo clippy --release --all-targets --quiet -- -D warnings
cargo test --release "$@"
