"""redis-py's own calls for the issue-19 types against shardis: geo (geoadd, geodist,
geopos, geohash, geosearch, geosearchstore), HyperLogLog (pfadd, pfcount, pfmerge),
sort (by, get, store), memory_usage, memory_stats, memory_doctor, lolwut, with keys
on several shards. Prints "ok"."""
import sys

import redis

r = redis.Redis(port=int(sys.argv[1]))
assert r.geoadd("g", [13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"]) == 2
assert r.geodist("g", "Palermo", "Catania", unit="km") == 166.2742
(lon, lat), none = r.geopos("g", "Palermo", "nosuch")
assert abs(lon - 13.361389) < 1e-5 and abs(lat - 38.115556) < 1e-5 and none is None
assert r.geohash("g", "Palermo") == ["sqc8b49rny0"]
near = r.geosearch("g", longitude=15, latitude=37, radius=200, unit="km", withdist=True, sort="ASC")
assert near == [[b"Catania", 56.4413], [b"Palermo", 190.4424]], near
assert r.geosearchstore("near", "g", longitude=15, latitude=37, radius=100, unit="km") == 1
assert r.zrange("near", 0, -1) == [b"Catania"]
assert r.pfadd("h1", *[f"a{i}" for i in range(1000)]) == 1
assert r.pfadd("h2", *[f"a{i}" for i in range(500, 1500)]) == 1
c1, both = r.pfcount("h1"), r.pfcount("h1", "h2")
assert 950 <= c1 <= 1050 and 1400 <= both <= 1600, (c1, both)
assert r.pfmerge("hm", "h1", "h2") and r.pfcount("hm") == both
r.rpush("ids", 3, 1, 2)
r.mset({"w_1": 30, "w_2": 10, "w_3": 20, "name_1": "one", "name_2": "two", "name_3": "three"})
assert r.sort("ids") == [b"1", b"2", b"3"]
assert r.sort("ids", by="w_*", get=["#", "name_*"]) == [b"2", b"two", b"3", b"three", b"1", b"one"]
assert r.sort("ids", desc=True, store="sorted") == 3 and r.lrange("sorted", 0, -1) == [b"3", b"2", b"1"]
r.set("s", "x" * 100)
assert 100 < r.memory_usage("s") < 400
r.rpush("big", *range(1000))
assert 1000 * 8 < r.memory_usage("big", samples=0) < 1000 * 200
assert r.memory_usage("nosuch") is None
stats = r.memory_stats()
assert stats["keys.count"] >= 10 and stats["total.allocated"] > 1 << 20, stats
doctor = r.execute_command("MEMORY", "DOCTOR").decode()
assert "memory" in doctor.lower() or "RocksDB" in doctor, doctor
assert "Redis ver." in r.lolwut().decode()
print("ok")
