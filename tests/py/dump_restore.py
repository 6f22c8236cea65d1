"""redis-py's own dump and restore against shardis: every type round trips
(including a chunked string and a list of several quicklist nodes), restore's
replace, absttl, idletime and frequency arguments, and its errors as redis-py
raises them. Prints "ok"."""
import sys
import time

import redis

r = redis.Redis(port=int(sys.argv[1]))
r.flushall()
r.set("str", "hello")
r.setrange("chunked", 30000, "tail")
r.rpush("list", *[f"element {i}" for i in range(3000)])
r.sadd("set", "a", "b", "c")
r.sadd("ints", *range(-5, 100))
r.zadd("zset", {"a": 1.5, "b": float("-inf"), "c": 1e300})
r.hset("hash", mapping={"f1": "v1", "f2": "2"})


def whole(key):
    kind = r.type(key)
    if kind == b"string":
        return r.get(key)
    if kind == b"list":
        return r.lrange(key, 0, -1)
    if kind == b"set":
        return sorted(r.smembers(key))
    if kind == b"zset":
        return r.zrange(key, 0, -1, withscores=True)
    if kind == b"hash":
        return r.hgetall(key)
    raise AssertionError(kind)


for key in ["str", "chunked", "list", "set", "ints", "zset", "hash"]:
    payload = r.dump(key)
    assert isinstance(payload, bytes) and len(payload) > 10, key
    assert r.restore(key + ".copy", 0, payload) == b"OK"
    assert whole(key + ".copy") == whole(key), key
    assert r.ttl(key + ".copy") == -1
    try:
        r.restore(key + ".copy", 0, payload)
        raise AssertionError("restored over an existing key")
    except redis.ResponseError as e:
        assert str(e) == "BUSYKEY Target key name already exists.", e
    assert r.restore(key + ".copy", 5000, payload, replace=True) == b"OK"
    assert 0 < r.pttl(key + ".copy") <= 5000
    at = int(time.time() * 1000) + 600000
    assert r.restore(key + ".abs", at, payload, absttl=True, idletime=10) == b"OK"
    assert r.pexpiretime(key + ".abs") == at
    assert r.restore(key + ".freq", 0, payload, frequency=100) == b"OK"
    assert whole(key + ".freq") == whole(key)

assert r.dump("nokey") is None
for args, kwargs, text in [
    ((-1, r.dump("str")), {}, "Invalid TTL value, must be >= 0"),
    ((0, b"junk"), {}, "DUMP payload version or checksum are wrong"),
    ((0, r.dump("str")), {"idletime": -1}, "Invalid IDLETIME value, must be >= 0"),
    ((0, r.dump("str")), {"frequency": 256}, "Invalid FREQ value, must be >= 0 and <= 255"),
]:
    try:
        r.restore("fresh", *args, **kwargs)
        raise AssertionError(f"no error for {args} {kwargs}")
    except redis.ResponseError as e:
        assert str(e) == text, (str(e), text)
assert not r.exists("fresh")
print("ok")
