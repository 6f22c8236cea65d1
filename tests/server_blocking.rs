//! Blocking commands, end to end (issue 18): waiters and writers on different network
//! threads and shards, served in the order they blocked, by the first key that gets
//! data, after EXEC and through LMOVE chains; timeouts, CLIENT UNBLOCK, disconnects,
//! and what many waiters cost.

mod common;

use std::time::{Duration, Instant};

use common::{
    key_on, net_thread as thread_of, on_two_threads as waiters_and_writer, Raw, Server, RUNTIMES,
};

fn blocked_clients(c: &mut Raw) -> usize {
    let info = c.call(&["INFO", "clients"]);
    let at = info.find("blocked_clients:").unwrap() + 16;
    info[at..].split("\r\n").next().unwrap().parse().unwrap()
}

/// Waits until the server counts `n` blocked clients.
fn until_blocked(c: &mut Raw, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while blocked_clients(c) != n {
        assert!(Instant::now() < deadline, "expected {n} blocked clients");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

fn pair(k: &str, v: &str) -> String {
    format!("*2\r\n{}{}", bulk(k), bulk(v))
}

#[test]
fn waiters_on_one_thread_are_served_in_order_by_a_writer_on_another() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--network-threads", "2"]);
        let (mut waiters, mut writer) = waiters_and_writer(&server, 3);
        if rt == "dual" {
            assert_ne!(thread_of(&mut waiters[0]), thread_of(&mut writer), "{rt}");
        }
        let q = key_on(1, "q");
        for (i, w) in waiters.iter_mut().enumerate() {
            w.send_cmd(&[b"BLPOP", q.as_bytes(), b"10"]);
            until_blocked(&mut writer, i + 1);
        }
        assert_eq!(writer.call(&["RPUSH", &q, "a", "b", "c", "d"]), ":4\r\n");
        for (w, v) in waiters.iter_mut().zip(["a", "b", "c"]) {
            assert_eq!(
                String::from_utf8_lossy(&w.read_reply()),
                pair(&q, v),
                "{rt}"
            );
        }
        assert_eq!(
            writer.call(&["LRANGE", &q, "0", "-1"]),
            format!("*1\r\n{}", bulk("d"))
        );
        assert_eq!(blocked_clients(&mut writer), 0);

        // One waiter on keys of three shards: the first key that gets data serves it.
        let keys = [key_on(0, "k"), key_on(2, "k"), key_on(3, "k")];
        let w = &mut waiters[0];
        w.send_cmd(&[
            b"BRPOP",
            keys[0].as_bytes(),
            keys[1].as_bytes(),
            keys[2].as_bytes(),
            b"10",
        ]);
        until_blocked(&mut writer, 1);
        writer.call(&["LPUSH", &keys[2], "third"]);
        writer.call(&["LPUSH", &keys[1], "second"]);
        assert_eq!(
            String::from_utf8_lossy(&w.read_reply()),
            pair(&keys[2], "third"),
            "{rt}"
        );
        assert_eq!(writer.call(&["LLEN", &keys[1]]), ":1\r\n");
        assert_eq!(writer.call(&["LLEN", &keys[2]]), ":0\r\n");
    }
}

#[test]
fn timeouts_unblock_and_disconnects() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--network-threads", "2"]);
        let (mut waiters, mut other) = waiters_and_writer(&server, 2);
        let q = key_on(2, "q");
        // A fractional timeout ends the wait with a null array, on time.
        let started = Instant::now();
        assert_eq!(waiters[0].call(&["BLPOP", &q, "0.3"]), "*-1\r\n");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_secs(2),
            "{took:?}"
        );
        assert_eq!(waiters[0].call(&["BZPOPMIN", &q, "0.05"]), "*-1\r\n");
        assert_eq!(
            waiters[0].call(&["BLMOVE", &q, "x", "LEFT", "LEFT", "0.05"]),
            "*-1\r\n"
        );

        // 0 waits for ever: still blocked after a while, then CLIENT UNBLOCK from
        // another thread ends it as a timeout, or with an error.
        let id = waiters[0].call(&["CLIENT", "ID"]);
        let id = id.trim_start_matches(':').trim().to_string();
        waiters[0].send_cmd(&[b"BLPOP", q.as_bytes(), b"0"]);
        until_blocked(&mut other, 1);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(blocked_clients(&mut other), 1);
        assert!(other.call(&["CLIENT", "LIST"]).contains("flags=b"));
        assert_eq!(other.call(&["CLIENT", "UNBLOCK", &id]), ":1\r\n");
        assert_eq!(String::from_utf8_lossy(&waiters[0].read_reply()), "*-1\r\n");
        waiters[0].send_cmd(&[b"BRPOPLPUSH", q.as_bytes(), b"dst", b"0"]);
        until_blocked(&mut other, 1);
        assert_eq!(other.call(&["CLIENT", "UNBLOCK", &id, "ERROR"]), ":1\r\n");
        assert_eq!(
            String::from_utf8_lossy(&waiters[0].read_reply()),
            "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
        );
        assert_eq!(other.call(&["CLIENT", "UNBLOCK", &id]), ":0\r\n");
        // Commands sent while blocked are answered after the wait.
        waiters[0].send_cmd(&[b"BLPOP", q.as_bytes(), b"0.2"]);
        waiters[0].send_cmd(&[b"PING"]);
        assert_eq!(waiters[0].read_reply(), b"*-1\r\n");
        assert_eq!(waiters[0].read_reply(), b"+PONG\r\n");

        // A waiter that disconnects is forgotten: the next push stays in the list.
        let mut gone = waiters.pop().unwrap();
        gone.send_cmd(&[b"BLPOP", q.as_bytes(), b"0"]);
        until_blocked(&mut other, 1);
        drop(gone);
        until_blocked(&mut other, 0);
        assert_eq!(other.call(&["RPUSH", &q, "kept"]), ":1\r\n");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(other.call(&["LPOP", &q]), bulk("kept"));

        // CLIENT KILL ends a blocked client's connection.
        let mut killed = server.raw();
        let kid = killed.call(&["CLIENT", "ID"]);
        killed.send_cmd(&[b"BLPOP", q.as_bytes(), b"0"]);
        until_blocked(&mut other, 1);
        assert_eq!(
            other.call(&["CLIENT", "KILL", "ID", kid.trim_start_matches(':').trim()]),
            ":1\r\n"
        );
        assert!(killed.closed(), "{rt}: a killed client's connection closes");
        until_blocked(&mut other, 0);
    }
}

#[test]
fn wake_ups_by_exec_and_by_lmove_chains_across_shards() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--network-threads", "2"]);
        let (mut w, mut writer) = waiters_and_writer(&server, 3);
        let (a, b, c) = (key_on(0, "a"), key_on(1, "b"), key_on(2, "c"));

        // EXEC across shards: the waiter sees the transaction's result, not a step of it.
        w[0].send_cmd(&[b"BLPOP", a.as_bytes(), b"10"]);
        until_blocked(&mut writer, 1);
        writer.call(&["MULTI"]);
        writer.call(&["RPUSH", &a, "first"]);
        writer.call(&["RPUSH", &b, "other"]);
        writer.call(&["LPUSH", &a, "front"]);
        assert_eq!(writer.call(&["EXEC"]), "*3\r\n:1\r\n:1\r\n:2\r\n");
        assert_eq!(
            String::from_utf8_lossy(&w[0].read_reply()),
            pair(&a, "front"),
            "{rt}"
        );
        writer.call(&["DEL", &a, &b]);

        // A chain over three shards: a -> b (BLMOVE), b -> c (BRPOPLPUSH), c (BLPOP).
        w[0].send_cmd(&[
            b"BLMOVE",
            a.as_bytes(),
            b.as_bytes(),
            b"LEFT",
            b"RIGHT",
            b"10",
        ]);
        until_blocked(&mut writer, 1);
        w[1].send_cmd(&[b"BRPOPLPUSH", b.as_bytes(), c.as_bytes(), b"10"]);
        until_blocked(&mut writer, 2);
        w[2].send_cmd(&[b"BLPOP", c.as_bytes(), b"10"]);
        until_blocked(&mut writer, 3);
        assert_eq!(writer.call(&["RPUSH", &a, "x"]), ":1\r\n");
        assert_eq!(
            String::from_utf8_lossy(&w[0].read_reply()),
            bulk("x"),
            "{rt}"
        );
        assert_eq!(
            String::from_utf8_lossy(&w[1].read_reply()),
            bulk("x"),
            "{rt}"
        );
        assert_eq!(
            String::from_utf8_lossy(&w[2].read_reply()),
            pair(&c, "x"),
            "{rt}"
        );
        for k in [&a, &b, &c] {
            assert_eq!(writer.call(&["EXISTS", k]), ":0\r\n", "{rt}: {k}");
        }

        // A waiter whose move needs another shard keeps its turn before later waiters.
        w[0].send_cmd(&[
            b"BLMOVE",
            a.as_bytes(),
            b.as_bytes(),
            b"LEFT",
            b"RIGHT",
            b"10",
        ]);
        until_blocked(&mut writer, 1);
        w[1].send_cmd(&[b"BLPOP", a.as_bytes(), b"10"]);
        until_blocked(&mut writer, 2);
        writer.call(&["RPUSH", &a, "one"]);
        assert_eq!(
            String::from_utf8_lossy(&w[0].read_reply()),
            bulk("one"),
            "{rt}"
        );
        until_blocked(&mut writer, 1);
        writer.call(&["RPUSH", &a, "two"]);
        assert_eq!(
            String::from_utf8_lossy(&w[1].read_reply()),
            pair(&a, "two"),
            "{rt}"
        );
        assert_eq!(
            writer.call(&["LRANGE", &b, "0", "-1"]),
            format!("*1\r\n{}", bulk("one"))
        );
        writer.call(&["DEL", &b]);

        // Circular on one shard: a -> a2 -> a, two waiters, one element ends where it
        // started after both moves.
        let a2 = (0..)
            .map(|i| format!("a2:{i}"))
            .find(|k| {
                use shardis::storage::encoding::{key_hash, shard_of};
                shard_of(key_hash(k.as_bytes()), common::SHARDS) == 0
            })
            .unwrap();
        w[0].send_cmd(&[
            b"BLMOVE",
            a.as_bytes(),
            a2.as_bytes(),
            b"LEFT",
            b"LEFT",
            b"10",
        ]);
        until_blocked(&mut writer, 1);
        w[1].send_cmd(&[
            b"BLMOVE",
            a2.as_bytes(),
            a.as_bytes(),
            b"LEFT",
            b"LEFT",
            b"10",
        ]);
        until_blocked(&mut writer, 2);
        writer.call(&["RPUSH", &a, "round"]);
        assert_eq!(String::from_utf8_lossy(&w[0].read_reply()), bulk("round"));
        assert_eq!(String::from_utf8_lossy(&w[1].read_reply()), bulk("round"));
        assert_eq!(
            writer.call(&["LRANGE", &a, "0", "-1"]),
            format!("*1\r\n{}", bulk("round"))
        );
        assert_eq!(writer.call(&["EXISTS", &a2]), ":0\r\n");
    }
}

/// Resident memory of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// CPU time (user + system) of a process, clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn many_waiters_cost_bounded_memory_and_no_cpu() {
    const WAITERS: usize = 2000;
    let server = Server::start("dual", &["--network-threads", "2"]);
    let mut admin = server.raw();
    let before = rss_kib(server.pid());
    let mut waiters = Vec::with_capacity(WAITERS);
    for i in 0..WAITERS {
        let mut c = server.raw();
        let key = format!("job:{}", i % 50);
        c.send_cmd(&[b"BLPOP", key.as_bytes(), b"0"]);
        waiters.push(c);
    }
    until_blocked(&mut admin, WAITERS);
    let grown = rss_kib(server.pid()).saturating_sub(before);
    // Each waiter: a task, a socket, a registry entry; far below the 32 KiB of
    // buffers an active connection keeps.
    assert!(
        grown < WAITERS as u64 * 24,
        "{WAITERS} waiters grew RSS by {grown} KiB"
    );
    let ticks = cpu_ticks(server.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(server.pid()) - ticks;
    assert!(used < 40, "{WAITERS} idle waiters used {used} ticks in 2 s");
    // And they all still get served, once each.
    for i in 0..50 {
        let key = format!("job:{i}");
        let items: Vec<String> = (0..WAITERS / 50).map(|j| format!("{i}-{j}")).collect();
        let mut args = vec!["RPUSH", key.as_str()];
        args.extend(items.iter().map(String::as_str));
        admin.call(&args);
    }
    let mut seen = std::collections::HashSet::new();
    for c in &mut waiters {
        let reply = String::from_utf8_lossy(&c.read_reply()).into_owned();
        assert!(seen.insert(reply.clone()), "served twice: {reply}");
    }
    assert_eq!(blocked_clients(&mut admin), 0);
}

#[test]
fn wake_ups_with_appendfsync_always() {
    // The sync stage releases a group's replies after the WAL sync; waiters are then
    // served in a synced write of their own, after the group's.
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--appendfsync", "always"]);
        let (mut w, mut writer) = waiters_and_writer(&server, 2);
        let (a, b) = (key_on(0, "a"), key_on(0, "b"));
        w[0].send_cmd(&[
            b"BLMOVE",
            a.as_bytes(),
            b.as_bytes(),
            b"LEFT",
            b"LEFT",
            b"10",
        ]);
        until_blocked(&mut writer, 1);
        w[1].send_cmd(&[b"BLPOP", b.as_bytes(), b"10"]);
        until_blocked(&mut writer, 2);
        assert_eq!(writer.call(&["RPUSH", &a, "durable"]), ":1\r\n");
        assert_eq!(
            String::from_utf8_lossy(&w[0].read_reply()),
            bulk("durable"),
            "{rt}"
        );
        assert_eq!(
            String::from_utf8_lossy(&w[1].read_reply()),
            pair(&b, "durable"),
            "{rt}"
        );
        assert_eq!(writer.call(&["EXISTS", &a, &b]), ":0\r\n");
    }
}
