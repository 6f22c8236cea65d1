#!/usr/bin/env bash
# Installs what building and testing shardis needs and a fresh machine may lack:
#   libclang (bindgen, for the RocksDB bindings), redis-server and redis-tools
#   (the differential tests' oracle, redis-cli and redis-benchmark).
# Usage: scripts/setup.sh [--build-only]
set -euo pipefail

need=()
if ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q libclang; then
  need+=(libclang-dev)
fi
if [ "${1:-}" != "--build-only" ]; then
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v redis-benchmark >/dev/null || need+=(redis-tools)
fi
[ ${#need[@]} -eq 0 ] && exit 0

echo "setup: installing ${need[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root or install: ${need[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package starts a redis-server on 6379; shardis's default port. Stop it.
if [[ " ${need[*]} " == *" redis-server "* ]]; then
  ($sudo systemctl disable --now redis-server 2>/dev/null || $sudo service redis-server stop 2>/dev/null || $sudo pkill -x redis-server) >/dev/null 2>&1 || true
fi
