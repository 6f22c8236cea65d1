#!/usr/bin/env python3
"""Crash test: kill shardis with SIGKILL mid-write and check what survived.

Each round starts shardis on a fresh data directory, runs client threads that write
(SET, INCR, LPUSH, HSET, ZADD, and MSET across shards) on their own connections and
log every acknowledged reply with its time, kills the server with SIGKILL at a random
moment, restarts it on the same directory and checks:

* appendfsync always: every acknowledged write is there;
* appendfsync everysec: every write acknowledged more than `--window` seconds
  (default 1.5) before the kill is there; the newer ones may be lost;
* always: no key holds a value that was never written, and each INCR counter equals
  its last acknowledged value (or one more: an INCR in flight at the kill may land).

Prints a table of rounds, acknowledged writes and writes lost; exits 1 on a violation.
Run it through scripts/crash-test.sh, which builds the binary first.
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "shardis")


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return Exception(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("closed")
                self.buf += data
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(line)

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port, data, args):
    proc = subprocess.Popen(
        [BIN, "--port", str(port), "--dir", data, "--runtime", args.runtime,
         "--appendfsync", args.fsync, "--shards", "4", "--loglevel", "warning"] + args.shardis_args,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if Conn(port).call("PING") == "PONG":
                return proc
        except OSError:
            time.sleep(0.05)
    sys.exit("shardis did not start")


def writer(port, w, log, stop):
    """Writes until the server dies; appends (time, op, key, expected) per ack."""
    try:
        c = Conn(port)
        i = 0
        while not stop.is_set():
            i += 1
            op = i % 6
            if op == 0:
                key, val = f"str:{w}:{i}", f"v{w}.{i}"
                r = c.call("SET", key, val)
                ok = r == "OK"
            elif op == 1:
                key, r = f"ctr:{w}", c.call("INCR", f"ctr:{w}")
                val, ok = r, isinstance(r, int)
            elif op == 2:
                key, r = f"list:{w}", c.call("LPUSH", f"list:{w}", f"e{i}")
                val, ok = r, isinstance(r, int)
            elif op == 3:
                key, val = f"hash:{w}", f"f{i}"
                ok = isinstance(c.call("HSET", key, val, i), int)
            elif op == 4:
                key, val = f"zset:{w}", f"m{i}"
                ok = isinstance(c.call("ZADD", key, i, val), int)
            else:
                key, val = f"mset:{w}:{i}", f"v{i}"
                ok = c.call("MSET", key + ":a", val, key + ":b", val, key + ":c", val) == "OK"
            if ok:
                log.append((time.monotonic(), op, key, val))
    except (OSError, ConnectionError, ValueError):
        pass


def verify(port, logs, kill_time, args):
    """Returns (acked, lost, violations)."""
    c = Conn(port)
    acked = lost = 0
    violations = []
    for w, log in enumerate(logs):
        last_ctr = last_len = 0
        for t, op, key, val in log:
            acked += 1
            must = args.fsync == "always" or t < kill_time - args.window
            if op == 0:
                got = c.call("GET", key)
                present = got == val
                if got is not None and got != val:
                    violations.append(f"{key} holds {got!r}, never written")
            elif op == 1:
                last_ctr = val
                continue
            elif op == 2:
                last_len = val
                continue
            elif op == 3:
                present = c.call("HEXISTS", key, val) == 1
            elif op == 4:
                present = c.call("ZSCORE", key, val) is not None
            else:
                got = c.call("MGET", key + ":a", key + ":b", key + ":c")
                present = got == [val, val, val]
            if not present:
                lost += 1
                if must:
                    violations.append(f"acknowledged write lost: {key} {val}")
        ctr = int(c.call("GET", f"ctr:{w}") or 0)
        length = c.call("LLEN", f"list:{w}")
        if args.fsync == "always":
            if not last_ctr <= ctr <= last_ctr + 1:
                violations.append(f"ctr:{w} is {ctr}, last acknowledged INCR said {last_ctr}")
            if length < last_len:
                violations.append(f"list:{w} has {length} elements, an LPUSH acknowledged {last_len}")
        elif ctr > last_ctr + 1:
            violations.append(f"ctr:{w} is {ctr}, beyond the last INCR sent ({last_ctr}+1)")
    return acked, lost, violations


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--fsync", choices=["always", "everysec"], default="always")
    p.add_argument("--runtime", choices=["dual", "single"], default="dual")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--min-run", type=float, default=1.0, help="seconds of writes before the kill, at least")
    p.add_argument("--max-run", type=float, default=3.0)
    p.add_argument("--window", type=float, default=1.5, help="everysec: seconds of writes that may be lost")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--shardis-arg", dest="shardis_args", action="append", default=[],
                   help="extra shardis flag (repeatable), e.g. --shardis-arg=--always-sync=group")
    args = p.parse_args()
    rng = random.Random(args.seed)
    extra = f", {' '.join(args.shardis_args)}" if args.shardis_args else ""
    print(f"crash test: appendfsync {args.fsync}, runtime {args.runtime}{extra}, {args.clients} clients, "
          f"{args.rounds} rounds\n")
    print("| round | ran (s) | acknowledged | lost | lost within window | verdict |")
    print("|---|---|---|---|---|---|")
    failed = 0
    for rnd in range(1, args.rounds + 1):
        tmp = tempfile.mkdtemp(prefix="crash-")
        data = os.path.join(tmp, "data")
        port = free_port()
        proc = start(port, data, args)
        logs = [[] for _ in range(args.clients)]
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(port, w, logs[w], stop)) for w in range(args.clients)]
        for t in threads:
            t.start()
        run = rng.uniform(args.min_run, args.max_run)
        time.sleep(run)
        kill_time = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
        port = free_port()
        proc = start(port, data, args)
        acked, lost, violations = verify(port, logs, kill_time, args)
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        late = lost - sum(1 for v in violations if v.startswith("acknowledged write lost"))
        verdict = "ok" if not violations else f"FAIL: {violations[0]}"
        failed += bool(violations)
        print(f"| {rnd} | {run:.1f} | {acked} | {lost} | {late} | {verdict} |", flush=True)
    print(f"\n{args.rounds - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
