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
# Build first (RocksDB compiles once, ~10 minutes on a fresh machine); clippy then
# checks with the same release profile and reuses it.
cargo test --release --lib --bins --tests --no-run
cargo clippy --release --all-targets --quiet -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --release --lib --bins --tests "$@" 2>&1 | tee "$log"
# One closing line for the whole run: the sum of every test binary's result.
awk '/^test result:/ { p += $4; f += $6; s += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s; exit (f > 0 || p == 0) }' "$log"
