//! Collections at scale: deleting or expiring a collection of 100,000 members answers
//! at once (only its meta record changes), and a compaction then removes the member
//! records; collections survive a restart; RENAME moves them, also across shards.

mod common;

use std::time::{Duration, Instant};

use common::{Server, RUNTIMES};

const MEMBERS: usize = 100_000;

fn records(c: &mut common::Raw) -> i64 {
    let r = c.call(&["DEBUG", "RECORDS"]);
    r.trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or_else(|_| panic!("DEBUG RECORDS: {r}"))
}

/// Fills `key` with MEMBERS members via `cmd` (SADD, HSET or ZADD), 1000 per command.
fn fill(c: &mut common::Raw, cmd: &str, key: &str) {
    let mut batch = Vec::new();
    let mut sent = 0;
    for chunk in 0..MEMBERS / 1000 {
        let mut args: Vec<Vec<u8>> = vec![cmd.into(), key.into()];
        for i in chunk * 1000..(chunk + 1) * 1000 {
            match cmd {
                "SADD" => args.push(format!("member:{i}").into()),
                "HSET" => {
                    args.push(format!("field:{i}").into());
                    args.push(format!("value:{i}").into());
                }
                _ => {
                    args.push(i.to_string().into());
                    args.push(format!("member:{i}").into());
                }
            }
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        batch.extend(common::encode(&refs));
        sent += 1;
    }
    c.send(&batch);
    for _ in 0..sent {
        assert_eq!(c.read_reply(), b":1000\r\n");
    }
}

#[test]
fn deleting_and_expiring_huge_collections_is_immediate_and_compaction_reclaims() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--enable-debug-command", "yes"]);
        let mut c = server.raw();
        for (cmd, per_member) in [("SADD", 1), ("HSET", 1), ("ZADD", 2)] {
            fill(&mut c, cmd, "big");
            let before = records(&mut c);
            assert!(
                before >= (MEMBERS * per_member) as i64,
                "{rt} {cmd}: {before} records"
            );

            let t = Instant::now();
            assert_eq!(c.call(&["DEL", "big"]), ":1\r\n");
            let took = t.elapsed();
            assert!(
                took < Duration::from_millis(100),
                "{rt} {cmd}: DEL took {took:?}"
            );
            assert_eq!(c.call(&["EXISTS", "big"]), ":0\r\n");

            assert_eq!(c.call(&["DEBUG", "COMPACT"]), ":0\r\n");
            let after = records(&mut c);
            assert!(
                after < 10,
                "{rt} {cmd}: {after} records left after DEL and compaction"
            );
        }

        fill(&mut c, "SADD", "expiring");
        let t = Instant::now();
        assert_eq!(c.call(&["PEXPIRE", "expiring", "50"]), ":1\r\n");
        assert!(t.elapsed() < Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(c.call(&["SCARD", "expiring"]), ":0\r\n");
        assert_eq!(c.call(&["DEBUG", "COMPACT"]), ":0\r\n");
        let after = records(&mut c);
        assert!(
            after < 10,
            "{rt}: {after} records left after expiry and compaction"
        );
    }
}

fn ttl(c: &mut common::Raw, key: &str) -> i64 {
    c.call(&["TTL", key])
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap()
}

#[test]
fn collections_survive_restart_and_rename() {
    for rt in RUNTIMES {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let server = Server::start_in(&dir, rt, &[]);
        let mut c = server.raw();
        assert_eq!(c.call(&["HSET", "h", "a", "1", "b", "2"]), ":2\r\n");
        assert_eq!(c.call(&["RPUSH", "l", "x", "y", "z"]), ":3\r\n");
        assert_eq!(c.call(&["SADD", "s", "p", "q"]), ":2\r\n");
        assert_eq!(c.call(&["ZADD", "z", "1", "one", "2", "two"]), ":2\r\n");
        assert_eq!(c.call(&["EXPIRE", "h", "1000"]), ":1\r\n");
        drop(c);
        server.stop();

        let server = Server::start_in(&dir, rt, &[]);
        let mut c = server.raw();
        assert_eq!(c.call(&["HGET", "h", "b"]), "$1\r\n2\r\n");
        assert!(ttl(&mut c, "h") > 900, "TTL survives restart");
        assert_eq!(
            c.call(&["LRANGE", "l", "0", "-1"]),
            "*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n"
        );
        assert_eq!(c.call(&["SISMEMBER", "s", "q"]), ":1\r\n");
        assert_eq!(c.call(&["ZSCORE", "z", "two"]), "$1\r\n2\r\n");
        // RENAME moves every member, whichever shards the names live on.
        for i in 0..12 {
            let (from, to) = (
                if i == 0 {
                    "l".to_string()
                } else {
                    format!("l{}", i - 1)
                },
                format!("l{i}"),
            );
            assert_eq!(c.call(&["RENAME", &from, &to]), "+OK\r\n");
        }
        assert_eq!(
            c.call(&["LRANGE", "l11", "0", "-1"]),
            "*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n"
        );
        assert_eq!(c.call(&["RENAME", "h", "h2"]), "+OK\r\n");
        assert_eq!(
            c.call(&["HGETALL", "h2"]),
            "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
        assert!(ttl(&mut c, "h2") > 900, "RENAME keeps the TTL");
        assert_eq!(c.call(&["EXISTS", "h", "l"]), ":0\r\n");
    }
}
