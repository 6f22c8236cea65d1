"""redis-py's Lock against a running server: acquire, extend, reacquire, release, and
the release / extend / reacquire of a lock that was lost (its Lua scripts run through
EVALSHA, loaded with SCRIPT LOAD on NOSCRIPT). Usage: python3 locks.py PORT. Exits
non-zero on the first failed check, prints "ok" at the end."""
import sys
import time

import redis
from redis.exceptions import LockNotOwnedError

port = int(sys.argv[1])
r = redis.Redis(port=port)
r.flushall()
r.script_flush()

lock = r.lock("resource", timeout=1)
assert lock.acquire(blocking=False), "a free lock is acquired"
assert lock.owned() and lock.locked()
assert 0 < r.pttl("resource") <= 1000, r.pttl("resource")

# extend adds to the remaining time; reacquire resets it to the timeout.
assert lock.extend(2)
assert 1500 < r.pttl("resource") <= 3000, r.pttl("resource")
assert lock.extend(5, replace_ttl=True)
assert 4000 < r.pttl("resource") <= 5000, r.pttl("resource")
assert lock.reacquire()
assert 0 < r.pttl("resource") <= 1000, r.pttl("resource")

# Another holder can't take it, or release it.
other = r.lock("resource", timeout=1)
assert not other.acquire(blocking=False), "a held lock is refused"
impostor = r.lock("resource", timeout=1)
impostor.local.token = b"not-the-owner"
try:
    impostor.release()
    raise AssertionError("releasing someone else's lock succeeded")
except LockNotOwnedError:
    pass
assert lock.owned()

lock.release()
assert r.get("resource") is None
assert other.acquire(blocking=False), "a released lock is free"
other.release()

# A lock that expired and was taken by someone else: its release, extend and
# reacquire all fail, and the new holder keeps it.
short = r.lock("short", timeout=0.2)
assert short.acquire(blocking=False)
time.sleep(0.35)
thief = r.lock("short", timeout=5)
assert thief.acquire(blocking=False), "an expired lock is free"
# (release last: redis-py forgets its token before it asks the server.)
for op in (lambda: short.extend(1), short.reacquire, short.release):
    try:
        op()
        raise AssertionError("an operation on a lost lock succeeded")
    except LockNotOwnedError:
        pass
assert thief.owned() and r.pttl("short") > 4000
thief.release()

# Blocking acquire waits for a release.
held = r.lock("wait", timeout=0.3)
assert held.acquire(blocking=False)
waiter = r.lock("wait", timeout=1, blocking_timeout=2)
started = time.time()
assert waiter.acquire(), "the waiter gets the lock once it expires"
assert time.time() - started >= 0.1
waiter.release()

# The scripts were loaded once and run by SHA from then on.
assert all(r.script_exists(lock.lua_release.sha, lock.lua_extend.sha, lock.lua_reacquire.sha))
print("ok")
