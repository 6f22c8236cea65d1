#!/usr/bin/env python3
"""The benchmark kit: shardis dual vs shardis single vs redis-server, side by side.

Starts every configuration once, on fresh data directories and their own ports, then
walks the redis-benchmark matrix cell by cell; inside a cell the configurations take
turns (A B C A B C ...) so that the machine's noise hits them alike, and the median
of the runs is reported. Prints one markdown table with requests/s, p50 and p99 per
configuration and the dual/single and dual/redis ratios.

Run it through scripts/bench.sh, which builds the release binary first.
"""
import argparse
import csv
import io
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = ["set", "get", "incr", "lpush", "sadd", "hset", "zadd", "lrange_100", "mset"]
# The command each redis-benchmark test needs the server to implement.
NEEDS = {"lrange_100": "lrange", "lpush": "lpush", "sadd": "sadd", "hset": "hset", "zadd": "zadd"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def taskset(cores):
    return ["taskset", "-c", cores] if cores else []


def wait_port(port, proc, what):
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited at start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start on {port}")


def call(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True)
    return out.stdout.strip()


def info_fields(text):
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def quiesce(servers, limit):
    """Waits (at most `limit` seconds) until no server has background work left, so that
    one run does not pay for the flushes and compactions another run left behind. A
    run's own background work is still charged to it while the run lasts."""
    deadline = time.time() + limit
    while time.time() < deadline:
        if not any(s.busy() for s in servers):
            return 0
        time.sleep(0.1)
    return 1


class Server:
    def __init__(self, name, argv, port, workdir, redis=False):
        self.name, self.port, self.workdir, self.redis = name, port, workdir, redis
        self.log = open(os.path.join(workdir, "server.log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=workdir)
        wait_port(port, self.proc, name)

    def busy(self):
        """What background work this server still has, or None when it is idle: RocksDB
        flushes and compactions for shardis, an AOF rewrite for Redis."""
        if self.redis:
            info = info_fields(call(self.port, "INFO", "persistence"))
            return "aof rewrite" if info.get("aof_rewrite_in_progress", "0") != "0" else None
        info = info_fields(call(self.port, "INFO", "rocksdb"))
        work = [f"{k}={info[k]}" for k in ("rocksdb_running_flushes", "rocksdb_running_compactions",
                                           "rocksdb_pending_compaction_bytes")
                if info.get(k, "0") != "0"]
        return ", ".join(work) or None

    def supports(self, command):
        return call(self.port, "COMMAND", "INFO", command) not in ("", "(nil)")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def start_servers(args, tmp):
    binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "shardis")
    variants = dict(v.split("=", 1) for v in args.variants)
    binaries = dict(v.split("=", 1) for v in args.binaries)
    servers = []
    for name in args.configs:
        port = free_port()
        workdir = tempfile.mkdtemp(prefix=name + "-", dir=tmp)
        # A variant is `NAME=BASE:FLAG,FLAG...` with BASE one of dual, single, redis.
        base, _, extra = variants.get(name, name).partition(":")
        extra = [f for f in extra.split(",") if f]
        if base in ("dual", "single"):
            argv = taskset(args.server_cores) + [
                binaries.get(name, binary), "--port", str(port), "--dir", os.path.join(workdir, "data"),
                "--runtime", base, "--loglevel", "warning",
                "--network-threads", str(args.network_threads),
                "--storage-threads", str(args.storage_threads),
            ] + args.shardis_args + extra
        elif base == "redis":
            if not shutil.which("redis-server"):
                print("redis-server not installed: no Redis reference", file=sys.stderr)
                continue
            argv = taskset(args.server_cores) + [
                "redis-server", "--port", str(port), "--dir", workdir, "--save", "",
                "--appendonly", "yes", "--appendfsync", "everysec",
            ] + args.redis_args + extra
        else:
            sys.exit(f"unknown configuration {name}")
        servers.append(Server(name, argv, port, workdir, redis=base == "redis"))
    return servers


def requests_for(test, pipeline, args):
    """Requests per run: pipelined runs are scaled up (x4 at P16) so that they last about
    as long as the P1 runs instead of a fraction of a second; MSET, which carries ten
    keys per request, is not (at P16 with 1 KB values that would be 2 GB per run, which
    RocksDB on this machine can only absorb by throttling writes for minutes)."""
    if test == "mset":
        return args.requests
    return args.requests * max(1, min(pipeline, 16) // 4)


def bench_once(server, test, pipeline, size, args):
    argv = taskset(args.client_cores) + [
        "redis-benchmark", "-p", str(server.port), "-t", test, "-n", str(requests_for(test, pipeline, args)),
        "-c", str(args.clients), "-r", str(args.keyspace), "-P", str(pipeline),
        "-d", str(size), "--csv",
    ]
    out = subprocess.run(argv, capture_output=True, text=True)
    rows = list(csv.reader(io.StringIO(out.stdout)))
    if out.returncode != 0 or len(rows) < 2 or "rror" in out.stdout + out.stderr:
        # Reported in the table as an error cell; the other cells still run.
        print(f"redis-benchmark failed against {server.name} ({test} P{pipeline} {size}B): "
              f"{(out.stdout + out.stderr).strip()[-300:]}", file=sys.stderr)
        return (float("nan"), float("nan"), float("nan"))
    head, vals = rows[0], rows[1]
    row = dict(zip(head, vals))
    return float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--short", action="store_true", help="a quick matrix that finishes in under two minutes")
    p.add_argument("--runs", type=int, default=3, help="runs per cell and configuration (median reported)")
    p.add_argument("--requests", type=int, default=100000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--quiesce", type=float, default=60,
                   help="before each run, wait up to this many seconds for every server's "
                        "background work (RocksDB flushes and compactions, AOF rewrites) to finish; 0: don't")
    p.add_argument("--keyspace", type=int, default=100000, help="redis-benchmark -r")
    p.add_argument("--tests", default=",".join(TESTS))
    p.add_argument("--pipelines", default="1,16")
    p.add_argument("--sizes", default="16,1024")
    p.add_argument("--configs", default="dual,single,redis")
    p.add_argument("--network-threads", type=int, default=1)
    p.add_argument("--storage-threads", type=int, default=1)
    p.add_argument("--server-cores", help="taskset list for the servers, e.g. 0")
    p.add_argument("--client-cores", help="taskset list for redis-benchmark, e.g. 1")
    p.add_argument("--shardis-arg", dest="shardis_args", action="append", default=[],
                   help="extra shardis flag (repeatable), e.g. --shardis-arg=--shards=4")
    p.add_argument("--redis-arg", dest="redis_args", action="append", default=[])
    p.add_argument("--variant", dest="variants", action="append", default=[],
                   help="a named configuration NAME=BASE:FLAG,FLAG (BASE: dual, single or redis), "
                        "e.g. b1=dual:--batch-max=1; list NAME in --configs")
    p.add_argument("--binary", dest="binaries", action="append", default=[],
                   help="NAME=PATH: run configuration NAME with another shardis build, e.g. "
                        "old=/tmp/shardis-old with --variant old=dual: (A/B of two commits)")
    args = p.parse_args()
    if args.short:
        args.runs, args.requests, args.sizes = 1, 20000, "16"
    args.configs = args.configs.split(",")
    pipelines = [int(x) for x in args.pipelines.split(",")]
    sizes = [int(x) for x in args.sizes.split(",")]

    tmp = tempfile.mkdtemp(prefix="shardis-bench-")
    servers = start_servers(args, tmp)
    try:
        tests = []
        for t in args.tests.split(","):
            need = NEEDS.get(t, t)
            missing = [s.name for s in servers if not s.supports(need)]
            if missing:
                print(f"skipping {t}: {need.upper()} not implemented by {', '.join(missing)}", file=sys.stderr)
            else:
                tests.append(t)
        results = {}
        timeouts = 0
        started = time.time()
        for pipeline in pipelines:
            for size in sizes:
                for test in tests:
                    for _ in range(args.runs):
                        for s in servers:
                            if args.quiesce:
                                timeouts += quiesce(servers, args.quiesce)
                            r = bench_once(s, test, pipeline, size, args)
                            results.setdefault((test, pipeline, size, s.name), []).append(r)
                    print(f"  {test} P{pipeline} {size}B done", file=sys.stderr)
        elapsed = time.time() - started
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if timeouts:
        print(f"{timeouts} run(s) started before the servers' background work had finished "
              f"(--quiesce {args.quiesce}s was not enough)", file=sys.stderr)
    report(results, tests, pipelines, sizes, [s.name for s in servers], args, elapsed)


def median(rows, i):
    """Median of the runs; any failed run makes the cell a failure (nan)."""
    values = [r[i] for r in rows]
    if any(math.isnan(v) for v in values):
        return float("nan")
    return statistics.median(values)


def report(results, tests, pipelines, sizes, names, args, elapsed):
    print(f"\n{args.clients} clients, {args.requests} requests per run (pipelined runs but MSET: x P/4, at most x4), keyspace {args.keyspace}, "
          f"median of {args.runs} run(s), configurations alternating; took {elapsed:.0f}s")
    if args.quiesce:
        print(f"before each run the kit waited (up to {args.quiesce:.0f}s) until no server had "
              f"background work left")
    print(f"servers pinned to: {args.server_cores or 'none'}, client pinned to: {args.client_cores or 'none'}; "
          f"shardis: {args.network_threads} network + {args.storage_threads} storage threads "
          f"(single: {args.network_threads + args.storage_threads} workers)\n")
    cols = ["test", "P", "size"] + [f"{n} rps" for n in names]
    # The first configuration against each of the others.
    ratios = [(names[0], other) for other in names[1:]]
    cols += [f"{a}/{b}" for a, b in ratios] + [f"{n} p50/p99 ms" for n in names]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    agg = {}
    for pipeline in pipelines:
        for size in sizes:
            for test in tests:
                rps = {n: median(results[(test, pipeline, size, n)], 0) for n in names}
                row = [test.upper(), str(pipeline), str(size)] + [
                    "error" if math.isnan(rps[n]) else f"{rps[n]:,.0f}" for n in names
                ]
                for a, b in ratios:
                    r = rps[a] / rps[b] if rps[b] else float("nan")
                    if not math.isnan(r):
                        agg.setdefault((a, b, pipeline), []).append(r)
                    row.append("error" if math.isnan(r) else f"{r:.2f}x")
                for n in names:
                    rows = results[(test, pipeline, size, n)]
                    row.append(f"{median(rows, 1):.3f}/{median(rows, 2):.3f}")
                print("| " + " | ".join(row) + " |")
    print()
    for (a, b, pipeline), rs in sorted(agg.items()):
        geo = math.exp(sum(math.log(r) for r in rs) / len(rs))
        print(f"{a}/{b} at P{pipeline}: geometric mean {geo:.2f}x over {len(rs)} cells "
              f"(min {min(rs):.2f}x, max {max(rs):.2f}x)")


if __name__ == "__main__":
    main()
