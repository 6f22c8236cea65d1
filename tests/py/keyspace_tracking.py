"""Keyspace notifications and client-side caching through redis-py (issue 18).

redis-py's PubSub receives the keyspace and keyevent messages of writes, expiries and
a transaction made by another client; then a RESP2 client turns CLIENT TRACKING on
with REDIRECT to a PubSub connection subscribed to __redis__:invalidate, the way
RESP2 clients cache, and a write by someone else invalidates what it read. Prints
"ok" or fails with what differed.
"""
import sys
import time

import redis

port = int(sys.argv[1])
r = redis.Redis(port=port, decode_responses=True)
writer = redis.Redis(port=port, decode_responses=True)
r.flushall()
r.config_set("notify-keyspace-events", "KEA")


def messages(p, n, timeout=5.0):
    out, deadline = [], time.time() + timeout
    while len(out) < n and time.time() < deadline:
        m = p.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if m is not None:
            out.append(m)
    return out


# Keyspace channel of one key, keyevent channels of every key.
p = r.pubsub()
p.subscribe("__keyspace@0__:job:1")
p.psubscribe("__keyevent@0__:*")
for _ in range(2):
    confirmed = p.get_message(timeout=5)
    assert confirmed and confirmed["type"].endswith("subscribe"), confirmed
writer.hset("job:1", mapping={"state": "new", "tries": "0"})
writer.hincrby("job:1", "tries", 1)
writer.expire("job:1", 100)
writer.delete("job:1")
got = [(m["type"], m["channel"], m["data"]) for m in messages(p, 8)]
want = [
    ("message", "__keyspace@0__:job:1", "hset"),
    ("pmessage", "__keyevent@0__:hset", "job:1"),
    ("message", "__keyspace@0__:job:1", "hincrby"),
    ("pmessage", "__keyevent@0__:hincrby", "job:1"),
    ("message", "__keyspace@0__:job:1", "expire"),
    ("pmessage", "__keyevent@0__:expire", "job:1"),
    ("message", "__keyspace@0__:job:1", "del"),
    ("pmessage", "__keyevent@0__:del", "job:1"),
]
assert got == want, f"events: {got}"

# An expiry nobody reads is found by the sweeper: `expired`.
writer.set("lease", "x", px=50)
got = [(m["channel"], m["data"]) for m in messages(p, 3)]
assert got == [
    ("__keyevent@0__:set", "lease"),
    ("__keyevent@0__:expire", "lease"),
    ("__keyevent@0__:expired", "lease"),
], f"expiry: {got}"

# A pipeline in a transaction: its events, in order, after EXEC.
with writer.pipeline(transaction=True) as pipe:
    pipe.rpush("queue", "a", "b").lpop("queue").sadd("seen", "a").zadd("rank", {"a": 1})
    pipe.execute()
got = [(m["channel"], m["data"]) for m in messages(p, 4)]
assert got == [
    ("__keyevent@0__:rpush", "queue"),
    ("__keyevent@0__:lpop", "queue"),
    ("__keyevent@0__:sadd", "seen"),
    ("__keyevent@0__:zadd", "rank"),
], f"transaction: {got}"
p.close()
r.config_set("notify-keyspace-events", "")

# Client-side caching, RESP2 style: invalidations arrive on __redis__:invalidate.
# The listener's connection is found by its name (redis-py names it on connect).
inval = redis.Redis(port=port, decode_responses=True, client_name="invalidations")
listener = inval.pubsub()
listener.subscribe("__redis__:invalidate")
confirmed = listener.get_message(timeout=5)
assert confirmed and confirmed["type"] == "subscribe", confirmed
named = [c for c in writer.client_list() if c["name"] == "invalidations"]
assert len(named) == 1 and named[0]["cmd"] == "subscribe", named
assert named[0]["flags"] == "P", named
listener_id = int(named[0]["id"])
cacher = redis.Redis(port=port, decode_responses=True, single_connection_client=True)
cacher.client_tracking_on(clientid=listener_id)
assert cacher.client_getredir() == listener_id
me = cacher.client_info()
assert me["flags"] == "t" and int(me["redir"]) == listener_id, me
assert cacher.get("profile:7") is None
writer.set("profile:7", "v1")
got = messages(listener, 1)
assert [m["data"] for m in got] == [["profile:7"]], f"invalidate: {got}"
# Forgotten until read again: a second write sends nothing.
writer.set("profile:7", "v2")
assert messages(listener, 1, timeout=0.5) == [], "invalidated twice"
assert cacher.get("profile:7") == "v2"
writer.flushall()
got = messages(listener, 1)
assert [m["data"] for m in got] == [None], f"flush: {got}"
info = cacher.execute_command("CLIENT", "TRACKINGINFO")
assert info[:2] == ["flags", ["on"]] and int(info[3]) == listener_id, info
cacher.client_tracking_off()
assert cacher.client_getredir() == -1
print("ok")
