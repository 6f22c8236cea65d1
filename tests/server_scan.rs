//! HSCAN, SSCAN and ZSCAN page through large collections with real cursors (issue 19),
//! through the `redis` crate: bounded replies, every member exactly once when nothing
//! changes, and SCAN's guarantee (every member present for the whole iteration comes
//! back at least once) while another client writes.

mod common;

use std::collections::{HashMap, HashSet};

use common::{Server, RUNTIMES};

type Page = (u64, Vec<String>);

fn page(con: &mut redis::Connection, cmd: &str, key: &str, cursor: u64, count: usize) -> Page {
    redis::cmd(cmd)
        .arg(key)
        .arg(cursor)
        .arg("COUNT")
        .arg(count)
        .query(con)
        .unwrap()
}

#[test]
fn hscan_of_a_million_fields_pages_with_bounded_replies() {
    let server = Server::start("dual", &[]);
    let mut con = server.client();
    let n = 1_000_000;
    let mut pipe = redis::pipe();
    for chunk in 0..n / 1000 {
        let mut cmd = redis::cmd("HSET");
        cmd.arg("big");
        for i in chunk * 1000..(chunk + 1) * 1000 {
            cmd.arg(format!("f{i}")).arg(i);
        }
        pipe.add_command(cmd).ignore();
        if chunk % 50 == 49 {
            pipe.query::<()>(&mut con).unwrap();
            pipe = redis::pipe();
        }
    }
    let len: usize = redis::cmd("HLEN").arg("big").query(&mut con).unwrap();
    assert_eq!(len, n);
    // The default COUNT: ten fields (twenty elements) at most per reply.
    let mut cursor = 0;
    for _ in 0..20 {
        let (next, items): Page = redis::cmd("HSCAN")
            .arg("big")
            .arg(cursor)
            .query(&mut con)
            .unwrap();
        assert!(items.len() <= 20, "{} elements", items.len());
        assert_ne!(next, 0);
        cursor = next;
    }
    // The whole hash with COUNT 1000: never more than 1000 fields per reply, each
    // field once, its value with it.
    let (mut cursor, mut seen, mut calls) = (0, HashSet::new(), 0);
    loop {
        let (next, items) = page(&mut con, "HSCAN", "big", cursor, 1000);
        assert!(items.len() <= 2000);
        for pair in items.chunks(2) {
            assert_eq!(pair[0][1..], pair[1], "value of {}", pair[0]);
            assert!(seen.insert(pair[0].clone()), "{} twice", pair[0]);
        }
        calls += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), n);
    assert!(calls >= n / 1000, "{calls} calls");
    // NOVALUES (Redis 7.4): fields only.
    let (_, fields): Page = redis::cmd("HSCAN")
        .arg("big")
        .arg(0)
        .arg("NOVALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(fields.len(), 10);
    assert!(fields.iter().all(|f| f.starts_with('f')));
}

#[test]
fn every_member_present_throughout_comes_back_while_others_write() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let mut con = server.client();
        let mut writer = server.client();
        let stable: Vec<String> = (0..3000).map(|i| format!("s{i:05}")).collect();
        for chunk in stable.chunks(500) {
            let mut h = redis::cmd("HSET");
            let mut s = redis::cmd("SADD");
            let mut z = redis::cmd("ZADD");
            h.arg("h");
            s.arg("s");
            z.arg("z");
            for m in chunk {
                h.arg(m).arg("v");
                s.arg(m);
                z.arg(1).arg(m);
            }
            redis::pipe()
                .add_command(h)
                .add_command(s)
                .add_command(z)
                .query::<()>(&mut con)
                .unwrap();
        }
        for (cmd, key) in [("HSCAN", "h"), ("SSCAN", "s"), ("ZSCAN", "z")] {
            let (mut cursor, mut seen, mut round) = (0, HashSet::new(), 0);
            loop {
                let (next, items) = page(&mut con, cmd, key, cursor, 37);
                let step = if cmd == "SSCAN" { 1 } else { 2 };
                for m in items.iter().step_by(step) {
                    seen.insert(m.clone());
                }
                // Between pages: members before and after the cursor come and go,
                // and ZADD moves stable members' scores.
                round += 1;
                let before = format!("a{round:05}");
                let after = format!("t{round:05}");
                let victim = format!("a{:05}", round.max(2) - 1);
                let mover = &stable[round % stable.len()];
                match cmd {
                    "HSCAN" => {
                        redis::cmd("HSET")
                            .arg(key)
                            .arg(&before)
                            .arg("x")
                            .arg(&after)
                            .arg("y")
                            .query::<()>(&mut writer)
                            .unwrap();
                        redis::cmd("HDEL")
                            .arg(key)
                            .arg(&victim)
                            .query::<()>(&mut writer)
                            .unwrap();
                    }
                    "SSCAN" => {
                        redis::cmd("SADD")
                            .arg(key)
                            .arg(&before)
                            .arg(&after)
                            .query::<()>(&mut writer)
                            .unwrap();
                        redis::cmd("SREM")
                            .arg(key)
                            .arg(&victim)
                            .query::<()>(&mut writer)
                            .unwrap();
                    }
                    _ => {
                        redis::cmd("ZADD")
                            .arg(key)
                            .arg(2)
                            .arg(&before)
                            .arg(3)
                            .arg(&after)
                            .query::<()>(&mut writer)
                            .unwrap();
                        redis::cmd("ZREM")
                            .arg(key)
                            .arg(&victim)
                            .query::<()>(&mut writer)
                            .unwrap();
                        redis::cmd("ZADD")
                            .arg(key)
                            .arg(round as i64 * 10)
                            .arg(mover)
                            .query::<()>(&mut writer)
                            .unwrap();
                    }
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
            let missing: Vec<&String> = stable.iter().filter(|m| !seen.contains(*m)).collect();
            assert!(
                missing.is_empty(),
                "{rt} {cmd}: {} missing, e.g. {:?}",
                missing.len(),
                missing.first()
            );
        }
    }
}

#[test]
fn zscan_pages_carry_each_members_score_and_small_sets_come_whole() {
    let server = Server::start("dual", &[]);
    let mut con = server.client();
    let mut z = redis::cmd("ZADD");
    z.arg("z");
    for i in 0..500 {
        z.arg(i as f64 / 4.0).arg(format!("m{i}"));
    }
    z.query::<()>(&mut con).unwrap();
    let (mut cursor, mut scores) = (0, HashMap::new());
    loop {
        let (next, items) = page(&mut con, "ZSCAN", "z", cursor, 50);
        assert!(items.len() <= 100);
        for pair in items.chunks(2) {
            assert!(scores.insert(pair[0].clone(), pair[1].clone()).is_none());
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(scores.len(), 500);
    assert_eq!(scores["m6"], "1.5");
    assert_eq!(scores["m8"], "2");
    // Up to 128 members: the whole collection at once, cursor 0, as Redis's small
    // encodings answer.
    let mut s = redis::cmd("SADD");
    s.arg("small");
    for i in 0..128 {
        s.arg(i);
    }
    s.query::<()>(&mut con).unwrap();
    let (next, items) = page(&mut con, "SSCAN", "small", 0, 5);
    assert_eq!((next, items.len()), (0, 128));
    // A cursor this server never gave (or forgot) starts over, as a cursor of 0 does.
    let (_, first) = page(&mut con, "ZSCAN", "z", 0, 10);
    let (_, unknown) = page(&mut con, "ZSCAN", "z", 123_456_789, 10);
    assert_eq!(first, unknown);
}

#[test]
fn redis_py_scan_iterators_walk_paged_collections() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        if !common::redis_py("scan_iter.py", server.port, rt) {
            return;
        }
    }
}
