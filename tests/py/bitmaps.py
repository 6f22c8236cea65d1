"""redis-py's own bitmap calls against shardis (issue 19): setbit, getbit, bitcount,
bitpos, bitop, bitfield (its builder), bitfield_ro and lcs, with keys on several
shards. Prints "ok"."""
import sys

import redis

r = redis.Redis(port=int(sys.argv[1]))
assert r.setbit("b", 7, 1) == 0
assert r.setbit("b", 7, 1) == 1
assert r.getbit("b", 7) == 1 and r.getbit("b", 1000) == 0
r.set("s", "foobar")
assert r.bitcount("s") == 26
assert r.bitcount("s", 1, 1) == 6
assert r.bitcount("s", 5, 30, "BIT") == 17
assert r.bitpos("s", 1) == 1
assert r.bitpos("s", 0, 2, -1) == 16
r.set("k1", "foobar")
r.set("k2", "abcdef")
assert r.bitop("AND", "dest", "k1", "k2") == 6
assert r.get("dest") == b"`bc`ab"
assert r.bitop("NOT", "dest", "k1") == 6
field = r.bitfield("bf")
field.set("u8", 0, 200).incrby("u8", 0, 100).get("i8", 0)
assert field.execute() == [0, 44, 44]
sat = r.bitfield("bf", default_overflow="SAT")
assert sat.incrby("u8", 0, 1000).execute() == [255]
assert r.bitfield_ro("bf", "u8", 0, items=[("i8", 0)]) == [255, -1]
r.set("a", "ohmytext")
r.set("b2", "mynewtext")
assert r.lcs("a", "b2") == b"mytext"
assert r.lcs("a", "b2", len=True) == 6
idx = r.lcs("a", "b2", idx=True, minmatchlen=4, withmatchlen=True)
assert idx == [b"matches", [[[4, 7], [5, 8], 4]], b"len", 6], idx
# Past 16 KB the string is kept in chunks; every call still sees its bytes.
assert r.setrange("big", 50000, "xyz") == 50003
assert r.setbit("big", 8, 1) == 0
assert r.getrange("big", 0, 1) == b"\x00\x80"
assert r.getrange("big", 49999, 50003) == b"\x00xyz"
assert r.append("big", "!") == 50004
assert r.strlen("big") == 50004
assert len(r.get("big")) == 50004
print("ok")
