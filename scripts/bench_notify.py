#!/usr/bin/env python3
"""What keyspace notifications and client tracking cost, shardis against redis-server
in one run (issue 18).

For each server, three modes take turns (A B C A B C ...), each a redis-benchmark run
of SET and LPUSH (random keys, pipeline 16, 50 clients):
  * off: `notify-keyspace-events ""`, nobody tracks;
  * events: `notify-keyspace-events KEA` and one client in PSUBSCRIBE __key*__:*
    reading everything (two messages per write: keyspace and keyevent);
  * tracking: one RESP3 client in CLIENT TRACKING ON BCAST reading every
    invalidation (one per written key).
Prints the median requests/s of each mode, its ratio to `off`, and what the listener
received per write: messages for events (2: all delivered), invalidated keys for
tracking (below 1: a key written twice before its invalidation left counts once).

Run it through scripts/bench-notify.sh, which installs redis and builds shardis.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pubsub import Conn, free_port, wait_up  # noqa: E402

MODES = ("off", "events", "tracking")


class Listener:
    """A client that counts what it is sent (messages or invalidation pushes)."""

    def __init__(self, port, mode):
        self.conn = Conn(port)
        self.count = 0
        self.stop = False
        if mode == "events":
            self.conn.call("PSUBSCRIBE", "__key*__:*")
            self.markers = (b"pmessage",)
        else:
            # The replies (a RESP3 map, +OK) hold no marker: the drain skips them.
            self.conn.send("HELLO", "3")
            self.conn.send("CLIENT", "TRACKING", "ON", "BCAST")
            # Count the keys invalidated (redis-benchmark's keys), not the pushes:
            # servers put several keys in one push.
            self.markers = (b"$16\r\nkey:", b"$6\r\nmylist")
            time.sleep(0.1)
        self.conn.s.settimeout(0.2)
        self.thread = threading.Thread(target=self.drain, daemon=True)
        self.thread.start()

    def drain(self):
        tail = b""
        while not self.stop:
            try:
                d = self.conn.s.recv(1 << 20)
            except socket.timeout:
                continue
            if not d:
                return
            # A marker cut between two reads is found in the carried tail plus the
            # next read (the tail is too short to hold a whole one).
            data = tail + d
            self.count += sum(data.count(m) for m in self.markers)
            tail = data[-(max(map(len, self.markers)) - 1):]

    def close(self):
        time.sleep(0.5)  # what is still on its way
        self.stop = True
        self.thread.join()
        self.conn.s.close()


def run(port, mode, requests):
    ctl = Conn(port)
    ctl.call("CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 0 0")
    ctl.call("CONFIG", "SET", "notify-keyspace-events", "KEA" if mode == "events" else "")
    listener = Listener(port, mode) if mode != "off" else None
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-n", str(requests), "-c", "50", "-P", "16",
         "-r", "100000", "-t", "set,lpush", "-q"],
        capture_output=True, text=True, check=True).stdout
    rates = {}
    for line in out.replace("\r", "\n").splitlines():
        if "requests per second" in line:
            name, rest = line.split(":", 1)
            rates[name.strip()] = float(rest.split()[0])
    received = 0
    if listener:
        listener.close()
        received = listener.count
    ctl.call("CONFIG", "SET", "notify-keyspace-events", "")
    ctl.call("FLUSHALL")
    return rates, received / (2 * requests)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/shardis")
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-notify-")
    rp, sp = free_port(), free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(rp), "--save", "", "--appendonly", "yes",
                              "--appendfsync", "everysec", "--dir", tmp], stdout=subprocess.DEVNULL)
    shardis = subprocess.Popen([args.binary, "--port", str(sp), "--dir", os.path.join(tmp, "shardis")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        wait_up(rp)
        wait_up(sp)
        for _ in range(args.runs):
            for name, port in (("redis", rp), ("shardis", sp)):
                for mode in MODES:
                    rates, per_request = run(port, mode, args.requests)
                    for test, rps in rates.items():
                        results.setdefault((name, test, mode), []).append((rps, per_request))
    finally:
        redis.kill()
        shardis.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"redis-benchmark -n {args.requests} -c 50 -P 16 -r 100000 -t set,lpush; "
          f"median of {args.runs} runs, modes taking turns\n")
    print("| server | test | mode | requests/s | vs off | received per write |")
    print("|---|---|---|---|---|---|")
    for (name, test, mode), runs in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][1], MODES.index(kv[0][2]))):
        rps = statistics.median(r for r, _ in runs)
        base = statistics.median(r for r, _ in results[(name, test, "off")])
        per = statistics.median(p for _, p in runs)
        per_text = "-" if mode == "off" else f"{per:.2f}"
        print(f"| {name} | {test} | {mode} | {rps:,.0f} | {rps / base:.2f}x | {per_text} |")


if __name__ == "__main__":
    main()
