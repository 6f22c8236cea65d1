#!/usr/bin/env bash
# Installs what a fresh Debian machine with the Rust toolchain lacks, decided from what
# each step really loads, never from a file that merely looks alike:
#   build  libclang-dev: bindgen (the RocksDB bindings) loads libclang.so and needs
#          clang's own headers. A machine may ship libclang-cpp.so.14 (the C++ API),
#          which bindgen cannot load, so its presence proves nothing.
#   test   redis-server (the differential tests' oracle), redis-tools (redis-cli,
#          redis-benchmark), and the Python client libraries the black-box tests use.
#   tools  what the other scripts need: matplotlib (plot-latency.py), perf (the
#          profiling notes in tuning.md).
# Usage: scripts/setup.sh [--build-only | --tools]   (default: build and test)
set -euo pipefail

want_test=1 want_tools=0
case "${1:-}" in
  --build-only) want_test=0 ;;
  --tools) want_tools=1 ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--build-only | --tools]" >&2; exit 2 ;;
esac

# A libclang bindgen can load: libclang.so, libclang-<n>.so or libclang-<n>.so.<m>,
# in LIBCLANG_PATH or where the linker looks. libclang-cpp* is a different library.
have_libclang() {
  local dirs=() d f
  [ -n "${LIBCLANG_PATH:-}" ] && dirs+=("$LIBCLANG_PATH")
  dirs+=(/usr/lib/llvm-*/lib /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib /usr/local/lib)
  for d in "${dirs[@]}"; do
    for f in "$d"/libclang.so "$d"/libclang.so.* "$d"/libclang-[0-9]*.so "$d"/libclang-[0-9]*.so.*; do
      [ -e "$f" ] || continue
      # bindgen also needs clang's builtin headers (stddef.h); libclang-dev brings them.
      ls /usr/lib/llvm-*/lib/clang/*/include/stddef.h /usr/lib/clang/*/include/stddef.h \
        >/dev/null 2>&1 && return 0
    done
  done
  return 1
}

have_py() { python3 -c "import $1" >/dev/null 2>&1; }

apt_need=() pip_need=()
have_libclang || apt_need+=(libclang-dev)
if [ "$want_test" = 1 ]; then
  command -v redis-server >/dev/null || apt_need+=(redis-server)
  { command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null; } || apt_need+=(redis-tools)
  have_py redis || pip_need+=("redis>=5,<6")
  have_py prometheus_client || pip_need+=("prometheus-client>=0.17")
fi
if [ "$want_tools" = 1 ]; then
  command -v perf >/dev/null || apt_need+=(linux-perf)
  have_py matplotlib || pip_need+=(matplotlib)
fi

sudo=""
if [ ${#apt_need[@]} -gt 0 ] && [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root or install: ${apt_need[*]}" >&2; exit 1; }
  sudo="sudo"
fi

if [ ${#apt_need[@]} -gt 0 ]; then
  echo "setup: installing ${apt_need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${apt_need[@]}" >/dev/null
  # The package starts a redis-server on 6379, shardis's port. Stop that one server:
  # by its service, or by the pid file the package's redis.conf names, never by
  # process name (another redis-server on the machine is not ours to stop).
  if [[ " ${apt_need[*]} " == *" redis-server "* ]]; then
    $sudo systemctl disable --now redis-server >/dev/null 2>&1 ||
      $sudo service redis-server stop >/dev/null 2>&1 || true
    pidfile=$(awk '$1 == "pidfile" { print $2 }' /etc/redis/redis.conf 2>/dev/null || true)
    if [ -n "$pidfile" ] && [ -s "$pidfile" ]; then
      pid=$(cat "$pidfile")
      if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ]; then
        $sudo kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
      fi
    fi
  fi
  if [[ " ${apt_need[*]} " == *" libclang-dev "* ]] && ! have_libclang; then
    echo "setup: libclang-dev installed but no loadable libclang found" >&2
    exit 1
  fi
fi

if [ ${#pip_need[@]} -gt 0 ]; then
  echo "setup: installing Python packages ${pip_need[*]}" >&2
  python3 -m pip install --quiet --disable-pip-version-check "${pip_need[@]}"
fi
