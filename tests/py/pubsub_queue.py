"""redis-py against shardis (issue 18): PubSub (get_message, patterns, run_in_thread,
RESP3) and a BLPOP job queue with a reliable BLMOVE variant. Prints "ok"."""
import sys
import threading
import time

import redis

port = int(sys.argv[1])
r = redis.Redis(port=port, decode_responses=True)


def confirmations(p, n):
    for _ in range(n):
        m = p.get_message(timeout=2)
        assert m and m["type"] in ("subscribe", "psubscribe", "ssubscribe"), m


# PubSub: channel and pattern messages, in publish order, counted by PUBLISH.
p = r.pubsub()
p.subscribe("orders")
p.psubscribe("events.*")
confirmations(p, 2)
for i in range(200):
    assert r.publish("orders", f"o{i}") == 1
for i in range(200):
    m = p.get_message(timeout=2)
    assert m == {"type": "message", "pattern": None, "channel": "orders", "data": f"o{i}"}, m
assert r.publish("events.login", "u1") == 1
m = p.get_message(timeout=2)
assert m["type"] == "pmessage" and m["pattern"] == "events.*" and m["data"] == "u1", m
assert r.pubsub_numsub("orders", "nobody") == [("orders", 1), ("nobody", 0)]
assert r.pubsub_numpat() == 1
assert r.pubsub_channels() == ["orders"]
p.unsubscribe("orders")
p.punsubscribe("events.*")
assert p.get_message(timeout=2)["type"] == "unsubscribe"
assert p.get_message(timeout=2)["type"] == "punsubscribe"
assert r.publish("orders", "nobody listens") == 0
p.close()

# A handler thread (run_in_thread), fed from several publisher threads.
got = []
p2 = r.pubsub()
p2.subscribe(**{"jobs": lambda m: got.append(m["data"])})
worker = p2.run_in_thread(sleep_time=0.01)
time.sleep(0.2)


def publish(base):
    c = redis.Redis(port=port, decode_responses=True)
    for i in range(100):
        c.publish("jobs", f"{base}-{i}")


pubs = [threading.Thread(target=publish, args=(b,)) for b in range(4)]
for t in pubs:
    t.start()
for t in pubs:
    t.join()
deadline = time.time() + 5
while len(got) < 400 and time.time() < deadline:
    time.sleep(0.01)
worker.stop()
assert sorted(got) == sorted(f"{b}-{i}" for b in range(4) for i in range(100)), len(got)
for b in range(4):
    mine = [g for g in got if g.startswith(f"{b}-")]
    assert mine == [f"{b}-{i}" for i in range(100)], "one publisher's messages keep their order"

# RESP3: pushes and replies on one connection.
r3 = redis.Redis(port=port, protocol=3, decode_responses=True)
p3 = r3.pubsub()
p3.subscribe("c3")
confirmations(p3, 1)
assert r.publish("c3", "x") == 1
m = p3.get_message(timeout=2)
assert m["type"] == "message" and m["data"] == "x", m
p3.close()

# Shard channels.
p4 = r.pubsub()
p4.ssubscribe("s1")
confirmations(p4, 1)
assert r.spublish("s1", "shard") == 1
m = p4.get_message(timeout=2)
assert m["type"] == "smessage" and m["data"] == "shard", m
p4.close()

# A job queue: producers push to two priorities, workers BLPOP both (high first);
# every job is done exactly once.
r.delete("q:high", "q:low", "q:processing")
done = []
lock = threading.Lock()


def work():
    c = redis.Redis(port=port, decode_responses=True)
    while True:
        item = c.blpop(["q:high", "q:low"], timeout=5)
        assert item is not None, "a worker waited 5 s for a job"
        if item[1] == "stop":
            return
        with lock:
            done.append(item[1])


workers = [threading.Thread(target=work) for _ in range(4)]
for t in workers:
    t.start()
time.sleep(0.2)
assert r.info("clients")["blocked_clients"] == 4
for i in range(500):
    r.rpush("q:low" if i % 3 else "q:high", f"job{i}")
for _ in workers:
    r.rpush("q:low", "stop")
for t in workers:
    t.join()
assert sorted(done) == sorted(f"job{i}" for i in range(500)), len(done)

# Both lists have data: BLPOP takes the first key given.
r.rpush("q:low", "L")
r.rpush("q:high", "H")
assert r.blpop(["q:high", "q:low"], timeout=1) == ("q:high", "H")
assert r.blpop(["q:high", "q:low"], timeout=1) == ("q:low", "L")
assert r.blpop(["q:high", "q:low"], timeout=0.1) is None

# A reliable queue: BLMOVE into a processing list, LREM when done.
def reliable():
    c = redis.Redis(port=port, decode_responses=True)
    job = c.blmove("q:low", "q:processing", timeout=5, src="LEFT", dest="RIGHT")
    assert job == "reliable-job", job
    c.lrem("q:processing", 1, job)


t = threading.Thread(target=reliable)
t.start()
time.sleep(0.2)
r.rpush("q:low", "reliable-job")
t.join()
assert r.llen("q:processing") == 0 and r.llen("q:low") == 0
assert r.bzpopmin("nosuchzset", timeout=0.05) is None
r.zadd("z", {"a": 1, "b": 2})
assert r.bzpopmax("z", timeout=1) == ("z", "b", 2.0)
print("ok")
