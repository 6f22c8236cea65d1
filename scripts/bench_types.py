#!/usr/bin/env python3
"""Throughput of the issue-19 commands, shardis against redis-server in one run:
SETBIT, BITCOUNT, PFADD, PFCOUNT, GEOADD, GEOSEARCH and SORT.

Each server gets the same data first:
  * `bm`: a 1 MB bitmap (SETBIT of its last bit, then 20,000 random bits), stored in
    chunks by shardis;
  * `hll1`, `hll2`: HyperLogLogs of 100,000 elements each (dense);
  * `geo`: 100,000 points in a 2 x 2 degree square around (13, 38);
  * `list`: 100 random integers.
Then, servers and tests taking turns for --runs rounds, redis-benchmark runs each test
with 50 clients at pipeline 1 and 16:
  SETBIT b:<random> 100 1 | SETBIT bm 4194303 1 | BITCOUNT bm | PFADD hll1 <random element> |
  PFCOUNT hll1 (cached) | PFCOUNT hll1 hll2 (a merge each time) |
  GEOADD geo2 13.<random> 38.<random> <random member> |
  GEOSEARCH geo FROMLONLAT 13 38 BYRADIUS 5 km COUNT 10 ASC |
  SORT list | SORT list LIMIT 0 10 DESC
(the writes go to keys of their own, so that the read tests see the same data on both
servers), and prints the median requests/s of each, with shardis / redis. The slow tests (a 1 MB
BITCOUNT, a two-key PFCOUNT, GEOSEARCH, SORT) run a tenth or half the requests.

Redis runs with appendonly yes, appendfsync everysec (shardis's default durability).
Run it through scripts/bench-types.sh, which installs redis and builds shardis.
"""
import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pubsub import Conn, free_port, wait_up  # noqa: E402

TESTS = [
    # redis-benchmark's random numbers have leading zeros, which no bit offset may
    # have: random keys for small bitmaps, one offset for the big one (its cost does
    # not depend on the offset: one chunk in shardis, one byte in Redis).
    ("SETBIT small keys", ["-r", "100000", "SETBIT", "b:__rand_int__", "100", "1"], 1),
    ("SETBIT 1 MB bitmap", ["SETBIT", "bm", "4194303", "1"], 1),
    ("BITCOUNT 1 MB", ["BITCOUNT", "bm"], 10),
    ("PFADD", ["-r", "100000000", "PFADD", "hll3", "e:__rand_int__"], 1),
    ("PFCOUNT one key", ["PFCOUNT", "hll1"], 1),
    ("PFCOUNT two keys", ["PFCOUNT", "hll1", "hll2"], 10),
    ("GEOADD", ["-r", "1000000", "GEOADD", "geo2", "13.__rand_int__", "38.__rand_int__",
                "m:__rand_int__"], 1),
    ("GEOSEARCH 5 km COUNT 10", ["GEOSEARCH", "geo", "FROMLONLAT", "13", "38", "BYRADIUS",
                                 "5", "km", "COUNT", "10", "ASC"], 10),
    ("SORT 100", ["SORT", "list"], 2),
    ("SORT 100 LIMIT 0 10", ["SORT", "list", "LIMIT", "0", "10", "DESC"], 2),
]


def load(port):
    c = Conn(port)
    c.call("FLUSHALL")
    rng = random.Random(19)
    c.call("SETBIT", "bm", str(8 * 1024 * 1024 - 1), "1")
    for i in range(0, 20000, 500):
        for _ in range(500):
            c.send("SETBIT", "bm", str(rng.randrange(8 * 1024 * 1024)), "1")
        for _ in range(500):
            c.read()
    for key in ("hll1", "hll2"):
        for i in range(0, 100000, 1000):
            c.call("PFADD", key, *[f"{key}:{j}" for j in range(i, i + 1000)])
    for i in range(0, 100000, 1000):
        args = []
        for j in range(i, i + 1000):
            args += [f"{12 + 2 * rng.random():.6f}", f"{37 + 2 * rng.random():.6f}", f"p{j}"]
        c.call("GEOADD", "geo", *args)
    c.call("RPUSH", "list", *[str(rng.randrange(1000000)) for _ in range(100)])
    c.s.close()


def bench(port, test, requests, pipeline):
    run = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-n", str(requests), "-c", "50", "-P",
         str(pipeline), "-q", *test],
        capture_output=True, text=True)
    out = run.stdout + run.stderr
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(test)} on port {port}: {out[-300:]}")
    found = re.findall(r"([\d.]+) requests per second", out)
    if not found:
        raise RuntimeError(out)
    return float(found[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/shardis")
    ap.add_argument("--requests", type=int, default=50000, help="per test at pipeline 16")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-types-")
    rp, sp = free_port(), free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(rp), "--save", "", "--appendonly", "yes",
                              "--appendfsync", "everysec", "--dir", tmp], stdout=subprocess.DEVNULL)
    shardis = subprocess.Popen([args.binary, "--port", str(sp), "--dir", os.path.join(tmp, "shardis")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        wait_up(rp)
        wait_up(sp)
        load(rp)
        load(sp)
        for _ in range(args.runs):
            for name, test, slow in TESTS:
                for pipeline in (1, 16):
                    n = args.requests // slow if pipeline == 16 else args.requests // (5 * slow)
                    for server, port in (("redis", rp), ("shardis", sp)):
                        rps = bench(port, test, n, pipeline)
                        results.setdefault((name, pipeline, server), []).append(rps)
    finally:
        redis.kill()
        shardis.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"redis-benchmark -c 50, -n {args.requests} at -P 16 and {args.requests // 5} at -P 1 "
          "(a tenth or half of that for the slow tests); "
          f"median of {args.runs} runs, servers and tests taking turns\n")
    print("| test | pipeline | redis req/s | shardis req/s | shardis / redis |")
    print("|---|---|---|---|---|")
    for name, _, _ in TESTS:
        for pipeline in (1, 16):
            r = statistics.median(results[(name, pipeline, "redis")])
            s = statistics.median(results[(name, pipeline, "shardis")])
            print(f"| {name} | {pipeline} | {r:,.0f} | {s:,.0f} | {s / r:.2f}x |")


if __name__ == "__main__":
    main()
