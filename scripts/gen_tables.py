#!/usr/bin/env python3
"""Regenerates src/spec/redis_spec.rs and src/config/redis_params.rs from a
running Redis 7 server, the oracle for arity, flags, key positions, docs and
configuration defaults.

    redis-server --port 7777 --save '' --daemonize yes
    python3 scripts/gen_tables.py 7777

Only the commands listed in COMMANDS are emitted; add a name there when shardis
implements it. The output is data: the lookup and the handlers are written by hand.
"""
import socket
import sys

COMMANDS = """
get set setnx setex psetex mget mset msetnx getset getdel getex incr decr incrby
decrby incrbyfloat append strlen getrange setrange substr
del unlink exists type expire pexpire expireat pexpireat ttl pttl expiretime
pexpiretime persist touch keys scan randomkey rename renamenx dbsize flushdb
flushall select
ping echo quit hello auth client command info config time shutdown lastsave
multi exec discard watch unwatch reset move
save bgsave latency slowlog
debug
hset hsetnx hget hmset hmget hgetall hdel hlen hstrlen hexists hkeys hvals hincrby
hincrbyfloat hrandfield hscan
lpush rpush lpushx rpushx lpop rpop llen lrange lindex lset linsert lrem ltrim lpos
lmove rpoplpush lmpop
sadd srem smembers sismember smismember scard spop srandmember smove sinter
sintercard sinterstore sunion sunionstore sdiff sdiffstore sscan
zadd zincrby zrem zcard zscore zmscore zrank zrevrank zrange zrangebyscore
zrevrangebyscore zrangebylex zrevrangebylex zrevrange zcount zlexcount zpopmin
zpopmax zrangestore zunion zinter zdiff zunionstore zinterstore zdiffstore
zintercard zrandmember zremrangebyscore zremrangebyrank zremrangebylex zscan zmpop
eval evalsha eval_ro evalsha_ro script function fcall fcall_ro
blpop brpop brpoplpush blmove blmpop bzpopmin bzpopmax bzmpop
subscribe unsubscribe psubscribe punsubscribe publish ssubscribe sunsubscribe
spublish pubsub monitor
copy role object
setbit getbit bitcount bitpos bitop bitfield bitfield_ro lcs
pfadd pfcount pfmerge pfdebug pfselftest
geoadd geodist geohash geopos georadius georadius_ro georadiusbymember
georadiusbymember_ro geosearch geosearchstore
sort sort_ro swapdb dump restore memory lolwut
""".split()


class Resp:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind in (b"*", b"%"):
            n = int(rest)
            if kind == b"%":
                n *= 2
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(line)

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def rust_strs(items):
    return "&[" + ", ".join(rust_str(i) for i in items) + "]"


def docs_of(conn, name):
    reply = conn.call("COMMAND", "DOCS", name)
    if not reply:
        return {}
    fields = reply[1]
    return dict(zip(fields[0::2], fields[1::2]))


def spec_line(info, docs, indent):
    name, arity, flags, first, last, step, acl = info[:7]
    subs = info[9] if len(info) > 9 else []
    pad = " " * indent
    out = [f"{pad}RedisSpec {{"]
    out.append(f"{pad}    name: {rust_str(name)},")
    out.append(f"{pad}    arity: {arity},")
    out.append(f"{pad}    flags: {rust_strs(flags)},")
    out.append(f"{pad}    first_key: {first},")
    out.append(f"{pad}    last_key: {last},")
    out.append(f"{pad}    step: {step},")
    out.append(f"{pad}    acl: {rust_strs(acl)},")
    out.append(f"{pad}    summary: {rust_str(docs.get('summary', ''))},")
    out.append(f"{pad}    since: {rust_str(docs.get('since', ''))},")
    out.append(f"{pad}    group: {rust_str(docs.get('group', ''))},")
    out.append(f"{pad}    complexity: {rust_str(docs.get('complexity', ''))},")
    tips = info[7] if len(info) > 7 else []
    out.append(f"{pad}    tips: {rust_strs(tips)},")
    specs = info[8] if len(info) > 8 else []
    if specs:
        out.append(f"{pad}    key_specs: &[")
        out.extend(f"{pad}        {key_spec(s)}," for s in specs)
        out.append(f"{pad}    ],")
    else:
        out.append(f"{pad}    key_specs: &[],")
    if subs:
        out.append(f"{pad}    subcommands: &[")
        for sub in sorted(subs, key=lambda s: s[0]):
            sub_docs = docs_of_sub(docs, sub[0])
            out.extend(spec_line(sub, sub_docs, indent + 8))
        out.append(f"{pad}    ],")
    else:
        out.append(f"{pad}    subcommands: &[],")
    out.append(f"{pad}}},")
    return out


def resp_map(flat):
    """A RESP2 map (a flat array of key, value, ...) as a dict."""
    return dict(zip(flat[0::2], flat[1::2]))


def key_spec(flat):
    """One `COMMAND INFO` key spec as a `KeySpec` literal."""
    spec = resp_map(flat)
    notes = spec.get("notes")
    notes = f"Some({rust_str(notes)})" if notes is not None else "None"
    bs = resp_map(spec["begin_search"])
    bs_spec = resp_map(bs["spec"] or [])
    if bs["type"] == "index":
        begin = f"BeginSearch::Index({bs_spec['index']})"
    elif bs["type"] == "keyword":
        begin = (
            f"BeginSearch::Keyword {{ keyword: {rust_str(bs_spec['keyword'])}, "
            f"startfrom: {bs_spec['startfrom']} }}"
        )
    elif bs["type"] == "unknown":
        begin = "BeginSearch::Unknown"
    else:
        sys.exit(f"unknown begin_search type {bs['type']}")
    fk = resp_map(spec["find_keys"])
    fk_spec = resp_map(fk["spec"] or [])
    if fk["type"] == "range":
        find = (
            f"FindKeys::Range {{ lastkey: {fk_spec['lastkey']}, "
            f"keystep: {fk_spec['keystep']}, limit: {fk_spec['limit']} }}"
        )
    elif fk["type"] == "keynum":
        find = (
            f"FindKeys::Keynum {{ keynumidx: {fk_spec['keynumidx']}, "
            f"firstkey: {fk_spec['firstkey']}, keystep: {fk_spec['keystep']} }}"
        )
    elif fk["type"] == "unknown":
        find = "FindKeys::Unknown"
    else:
        sys.exit(f"unknown find_keys type {fk['type']}")
    return (
        f"KeySpec {{ notes: {notes}, flags: {rust_strs(spec['flags'])}, "
        f"begin_search: {begin}, find_keys: {find} }}"
    )


def docs_of_sub(parent_docs, full_name):
    subs = parent_docs.get("subcommands") or []
    table = dict(zip(subs[0::2], subs[1::2]))
    fields = table.get(full_name) or []
    return dict(zip(fields[0::2], fields[1::2]))


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
    conn = Resp(port)
    lines = [
        "//! Generated by `scripts/gen_tables.py` from Redis 7's `COMMAND INFO` and",
        "//! `COMMAND DOCS`: arity, flags, key positions, tips, key specs and documentation",
        "//! of every command shardis implements. Do not edit by hand.",
        "",
        "use super::{BeginSearch, FindKeys, KeySpec, RedisSpec};",
        "",
        "/// Redis's own description of each implemented command, sorted by name.",
        "pub(crate) static REDIS_SPECS: &[RedisSpec] = &[",
    ]
    for name in sorted(COMMANDS):
        info = conn.call("COMMAND", "INFO", name)[0]
        if info is None:
            sys.exit(f"redis does not know {name}")
        lines.extend(spec_line(info, docs_of(conn, name), 4))
    lines.append("];")
    with open("src/spec/redis_spec.rs", "w") as f:
        f.write("\n".join(lines) + "\n")

    params = conn.call("CONFIG", "GET", "*")
    pairs = sorted(zip(params[0::2], params[1::2]))
    out = [
        "//! Generated by `scripts/gen_tables.py` from Redis 7's `CONFIG GET *`: every",
        "//! parameter Redis 7.0 has, with its default. Do not edit by hand.",
        "",
        "/// `(name, default)` for each Redis parameter, sorted by name.",
        "pub(crate) static REDIS_PARAMS: &[(&str, &str)] = &[",
    ]
    for k, v in pairs:
        out.append(f"    ({rust_str(k)}, {rust_str(v)}),")
    out.append("];")
    with open("src/config/redis_params.rs", "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
