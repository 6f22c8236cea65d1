#!/usr/bin/env bash
# Proves the README's two commands on a machine made fresh again, without a new machine:
# removes what setup.sh installs (libclang-dev, libclang1-14, redis-server, redis-tools,
# the tests' Python packages), clones this repository's HEAD into a temporary directory,
# runs `scripts/run.sh` until it answers PING on 6379 (then stops it with SIGTERM), then
# `scripts/test.sh`, and reports the wall time and outcome of each.
#   scripts/check-fresh.sh                      # cold: a new, empty cargo target dir
#   scripts/check-fresh.sh --target-dir DIR     # reuse DIR (warm when it has a build)
#   scripts/check-fresh.sh --keep               # keep the clone and its logs
# Needs root (it removes packages), and port 6379 free.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
target="" keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --target-dir) target="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: scripts/check-fresh.sh [--target-dir DIR] [--keep]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "check-fresh: run as root" >&2; exit 1; }

work=$(mktemp -d /var/tmp/shardis-fresh.XXXXXX)
[ -n "$target" ] || target="$work/target"
cleanup() {
  [ -n "${server_pid:-}" ] && kill -TERM -- "-$server_pid" 2>/dev/null || true
  if [ "$keep" = 1 ]; then echo "check-fresh: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "check-fresh: removing the packages a fresh machine lacks"
export DEBIAN_FRONTEND=noninteractive
apt-get remove -y -qq libclang-dev libclang1-14 redis-server redis-tools >/dev/null 2>&1 || true
python3 -m pip uninstall -y -q redis prometheus-client >/dev/null 2>&1 || true
if ls /usr/lib/llvm-*/lib/libclang.so /usr/lib/llvm-*/lib/libclang-*.so.* >/dev/null 2>&1 ||
  command -v redis-server >/dev/null; then
  echo "check-fresh: libclang or redis-server is still installed" >&2
  exit 1
fi
if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  echo "check-fresh: something already listens on 6379" >&2
  exit 1
fi

git clone -q "$repo" "$work/shardis"
cd "$work/shardis"
export CARGO_TARGET_DIR="$target"
echo "check-fresh: clone of $(git rev-parse --short HEAD) in $work/shardis, target $target"

ping_6379() {
  python3 - <<'EOF'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", 6379), timeout=2)
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    sys.exit(0 if s.recv(64) == b"+PONG\r\n" else 1)
except OSError:
    sys.exit(1)
EOF
}

start=$(date +%s)
setsid scripts/run.sh >"$work/run.log" 2>&1 &
server_pid=$!
run_result="failed"
while kill -0 "$server_pid" 2>/dev/null; do
  if ping_6379; then run_result="served PING on 6379"; break; fi
  [ $(($(date +%s) - start)) -gt 3600 ] && break
  sleep 2
done
run_secs=$(($(date +%s) - start))
kill -TERM -- "-$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""
echo "check-fresh: scripts/run.sh: $run_result after ${run_secs} s"
[ "$run_result" = failed ] && { tail -20 "$work/run.log"; exit 1; }
[ -d data ] || { echo "check-fresh: run.sh left no ./data" >&2; exit 1; }

start=$(date +%s)
test_rc=0
scripts/test.sh >"$work/test.log" 2>&1 || test_rc=$?
test_secs=$(($(date +%s) - start))
echo "check-fresh: scripts/test.sh: exit $test_rc after ${test_secs} s: $(grep '^tests:' "$work/test.log" || echo 'no summary')"
[ "$test_rc" -eq 0 ] || { tail -40 "$work/test.log"; exit 1; }
