#!/usr/bin/env python3
"""Blocking commands and pub/sub, shardis against redis-server in one run (issue 18).

Measures, for each server:
  * wake-up latency: an RPUSH on one connection to the BLPOP reply on another (for
    shardis the two are on different network threads), p50/p99 over --rounds;
  * PUBLISH throughput (redis-benchmark, pipeline 16) with 1 and with 100
    subscribers, and the rate at which the subscribers received every message;
  * for shardis, while every shard is stalled (DEBUG STORAGE-STALL): PUBLISH
    latency, PING latency, and the BLPOP wake-up (which needs storage: it waits);
  * memory (RSS growth) for --waiters clients blocked in BLPOP.

Run it through scripts/bench-pubsub.sh, which installs redis and builds shardis.
"""
import argparse
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time


def enc(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, *args):
        self.s.sendall(enc(*args))

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b"-", b":", b"_", b",", b"#"):
            return rest
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if t in (b"*", b">"):
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(line)

    def call(self, *args):
        self.send(*args)
        return self.read()


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def thread_of(c):
    info = c.call("CLIENT", "INFO").decode()
    for f in info.split():
        if f.startswith("net-thread="):
            return f[len("net-thread="):]
    return "redis"


def two_threads(port):
    """Two connections on different network threads, if the server has several."""
    first = Conn(port)
    t = thread_of(first)
    for _ in range(200):
        c = Conn(port)
        if t == "redis" or thread_of(c) != t:
            return first, c
    return first, Conn(port)


def wakeup(port, rounds, key="q"):
    pusher, waiter = two_threads(port)
    pusher.call("DEL", key)
    lat = []
    for _ in range(rounds):
        waiter.send("BLPOP", key, 0)
        time.sleep(0.001)  # let it block
        t0 = time.perf_counter()
        pusher.send("RPUSH", key, "x")
        waiter.read()
        lat.append((time.perf_counter() - t0) * 1e6)
        pusher.read()
    return pct(lat, 50), pct(lat, 99)


def publish_rate(port, subscribers, requests, payload=16):
    ctl = Conn(port)
    ctl.call("CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 0 0")
    subs = []
    for _ in range(subscribers):
        c = Conn(port)
        c.call("SUBSCRIBE", "bench")
        c.s.setblocking(False)
        subs.append(c)
    want = requests * subscribers
    got = [0]
    done = threading.Event()
    msg_tail = b"bench\r\n$%d\r\n" % payload

    def drain():
        sel = selectors.DefaultSelector()
        for c in subs:
            sel.register(c.s, selectors.EVENT_READ)
        while got[0] < want:
            for key, _ in sel.select(timeout=10):
                d = key.fileobj.recv(1 << 20)
                if not d:
                    continue
                got[0] += d.count(msg_tail)
            if not sel.select(timeout=0) and time.time() - started > 120:
                break
        done.set()

    started = time.time()
    t = threading.Thread(target=drain, daemon=True)
    t.start()
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-n", str(requests), "-c", "20", "-P", "16",
         "-q", "publish", "bench", "x" * payload],
        capture_output=True, text=True, check=True).stdout
    rps = float(out.split(":")[-1].split()[0])
    done.wait(120)
    delivered = got[0] / (time.time() - started)
    for c in subs:
        c.s.close()
    return rps, delivered, got[0] == want


def stalled(port, ms=3000, rounds=100):
    """PUBLISH (to a subscriber on another network thread) and PING latency, first as
    is and then while every shard is stalled, and when a BLPOP woken during the stall
    answers."""
    pub, sub = two_threads(port)
    sub.call("SUBSCRIBE", "stall")
    ping = Conn(port)
    pusher, waiter = Conn(port), Conn(port)
    pusher.call("DEL", "sq")

    def sample():
        pl, gl = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            pub.call("PUBLISH", "stall", "m")
            sub.read()
            pl.append((time.perf_counter() - t0) * 1e6)
            t0 = time.perf_counter()
            ping.call("PING")
            gl.append((time.perf_counter() - t0) * 1e6)
            time.sleep(0.005)
        return pct(pl, 50), pct(pl, 99), pct(gl, 50), pct(gl, 99)

    calm = sample()
    ctl = Conn(port)
    ctl.call("DEBUG", "STORAGE-STALL", ms)
    time.sleep(0.05)
    t_stall = time.perf_counter()
    waiter.send("BLPOP", "sq", 0)
    pusher.send("RPUSH", "sq", "x")
    during = sample()
    waiter.read()
    woke = (time.perf_counter() - t_stall) * 1e3
    return calm, during, woke


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def waiters_memory(port, pid, n):
    before = rss_kib(pid)
    conns = []
    for i in range(n):
        c = Conn(port)
        c.send("BLPOP", f"w{i % 100}", 0)
        conns.append(c)
    ctl = Conn(port)
    deadline = time.time() + 60
    while time.time() < deadline:
        info = ctl.call("INFO", "clients").decode()
        blocked = int(info.split("blocked_clients:")[1].split()[0])
        if blocked >= n:
            break
        time.sleep(0.05)
    time.sleep(0.5)
    grown = rss_kib(pid) - before
    cpu0 = cpu_ticks(pid)
    time.sleep(2)
    idle_cpu = (cpu_ticks(pid) - cpu0) / os.sysconf("SC_CLK_TCK") / 2 * 100
    for c in conns:
        c.s.close()
    return grown / 1024, grown / n, idle_cpu


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_up(port):
    for _ in range(600):
        try:
            if Conn(port).call("PING") == b"PONG":
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"server on {port} did not start")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/shardis")
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--waiters", type=int, default=10000)
    ap.add_argument("--server-cores", default="")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-pubsub-")
    pin = ["taskset", "-c", args.server_cores] if args.server_cores else []
    rp, sp = free_port(), free_port()
    redis = subprocess.Popen(pin + ["redis-server", "--port", str(rp), "--save", "", "--appendonly", "yes",
                                    "--appendfsync", "everysec", "--dir", tmp, "--maxclients", "20000"],
                             stdout=subprocess.DEVNULL)
    shardis = subprocess.Popen(pin + [args.binary, "--port", str(sp), "--dir", os.path.join(tmp, "shardis"),
                                      "--enable-debug-command", "yes", "--maxclients", "20000"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(rp)
        wait_up(sp)
        servers = [("redis", rp, redis.pid), ("shardis", sp, shardis.pid)]
        # Memory first, on fresh servers: what the waiters' connections really cost.
        rows = {name: {"mem": waiters_memory(port, pid, args.waiters)} for name, port, pid in servers}
        for name, port, pid in servers:
            rows[name]["wake"] = wakeup(port, args.rounds)
        for name, port, pid in servers:
            rows[name]["pub1"] = publish_rate(port, 1, args.requests)
            rows[name]["pub100"] = publish_rate(port, 100, args.requests // 10)
        stall = stalled(sp)
    finally:
        redis.kill()
        shardis.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wake-up rounds {args.rounds}, PUBLISH requests {args.requests} (1 subscriber) and "
          f"{args.requests // 10} (100 subscribers), {args.waiters} waiters\n")
    print("| measure | redis | shardis | shardis/redis |")
    print("|---|---|---|---|")
    r, s = rows["redis"], rows["shardis"]
    print(f"| BLPOP wake-up p50 (µs) | {r['wake'][0]:.0f} | {s['wake'][0]:.0f} | {s['wake'][0] / r['wake'][0]:.2f}x |")
    print(f"| BLPOP wake-up p99 (µs) | {r['wake'][1]:.0f} | {s['wake'][1]:.0f} | {s['wake'][1] / r['wake'][1]:.2f}x |")
    for k, label in (("pub1", "1 subscriber"), ("pub100", "100 subscribers")):
        print(f"| PUBLISH/s, {label} | {r[k][0]:.0f} | {s[k][0]:.0f} | {s[k][0] / r[k][0]:.2f}x |")
        print(f"| messages delivered/s, {label} (all: {r[k][2]}/{s[k][2]}) | {r[k][1]:.0f} | {s[k][1]:.0f} | "
              f"{s[k][1] / r[k][1]:.2f}x |")
    print(f"| RSS for {args.waiters} waiters (MiB) | {r['mem'][0]:.1f} | {s['mem'][0]:.1f} | "
          f"{s['mem'][0] / max(r['mem'][0], 0.01):.2f}x |")
    print(f"| per waiter (KiB) | {r['mem'][1]:.1f} | {s['mem'][1]:.1f} | |")
    print(f"| CPU while they wait (% of a core) | {r['mem'][2]:.1f} | {s['mem'][2]:.1f} | |")
    print()
    calm, during, woke = stall
    print("shardis, PUBLISH to a subscriber on another network thread and PING (µs), "
          "as is and with every shard stalled for 3 s (DEBUG STORAGE-STALL 3000):\n")
    print("| | PUBLISH p50 | PUBLISH p99 | PING p50 | PING p99 |")
    print("|---|---|---|---|---|")
    print("| as is | %.0f | %.0f | %.0f | %.0f |" % calm)
    print("| stalled | %.0f | %.0f | %.0f | %.0f |" % during)
    print(f"\nA BLPOP woken by an RPUSH sent at the start of the stall answered after {woke:.0f} ms "
          f"(the pop is a write: it waits for the shard).")


if __name__ == "__main__":
    main()
