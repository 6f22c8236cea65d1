//! DUMP and RESTORE between shardis and a real redis-server 7.0, in both
//! directions, for every type, small and large: a 1 MB string, a string that
//! SETRANGE made chunked, a list of 10,000 elements, a set of 5,000 strings and
//! an intset, a sorted set of 1,000 members with extreme scores, a hash of 2,000
//! fields. A value DUMPed by one server and RESTOREd into the other must read
//! back whole exactly as on the first; where Redis's encoding is deterministic
//! (all but hash tables) shardis's payload must also be Redis's byte for byte.
//! Expiries travel too (a relative ttl, ABSTTL). redis-py's `dump`/`restore`
//! run at the end. The figures (payload sizes, times) print with --nocapture.

mod common;

use std::time::Instant;

use common::{redis_py, Server, RUNTIMES};
use redis::{Connection, Value};

/// The keys [`build`] makes, and whether Redis's payload for each is
/// deterministic (no hash table inside).
const KEYS: &[(&str, bool)] = &[
    ("str:int", true),
    ("str:small", true),
    ("str:1mb", true),
    ("str:chunked", true),
    ("list:small", true),
    ("list:10k", true),
    ("set:small", false),
    ("set:5k", false),
    ("set:int", true),
    ("zset:small", true),
    ("zset:1k", true),
    ("hash:small", true),
    ("hash:2k", false),
];

fn cmd(c: &mut Connection, args: &[&[u8]]) -> Value {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
        .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(args[0])))
}

fn ok(c: &mut Connection, args: &[&[u8]]) {
    let v = cmd(c, args);
    assert!(matches!(v, Value::Okay | Value::Int(_)), "{v:?}");
}

/// Sends `name key items...` in commands of at most 1,000 items.
fn add_all(c: &mut Connection, name: &str, key: &str, items: &[Vec<u8>], per: usize) {
    for chunk in items.chunks(1000 * per) {
        let mut args: Vec<&[u8]> = vec![name.as_bytes(), key.as_bytes()];
        args.extend(chunk.iter().map(|v| v.as_slice()));
        ok(c, &args);
    }
}

/// Builds every value of [`KEYS`] on `c` with the same commands.
fn build(c: &mut Connection) {
    let mut rng = common::Rng::new(7);
    ok(c, &[b"SET", b"str:int", b"-1234567"]);
    ok(c, &[b"SET", b"str:small", b"hello, world"]);
    // 1 MB: random bytes, then compressible text.
    let mut mb: Vec<u8> = (0..512 * 1024).map(|_| rng.next() as u8).collect();
    let mut i = 0;
    while mb.len() < 1 << 20 {
        mb.extend_from_slice(format!("line {i}; ").as_bytes());
        i += 1;
    }
    mb.truncate(1 << 20);
    ok(c, &[b"SET", b"str:1mb", &mb]);
    // Partial writes past 16 KB: shardis stores it in 4 KB chunks.
    ok(c, &[b"SETRANGE", b"str:chunked", b"0", b"head"]);
    ok(
        c,
        &[
            b"SETRANGE",
            b"str:chunked",
            b"21384",
            b"tail of the first write",
        ],
    );
    let noise: Vec<u8> = (0..3000).map(|_| rng.next() as u8).collect();
    ok(c, &[b"SETRANGE", b"str:chunked", b"40000", &noise]);
    ok(c, &[b"SETBIT", b"str:chunked", b"8000", b"1"]);

    ok(
        c,
        &[b"RPUSH", b"list:small", b"a", b"1", b"-70000", b"", b"end"],
    );
    let list: Vec<Vec<u8>> = (0..10_000)
        .map(|i| match i % 4 {
            0 => i.to_string().into_bytes(),
            1 => format!("element {i}").into_bytes(),
            2 => vec![b'a' + (i % 26) as u8; i % 300],
            _ => (0..i % 40).map(|_| rng.next() as u8).collect(),
        })
        .collect();
    add_all(c, "RPUSH", "list:10k", &list, 1);

    ok(c, &[b"SADD", b"set:small", b"b", b"a", b"10"]);
    let set: Vec<Vec<u8>> = (0..5000)
        .map(|i| format!("member:{i}").into_bytes())
        .collect();
    add_all(c, "SADD", "set:5k", &set, 1);
    let ints: Vec<Vec<u8>> = (0..500i64)
        .map(|i| {
            (i * 7_919_000_000_003 - 1_000_000_000_000_000)
                .to_string()
                .into_bytes()
        })
        .chain([
            i64::MIN.to_string().into_bytes(),
            i64::MAX.to_string().into_bytes(),
        ])
        .collect();
    add_all(c, "SADD", "set:int", &ints, 1);

    ok(
        c,
        &[
            b"ZADD",
            b"zset:small",
            b"1.5",
            b"a",
            b"-inf",
            b"b",
            b"1e300",
            b"c",
            b"0",
            b"d",
        ],
    );
    let zset: Vec<Vec<u8>> = (0..1000)
        .flat_map(|i| {
            let score = match i {
                0 => "-inf".to_string(),
                1 => "+inf".to_string(),
                2 => "1e300".to_string(),
                3 => "-1e300".to_string(),
                4 => "5e-324".to_string(),
                5 => "0.1".to_string(),
                _ if i % 3 == 0 => format!("{}", i as f64 * 1.5),
                _ if i % 3 == 1 => format!("-{i}"),
                _ => "7".to_string(),
            };
            [score.into_bytes(), format!("zmember:{i}").into_bytes()]
        })
        .collect();
    add_all(c, "ZADD", "zset:1k", &zset, 2);

    ok(
        c,
        &[b"HSET", b"hash:small", b"a", b"1", b"b", b"two", b"c", b""],
    );
    let hash: Vec<Vec<u8>> = (0..2000)
        .flat_map(|i| {
            [
                format!("field:{i}").into_bytes(),
                vec![b'v'; i % 100]
                    .into_iter()
                    .chain(i.to_string().into_bytes())
                    .collect(),
            ]
        })
        .collect();
    add_all(c, "HSET", "hash:2k", &hash, 2);
}

fn bytes(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        Value::SimpleString(s) => s.into_bytes(),
        other => panic!("not a string: {other:?}"),
    }
}

fn items(v: Value) -> Vec<Vec<u8>> {
    match v {
        Value::Array(items) => items.into_iter().map(bytes).collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// The whole value at `key`, in a form to compare across servers: its type and
/// contents (sets and hashes sorted, sorted sets in their order with scores).
fn read(c: &mut Connection, key: &str) -> (String, Vec<Vec<u8>>) {
    let k = key.as_bytes();
    let kind = String::from_utf8(bytes(cmd(c, &[b"TYPE", k]))).unwrap();
    let contents = match kind.as_str() {
        "string" => vec![bytes(cmd(c, &[b"GET", k]))],
        "list" => items(cmd(c, &[b"LRANGE", k, b"0", b"-1"])),
        "set" => {
            let mut m = items(cmd(c, &[b"SMEMBERS", k]));
            m.sort();
            m
        }
        "zset" => items(cmd(c, &[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"])),
        "hash" => {
            let flat = items(cmd(c, &[b"HGETALL", k]));
            let mut pairs: Vec<Vec<u8>> = flat
                .chunks(2)
                .map(|p| [&p[0][..], b"=", &p[1][..]].concat())
                .collect();
            pairs.sort();
            pairs
        }
        other => panic!("{key}: type {other}"),
    };
    (kind, contents)
}

fn int(v: Value) -> i64 {
    match v {
        Value::Int(n) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn dump(c: &mut Connection, key: &str) -> Vec<u8> {
    bytes(cmd(c, &[b"DUMP", key.as_bytes()]))
}

fn restore(c: &mut Connection, key: &str, ttl: i64, payload: &[u8], opts: &[&str]) {
    let ttl = ttl.to_string();
    let mut args: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), ttl.as_bytes(), payload];
    args.extend(opts.iter().map(|o| o.as_bytes()));
    assert_eq!(cmd(c, &args), Value::Okay, "RESTORE {key}");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every value built on `from`, DUMPed there and RESTOREd into `to` (under the
/// same name, then with a relative ttl and with ABSTTL under other names), reads
/// back the same on both. Returns the payloads by key.
fn transfer(from: &mut Connection, to: &mut Connection, what: &str) -> Vec<(String, Vec<u8>)> {
    let mut payloads = Vec::new();
    for &(key, _) in KEYS {
        let t = Instant::now();
        let payload = dump(from, key);
        let dumped = t.elapsed();
        let t = Instant::now();
        restore(to, key, 0, &payload, &[]);
        let restored = t.elapsed();
        if payload.len() > 1000 {
            eprintln!(
                "{what} {key}: payload {} bytes, DUMP {:.1} ms, RESTORE {:.1} ms",
                payload.len(),
                dumped.as_secs_f64() * 1000.0,
                restored.as_secs_f64() * 1000.0
            );
        }
        assert_eq!(read(from, key), read(to, key), "{what} {key}");
        assert_eq!(int(cmd(to, &[b"PTTL", key.as_bytes()])), -1, "{what} {key}");
        // With a ttl: relative, then absolute.
        let rel = format!("{key}:rel");
        restore(to, &rel, 100_000, &payload, &[]);
        let pttl = int(cmd(to, &[b"PTTL", rel.as_bytes()]));
        assert!(
            (90_000..=100_000).contains(&pttl),
            "{what} {rel}: PTTL {pttl}"
        );
        let abs = format!("{key}:abs");
        let at = now_ms() + 3_600_000;
        restore(to, &abs, at, &payload, &["ABSTTL", "IDLETIME", "5"]);
        assert_eq!(
            int(cmd(to, &[b"PEXPIRETIME", abs.as_bytes()])),
            at,
            "{what} {abs}"
        );
        assert_eq!(read(from, key), read(to, &abs), "{what} {abs}");
        // A past ABSTTL over the key with REPLACE deletes it.
        restore(to, &rel, 1, &payload, &["ABSTTL", "REPLACE", "FREQ", "3"]);
        assert_eq!(
            int(cmd(to, &[b"EXISTS", rel.as_bytes()])),
            0,
            "{what} {rel}"
        );
        payloads.push((key.to_string(), payload));
    }
    payloads
}

#[test]
fn dump_and_restore_between_redis_and_shardis() {
    let Some(redis_server) = common::start_redis() else {
        return;
    };
    let url = format!("redis://127.0.0.1:{}/", redis_server.port);
    let mut redis = redis::Client::open(url).unwrap().get_connection().unwrap();
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let mut shardis = server.client();
        ok(&mut redis, &[b"FLUSHALL"]);

        // Redis → shardis.
        build(&mut redis);
        let from_redis = transfer(&mut redis, &mut shardis, &format!("[{rt}] redis→shardis"));
        // shardis's own payload of what it restored is Redis's where Redis's is
        // deterministic.
        for (&(key, deterministic), (_, payload)) in KEYS.iter().zip(&from_redis) {
            if deterministic {
                assert!(
                    dump(&mut shardis, key) == *payload,
                    "[{rt}] DUMP {key} differs from Redis's"
                );
            }
        }

        // shardis → Redis, from values built on shardis.
        ok(&mut redis, &[b"FLUSHALL"]);
        ok(&mut shardis, &[b"FLUSHALL"]);
        build(&mut shardis);
        let from_shardis = transfer(&mut shardis, &mut redis, &format!("[{rt}] shardis→redis"));
        for (&(key, deterministic), (_, payload)) in KEYS.iter().zip(&from_shardis) {
            let theirs = dump(&mut redis, key);
            if deterministic {
                assert!(
                    theirs == *payload,
                    "[{rt}] DUMP {key}: Redis's payload differs"
                );
            }
        }
        // And back: Redis's payload of what shardis sent restores into shardis.
        for &(key, _) in KEYS {
            let theirs = dump(&mut redis, key);
            let back = format!("{key}:back");
            restore(&mut shardis, &back, 0, &theirs, &[]);
            assert_eq!(
                read(&mut shardis, key),
                read(&mut shardis, &back),
                "[{rt}] {key} back"
            );
        }
        ok(&mut redis, &[b"FLUSHALL"]);
        drop(shardis);
        server.stop();
    }
}

#[test]
fn restore_replaces_any_type_and_keeps_nothing_of_it() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let mut c = server.client();
        build(&mut c);
        let payloads: Vec<(String, Vec<u8>)> = KEYS
            .iter()
            .map(|&(k, _)| (k.to_string(), dump(&mut c, k)))
            .collect();
        // Every value over every other, with REPLACE: the result is the new value
        // alone (no members of the old one, no TTL).
        for (src, payload) in &payloads {
            for &(dst, _) in KEYS {
                let target = format!("t:{dst}");
                let old = payloads.iter().find(|(k, _)| k == dst).unwrap();
                restore(&mut c, &target, 0, &old.1, &["REPLACE"]);
                ok(&mut c, &[b"EXPIRE", target.as_bytes(), b"1000"]);
                restore(&mut c, &target, 0, payload, &["REPLACE"]);
                assert_eq!(
                    read(&mut c, src),
                    read(&mut c, &target),
                    "[{rt}] {src} over {dst}"
                );
                assert_eq!(int(cmd(&mut c, &[b"TTL", target.as_bytes()])), -1);
            }
        }
        drop(c);
        server.stop();
    }
}

#[test]
fn redis_py_dump_and_restore() {
    let server = Server::start("dual", &[]);
    redis_py("dump_restore.py", server.port, "dump/restore");
}
