#!/usr/bin/env python3
"""Latency under storage pressure, dual vs single runtime, side by side.

For each runtime: start shardis with RocksDB options that make flushes, compactions
and write stalls happen within seconds (1 MB memtables, compaction at 2 L0 files,
slowdown at 3, stop at 6, a small value cache so GETs reach RocksDB), prefill keys,
start a heavy writer (redis-benchmark SET of 16 KB values), and while it runs, probe
with shardis-probe: PING, GET of existing keys spread over every shard, and new
connections. Reports the probes' percentiles and what RocksDB did in the window
(from INFO rocksdb), and writes the .hgrm files.

Run it through scripts/latency-under-compaction.sh, which builds the binaries first.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
PRESSURE = [
    "--rocksdb-write-buffer-size", "1048576",
    "--rocksdb-l0-compaction-trigger", "2",
    "--rocksdb-l0-slowdown-trigger", "3",
    "--rocksdb-l0-stop-trigger", "6",
    "--cache-size", "8388608",
]
ROCKS = ["rocksdb_compactions", "rocksdb_flushed_bytes", "rocksdb_stall_micros",
         "rocksdb_stall_delays", "rocksdb_stall_stops"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def info(port, section):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", section], capture_output=True, text=True).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def wait_ready(port, proc):
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit("shardis exited at start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(7) == b"+PONG\r\n":
                    return
        except OSError:
            time.sleep(0.05)
    sys.exit("shardis did not start")


def probe(port, kind, conns, rate, duration, hgrm, label):
    return subprocess.Popen(
        [os.path.join(BIN, "shardis-probe"), "--port", str(port), "--command", kind,
         "--connections", str(conns), "--rate", str(rate), "--duration", str(duration),
         "--keys", "20000", "--hgrm", hgrm, "--label", label],
        stdout=subprocess.PIPE, text=True)


def parse_probe(line):
    return dict(re.findall(r"(\w[\w.]*)=([\d.]+)", line))


def run(runtime, args, outdir):
    port = free_port()
    tmp = tempfile.mkdtemp(prefix=f"latency-{runtime}-")
    log = open(os.path.join(tmp, "server.log"), "w")
    server = subprocess.Popen(
        [os.path.join(BIN, "shardis"), "--port", str(port), "--dir", os.path.join(tmp, "data"),
         "--runtime", runtime, "--loglevel", "warning"] + PRESSURE + args.shardis_args,
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, server)
        subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set", "-r", "20000", "-n", "40000",
                        "-d", "100", "-q"], capture_output=True)
        writer = subprocess.Popen(
            ["redis-benchmark", "-p", str(port), "-t", "set", "-d", "16384", "-r", "1000000",
             "-n", "100000000", "-c", "16", "-P", "4", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        before = info(port, "rocksdb")
        probes = {
            "PING": probe(port, "ping", 4, 250, args.duration, f"{outdir}/{runtime}-ping.hgrm", "ping"),
            "GET": probe(port, "get", 2, 250, args.duration, f"{outdir}/{runtime}-get.hgrm", "get"),
            "connect": probe(port, "connect", 1, 50, args.duration, f"{outdir}/{runtime}-connect.hgrm", "connect"),
        }
        results = {name: parse_probe(p.communicate()[0]) for name, p in probes.items()}
        after = info(port, "rocksdb")
        writer.kill()
        writer.wait()
        activity = {k: int(after.get(k, 0)) - int(before.get(k, 0)) for k in ROCKS}
        return results, activity
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=15.0, help="probe window, seconds")
    p.add_argument("--out", default="latency-results", help="directory for the .hgrm files")
    p.add_argument("--runtimes", default="dual,single")
    p.add_argument("--shardis-arg", dest="shardis_args", action="append", default=[],
                   help="extra shardis flag (repeatable)")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for runtime in args.runtimes.split(","):
        print(f"running {runtime} ...", file=sys.stderr)
        results, activity = run(runtime, args, args.out)
        rows.append((runtime, results, activity))
    print(f"\nprobe window {args.duration:.0f}s under a 16 KB SET flood (16 clients, -P 4); "
          f"PING 4x250/s, GET 2x250/s, connect 1x50/s; open loop; ms\n")
    print("| runtime | probe | count | errors | p50 | p90 | p99 | p99.9 | max |")
    print("|---|---|---|---|---|---|---|---|---|")
    for runtime, results, _ in rows:
        for name, r in results.items():
            print(f"| {runtime} | {name} | {r.get('count', '?')} | {r.get('errors', '?')} | {r.get('p50', '?')} | "
                  f"{r.get('p90', '?')} | {r.get('p99', '?')} | {r.get('p99.9', '?')} | {r.get('max', '?')} |")
    print("\nRocksDB during the window (deltas of INFO rocksdb):\n")
    print("| runtime | flushes+compactions | flushed MB | stall time ms | slowdowns | stops |")
    print("|---|---|---|---|---|---|")
    for runtime, _, a in rows:
        print(f"| {runtime} | {a['rocksdb_compactions']} | {a['rocksdb_flushed_bytes'] / 1048576:.0f} | "
              f"{a['rocksdb_stall_micros'] / 1000:.0f} | {a['rocksdb_stall_delays']} | {a['rocksdb_stall_stops']} |")
    print(f"\nhistograms: {args.out}/<runtime>-<probe>.hgrm")


if __name__ == "__main__":
    main()
