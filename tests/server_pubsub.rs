//! Pub/sub and client control, end to end (issue 18): redis-py's PubSub and a BLPOP
//! job queue, messages across network threads, slow subscribers cut off at the
//! output-buffer limit, MONITOR, CLIENT PAUSE, CLIENT KILL's filters.

mod common;

use std::time::{Duration, Instant};

use common::{net_thread, on_two_threads, redis_py, Raw, Server, RUNTIMES};

#[test]
fn redis_py_pubsub_and_job_queue() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--network-threads", "2"]);
        if !redis_py("pubsub_queue.py", server.port, rt) {
            return;
        }
    }
}

#[test]
fn messages_cross_network_threads_in_order() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--network-threads", "2"]);
        let (mut subs, mut publisher) = on_two_threads(&server, 2);
        if rt == "dual" {
            assert_ne!(net_thread(&mut subs[0]), net_thread(&mut publisher));
        }
        assert_eq!(
            subs[0].call(&["SUBSCRIBE", "ch"]),
            "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
        );
        subs[1].call(&["HELLO", "3"]);
        assert_eq!(
            subs[1].call(&["PSUBSCRIBE", "c*"]),
            ">3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:1\r\n"
        );
        for i in 0..300 {
            assert_eq!(publisher.call(&["PUBLISH", "ch", &i.to_string()]), ":2\r\n");
        }
        for i in 0..300 {
            let m = i.to_string();
            let plain = format!("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n${}\r\n{m}\r\n", m.len());
            assert_eq!(
                String::from_utf8_lossy(&subs[0].read_reply()),
                plain,
                "{rt}"
            );
            let pushed = format!(
                ">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n${}\r\n{m}\r\n",
                m.len()
            );
            assert_eq!(
                String::from_utf8_lossy(&subs[1].read_reply()),
                pushed,
                "{rt}"
            );
        }
        // A RESP3 subscriber runs commands between messages.
        assert_eq!(subs[1].call(&["SET", "k", "v"]), "+OK\r\n");
        // A subscriber that leaves is forgotten.
        drop(subs);
        let deadline = Instant::now() + Duration::from_secs(5);
        while publisher.call(&["PUBLISH", "ch", "x"]) != ":0\r\n" {
            assert!(
                Instant::now() < deadline,
                "{rt}: gone subscribers still counted"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(publisher.call(&["PUBSUB", "NUMPAT"]), ":0\r\n");
    }
}

/// Resident memory of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_subscriber_that_does_not_read_is_cut_off_at_the_limit() {
    let server = Server::start("dual", &[]);
    let mut admin = server.raw();
    assert_eq!(
        admin.call(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 4mb 1mb 1"
        ]),
        "+OK\r\n"
    );
    assert_eq!(
        admin.call(&["CONFIG", "GET", "client-output-buffer-limit"]),
        "*2\r\n$26\r\nclient-output-buffer-limit\r\n$65\r\n\
         normal 0 0 0 slave 268435456 67108864 60 pubsub 4194304 1048576 1\r\n"
    );
    let mut slow = server.raw();
    slow.call(&["SUBSCRIBE", "firehose"]);
    let before = rss_kib(server.pid());
    let payload = "x".repeat(64 * 1024);
    let mut published = 0;
    // 64 MiB published to a subscriber that reads nothing.
    for _ in 0..1024 {
        published += 1;
        if admin.call(&["PUBLISH", "firehose", &payload]) == ":0\r\n" {
            break;
        }
    }
    assert!(published < 1024, "the slow subscriber was never cut off");
    let grown = rss_kib(server.pid()).saturating_sub(before);
    assert!(
        grown < 32 * 1024,
        "RSS grew by {grown} KiB for one slow subscriber"
    );
    // The soft limit: past 1 MiB for a second is enough too.
    let mut slow = server.raw();
    slow.call(&["SUBSCRIBE", "trickle"]);
    let started = Instant::now();
    loop {
        let n = admin.call(&["PUBLISH", "trickle", &payload[..40 * 1024]]);
        if n == ":0\r\n" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never cut off by the soft limit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    // Normal clients: a hard limit closes a client whose replies would not fit.
    admin.call(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "normal 1mb 0 0",
    ]);
    admin.call(&["SET", "big", &payload]);
    let mut greedy = server.raw();
    let mut pipeline = Vec::new();
    for _ in 0..64 {
        pipeline.extend_from_slice(&common::encode(&[b"GET", b"big"]));
    }
    greedy.send(&pipeline);
    assert!(
        greedy.closed(),
        "replies past the normal limit close the client"
    );
    assert_eq!(admin.call(&["PING"]), "+PONG\r\n");
}

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn monitor_sees_every_thread_in_redis_format() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--network-threads", "2"]);
        let (mut clients, mut monitor) = on_two_threads(&server, 1);
        let c = &mut clients[0];
        let addr = c.call(&["CLIENT", "INFO"]);
        let addr = addr
            .split("addr=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        assert_eq!(monitor.call(&["MONITOR"]), "+OK\r\n");
        c.call(&["SET", "a b", "x\"y\n\u{e9}"]);
        c.call(&["SELECT", "3"]);
        c.call(&["GET", "q"]);
        c.call(&["AUTH", "secret"]);
        c.call(&["CONFIG", "GET", "port"]);
        c.call(&["NOSUCH"]);
        c.call(&["PING"]);
        let lines: Vec<String> = (0..5)
            .map(|_| String::from_utf8_lossy(&monitor.read_reply()).into_owned())
            .collect();
        let shape = |line: &str, db: u8, args: &str| {
            let rest = line.strip_prefix('+').unwrap_or("");
            let (stamp, tail) = rest.split_once(' ').unwrap_or(("", ""));
            stamp
                .split_once('.')
                .is_some_and(|(s, us)| s.len() >= 10 && us.len() == 6)
                && tail == format!("[{db} {addr}] {args}\r\n")
        };
        assert!(
            shape(&lines[0], 0, r#""SET" "a b" "x\"y\n\xc3\xa9""#),
            "{rt}: {}",
            lines[0]
        );
        assert!(shape(&lines[1], 3, r#""SELECT" "3""#), "{rt}: {}", lines[1]);
        assert!(shape(&lines[2], 3, r#""GET" "q""#), "{rt}: {}", lines[2]);
        assert!(
            shape(&lines[3], 3, r#""AUTH" "(redacted)""#),
            "{rt}: {}",
            lines[3]
        );
        assert!(shape(&lines[4], 3, r#""PING""#), "{rt}: {}", lines[4]);
        assert_eq!(
            monitor.call(&["GET", "x"]),
            "-ERR Replica can't interact with the keyspace\r\n"
        );
        assert_eq!(monitor.call(&["RESET"]), "+RESET\r\n");
        c.call(&["PING"]);
        assert_eq!(
            monitor.call(&["GET", "x"]),
            "$-1\r\n",
            "{rt}: RESET ends MONITOR"
        );
    }
}

#[test]
fn client_pause_holds_writers_and_client_kill_filters() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let mut admin = server.raw();
        let mut writer = server.raw();
        let mut reader = server.raw();
        writer.call(&["SET", "k", "before"]);
        // WRITE: writes wait (not refused), reads go on; UNPAUSE releases the writes.
        assert_eq!(
            admin.call(&["CLIENT", "PAUSE", "10000", "WRITE"]),
            "+OK\r\n"
        );
        writer.send_cmd(&[b"SET", b"k", b"after"]);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(reader.call(&["GET", "k"]), "$6\r\nbefore\r\n", "{rt}");
        assert_eq!(admin.call(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
        assert_eq!(writer.read_reply(), b"+OK\r\n");
        assert_eq!(reader.call(&["GET", "k"]), "$5\r\nafter\r\n");
        // ALL with a timeout: everything waits until it passes.
        admin.call(&["CLIENT", "PAUSE", "300"]);
        let started = Instant::now();
        assert_eq!(reader.call(&["GET", "k"]), "$5\r\nafter\r\n");
        assert!(started.elapsed() >= Duration::from_millis(250), "{rt}");

        // CLIENT KILL: by address, by local address, by type, SKIPME, MAXAGE.
        let mut victims: Vec<Raw> = (0..3).map(|_| server.raw()).collect();
        let info = victims[0].call(&["CLIENT", "INFO"]);
        let addr = info
            .split("addr=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(admin.call(&["CLIENT", "KILL", &addr]), "+OK\r\n");
        assert!(victims[0].closed());
        assert_eq!(
            admin.call(&["CLIENT", "KILL", &addr]),
            "-ERR No such client\r\n"
        );
        victims[1].call(&["SUBSCRIBE", "x"]);
        assert_eq!(admin.call(&["CLIENT", "KILL", "TYPE", "pubsub"]), ":1\r\n");
        assert!(victims[1].closed());
        assert_eq!(
            admin.call(&["CLIENT", "KILL", "USER", "default", "MAXAGE", "3600"]),
            ":0\r\n"
        );
        let laddr = format!("127.0.0.1:{}", server.port);
        // Everyone else on this listener: writer, reader, victims[2]; not admin (SKIPME).
        assert_eq!(
            admin.call(&["CLIENT", "KILL", "LADDR", &laddr]),
            ":3\r\n",
            "{rt}"
        );
        for c in [&mut writer, &mut reader, &mut victims[2]] {
            assert!(c.closed());
        }
        until("the killed clients to leave", || {
            admin.call(&["CLIENT", "LIST"]).matches("id=").count() == 1
        });
        assert_eq!(
            admin.call(&["CLIENT", "KILL", "LADDR", &laddr, "SKIPME", "no"]),
            ":1\r\n"
        );
        assert!(admin.closed(), "SKIPME no kills the caller too");
    }
}
