//! Strings and keys through a real client, in both runtime modes, with 4 shards so
//! multi-key commands cross shards.

mod common;

use std::collections::BTreeSet;

use common::{Server, RUNTIMES};
use redis::{cmd, Connection, Value};

fn each_runtime(test: impl Fn(&mut Connection, &Server)) {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let mut c = server.client();
        test(&mut c, &server);
    }
}

#[test]
fn set_get_and_overwrite() {
    each_runtime(|c, _| {
        let _: () = cmd("SET").arg("k").arg("v1").query(c).unwrap();
        let v: String = cmd("GET").arg("k").query(c).unwrap();
        assert_eq!(v, "v1");
        let old: String = cmd("SET").arg("k").arg("v2").arg("GET").query(c).unwrap();
        assert_eq!(old, "v1");
        let v: Option<String> = cmd("GET").arg("missing").query(c).unwrap();
        assert_eq!(v, None);
    });
}

#[test]
fn binary_keys_and_values() {
    each_runtime(|c, _| {
        let all: Vec<u8> = (0..=255u8).collect();
        for i in 0..64u8 {
            let key = [&[i, 0, b'\r', b'\n'][..], &all[..i as usize]].concat();
            let value = [&all[..], &[i; 3][..]].concat();
            let _: () = cmd("SET").arg(&key).arg(&value).query(c).unwrap();
            let got: Vec<u8> = cmd("GET").arg(&key).query(c).unwrap();
            assert_eq!(got, value);
        }
        let big = vec![7u8; 3 * 1024 * 1024];
        let _: () = cmd("SET").arg("big").arg(&big).query(c).unwrap();
        let got: Vec<u8> = cmd("GET").arg("big").query(c).unwrap();
        assert_eq!(got.len(), big.len());
        assert_eq!(got, big);
    });
}

#[test]
fn multi_key_commands_merge_across_shards() {
    each_runtime(|c, _| {
        let mut mset = cmd("MSET");
        for i in 0..200 {
            mset.arg(format!("key:{i}")).arg(format!("val:{i}"));
        }
        let _: () = mset.query(c).unwrap();
        let mut mget = cmd("MGET");
        for i in (0..220).rev() {
            mget.arg(format!("key:{i}"));
        }
        let got: Vec<Option<String>> = mget.query(c).unwrap();
        let want: Vec<Option<String>> = (0..220)
            .rev()
            .map(|i| (i < 200).then(|| format!("val:{i}")))
            .collect();
        assert_eq!(got, want, "MGET must answer in argument order");

        let mut exists = cmd("EXISTS");
        for i in 0..10 {
            exists.arg(format!("key:{i}")).arg(format!("key:{i}"));
        }
        exists.arg("nokey");
        assert_eq!(exists.query::<i64>(c).unwrap(), 20);

        let mut del = cmd("DEL");
        for i in 0..100 {
            del.arg(format!("key:{i}"));
        }
        del.arg("nokey");
        assert_eq!(del.query::<i64>(c).unwrap(), 100);
        assert_eq!(cmd("DBSIZE").query::<i64>(c).unwrap(), 100);
    });
}

#[test]
fn rename_and_msetnx_across_shards() {
    each_runtime(|c, _| {
        for i in 0..40 {
            let (src, dst) = (format!("src{i}"), format!("dst{i}"));
            let _: () = cmd("SET")
                .arg(&src)
                .arg(i)
                .arg("EX")
                .arg(1000)
                .query(c)
                .unwrap();
            let _: () = cmd("RENAME").arg(&src).arg(&dst).query(c).unwrap();
            assert_eq!(cmd("EXISTS").arg(&src).query::<i64>(c).unwrap(), 0);
            assert_eq!(cmd("GET").arg(&dst).query::<i64>(c).unwrap(), i);
            let ttl: i64 = cmd("TTL").arg(&dst).query(c).unwrap();
            assert!(
                (990..=1000).contains(&ttl),
                "RENAME keeps the TTL, got {ttl}"
            );
            let _: () = cmd("SET").arg(&src).arg("x").query(c).unwrap();
            assert_eq!(
                cmd("RENAMENX").arg(&src).arg(&dst).query::<i64>(c).unwrap(),
                0
            );
        }
        let err = cmd("RENAME")
            .arg("nope")
            .arg("x")
            .query::<()>(c)
            .unwrap_err();
        assert!(err.to_string().contains("no such key"));

        let mut first = cmd("MSETNX");
        for i in 0..20 {
            first.arg(format!("nx{i}")).arg(i);
        }
        assert_eq!(first.query::<i64>(c).unwrap(), 1);
        let mut second = cmd("MSETNX");
        second.arg("fresh").arg(1).arg("nx7").arg("other");
        assert_eq!(second.query::<i64>(c).unwrap(), 0);
        assert_eq!(cmd("EXISTS").arg("fresh").query::<i64>(c).unwrap(), 0);
        assert_eq!(cmd("GET").arg("nx7").query::<i64>(c).unwrap(), 7);
    });
}

#[test]
fn keys_scan_and_randomkey_see_every_shard() {
    each_runtime(|c, _| {
        let want: BTreeSet<String> = (0..500).map(|i| format!("s:{i}")).collect();
        let mut mset = cmd("MSET");
        for k in &want {
            mset.arg(k).arg(1);
        }
        let _: () = mset.query(c).unwrap();
        let _: () = cmd("SET").arg("other").arg(1).query(c).unwrap();

        let keys: BTreeSet<String> = cmd("KEYS").arg("s:*").query(c).unwrap();
        assert_eq!(keys, want);

        let mut seen = BTreeSet::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let (next, batch): (String, Vec<String>) = cmd("SCAN")
                .arg(&cursor)
                .arg("MATCH")
                .arg("s:*")
                .arg("COUNT")
                .arg(7)
                .query(c)
                .unwrap();
            // Writes during the scan must not make it lose keys that stay.
            let _: () = cmd("SET")
                .arg(format!("during:{calls}"))
                .arg(1)
                .query(c)
                .unwrap();
            seen.extend(batch);
            calls += 1;
            cursor = next;
            if cursor == "0" {
                break;
            }
            assert!(calls < 10_000, "SCAN does not terminate");
        }
        assert_eq!(seen, want);
        assert!(
            calls > 10,
            "COUNT 7 over 500 keys needs many calls, got {calls}"
        );

        let (_, typed): (String, Vec<String>) =
            cmd("SCAN").arg(0).arg("TYPE").arg("hash").query(c).unwrap();
        assert!(typed.is_empty());

        for _ in 0..20 {
            let k: String = cmd("RANDOMKEY").query(c).unwrap();
            assert_eq!(cmd("EXISTS").arg(&k).query::<i64>(c).unwrap(), 1);
        }
        let _: () = cmd("FLUSHDB").query(c).unwrap();
        assert_eq!(cmd("RANDOMKEY").query::<Option<String>>(c).unwrap(), None);
        assert_eq!(cmd("DBSIZE").query::<i64>(c).unwrap(), 0);
    });
}

#[test]
fn databases_are_separate() {
    each_runtime(|c, _| {
        let _: () = cmd("SET").arg("k").arg("db0").query(c).unwrap();
        let _: () = cmd("SELECT").arg(3).query(c).unwrap();
        assert_eq!(
            cmd("GET").arg("k").query::<Option<String>>(c).unwrap(),
            None
        );
        let _: () = cmd("SET").arg("k").arg("db3").query(c).unwrap();
        let _: () = cmd("FLUSHDB").query(c).unwrap();
        let _: () = cmd("SELECT").arg(0).query(c).unwrap();
        assert_eq!(cmd("GET").arg("k").query::<String>(c).unwrap(), "db0");
        let _: () = cmd("FLUSHALL").query(c).unwrap();
        assert_eq!(cmd("DBSIZE").query::<i64>(c).unwrap(), 0);
    });
}

#[test]
fn counters_are_atomic_under_concurrency() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let mut c = server.client();
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        let _: i64 = cmd("INCR").arg("ctr").query(&mut c).unwrap();
                        let _: i64 = cmd("INCRBY").arg("ctr2").arg(3).query(&mut c).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut c = server.client();
        assert_eq!(
            cmd("GET").arg("ctr").query::<i64>(&mut c).unwrap(),
            4000,
            "{rt}"
        );
        assert_eq!(
            cmd("GET").arg("ctr2").query::<i64>(&mut c).unwrap(),
            12000,
            "{rt}"
        );
    }
}

#[test]
fn pipelined_replies_come_back_in_order() {
    each_runtime(|_, server| {
        let mut raw = server.raw();
        let mut batch = Vec::new();
        for i in 0..3000 {
            let key = format!("p{}", i % 97);
            batch.extend(common::encode(&[
                b"SET",
                key.as_bytes(),
                i.to_string().as_bytes(),
            ]));
            batch.extend(common::encode(&[b"GET", key.as_bytes()]));
            batch.extend(b"PING\r\n");
            batch.extend(common::encode(&[b"INCR", b"seq"]));
        }
        raw.send(&batch);
        for i in 0..3000 {
            assert_eq!(raw.read_reply(), b"+OK\r\n");
            let v = i.to_string();
            assert_eq!(
                raw.read_reply(),
                format!("${}\r\n{v}\r\n", v.len()).into_bytes()
            );
            assert_eq!(raw.read_reply(), b"+PONG\r\n");
            assert_eq!(raw.read_reply(), format!(":{}\r\n", i + 1).into_bytes());
        }
    });
}

#[test]
fn redis_crate_pipeline_and_types() {
    each_runtime(|c, _| {
        let (a, b, t): (i64, Value, String) = redis::pipe()
            .cmd("INCRBY")
            .arg("n")
            .arg(5)
            .cmd("GETDEL")
            .arg("none")
            .cmd("TYPE")
            .arg("n")
            .query(c)
            .unwrap();
        assert_eq!((a, b, t.as_str()), (5, Value::Nil, "string"));
    });
}
