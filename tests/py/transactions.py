"""redis-py against a running server: pipeline() (MULTI/EXEC), pipeline(transaction=False),
transaction(func, *watches) with a conflicting writer, and an explicit WATCH that loses.
Usage: python3 transactions.py PORT. Exits non-zero on the first failed check."""
import sys
import threading

import redis

port = int(sys.argv[1])
r = redis.Redis(port=port, decode_responses=True)
other = redis.Redis(port=port, decode_responses=True)
r.flushall()

# A transactional pipeline: keys on several shards, replies in order.
with r.pipeline() as p:
    p.set("acct:a", 10).set("acct:b", 20).incrby("acct:a", 5).mget("acct:a", "acct:b", "none")
    p.hset("h", mapping={"f": "v", "g": "w"}).hgetall("h").rpush("l", 1, 2, 3).lrange("l", 0, -1)
    got = p.execute()
assert got == [True, True, 15, ["15", "20", None], 2, {"f": "v", "g": "w"}, 3, ["1", "2", "3"]], got

# A failing command inside EXEC fails alone; redis-py raises it after the rest applied.
with r.pipeline() as p:
    p.set("s", "x").lpush("s", 1).set("after", 1)
    try:
        p.execute()
        raise AssertionError("the WRONGTYPE error was not raised")
    except redis.ResponseError as e:
        assert "WRONGTYPE" in str(e), e
assert r.get("after") == "1" and r.get("s") == "x"

# A queueing error aborts the whole transaction.
with r.pipeline() as p:
    p.set("never", 1)
    p.execute_command("SET", "only-one-arg")
    try:
        p.execute()
        raise AssertionError("EXECABORT was not raised")
    except redis.ResponseError as e:
        assert "EXECABORT" in str(e) or "wrong number" in str(e), e
assert r.get("never") is None

# A plain pipeline (no MULTI).
with r.pipeline(transaction=False) as p:
    for i in range(100):
        p.set(f"k{i}", i)
    p.mget([f"k{i}" for i in range(100)])
    got = p.execute()
assert got[:100] == [True] * 100 and got[100] == [str(i) for i in range(100)], got[100][:5]

# transaction(): the function runs again when a watched key changed under it.
r.mset({"acct:a": 100, "acct:b": 0})
calls = []


def move(pipe):
    a = int(pipe.get("acct:a"))
    b = int(pipe.get("acct:b"))
    calls.append((a, b))
    if len(calls) == 1:
        other.incrby("acct:a", 1000)  # a conflicting writer, between WATCH and EXEC
    pipe.multi()
    pipe.set("acct:a", a - 10)
    pipe.set("acct:b", b + 10)


r.transaction(move, "acct:a", "acct:b")
assert len(calls) == 2, calls
assert calls[1] == (1100, 0), calls
assert r.mget("acct:a", "acct:b") == ["1090", "10"], r.mget("acct:a", "acct:b")

# An explicit WATCH that loses raises WatchError; one that wins applies.
with r.pipeline() as p:
    p.watch("acct:b")
    v = int(p.get("acct:b"))
    other.set("acct:b", 7)
    p.multi()
    p.set("acct:b", v + 1)
    try:
        p.execute()
        raise AssertionError("WatchError was not raised")
    except redis.WatchError:
        pass
assert r.get("acct:b") == "7"
with r.pipeline() as p:
    p.watch("acct:b")
    v = int(p.get("acct:b"))
    p.multi()
    p.set("acct:b", v + 1)
    assert p.execute() == [True]
assert r.get("acct:b") == "8"

# Many threads increment one counter through transaction(): no increment is lost.
r.set("counter", 0)


def bump(n):
    c = redis.Redis(port=port, decode_responses=True)
    for _ in range(n):
        c.transaction(lambda p: (lambda v: (p.multi(), p.set("counter", v + 1)))(int(p.get("counter"))), "counter")


threads = [threading.Thread(target=bump, args=(50,)) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert r.get("counter") == "200", r.get("counter")
print("ok")
