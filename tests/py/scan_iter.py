"""redis-py's hscan_iter, sscan_iter and zscan_iter over collections that page
(issue 19): every member once, values and scores with them. Prints "ok"."""
import sys

import redis

r = redis.Redis(port=int(sys.argv[1]), decode_responses=True)
r.delete("h", "s", "z")
n = 10000
for start in range(0, n, 1000):
    r.hset("h", mapping={f"f{i}": str(i) for i in range(start, start + 1000)})
    r.sadd("s", *[f"m{i}" for i in range(start, start + 1000)])
    r.zadd("z", {f"m{i}": i / 2 for i in range(start, start + 1000)})
cursor, first = r.hscan("h", 0, count=100)
# Bounded: about COUNT fields (Redis may return a few more, a bucket at a time).
assert cursor != 0 and len(first) < 200, (cursor, len(first))
h = dict(r.hscan_iter("h", count=250))
assert h == {f"f{i}": str(i) for i in range(n)}, len(h)
s = list(r.sscan_iter("s", count=250))
assert sorted(s) == sorted(f"m{i}" for i in range(n)), len(s)
z = dict(r.zscan_iter("z", count=250))
assert z == {f"m{i}": i / 2 for i in range(n)}, len(z)
assert sorted(r.hscan_iter("h", match="f99*")) == sorted(
    (f, str(int(f[1:]))) for f in [f"f{i}" for i in range(n)] if f.startswith("f99")
)
print("ok")
