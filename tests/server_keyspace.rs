//! Keyspace notifications and client-side caching, end to end (issue 18): redis-py's
//! PubSub receiving events and RESP2 invalidations, and RESP3 invalidation pushes,
//! with the writer on another network thread and the keys on every shard.

mod common;

use common::{key_on, net_thread, on_two_threads, redis_py, Raw, Server, RUNTIMES, SHARDS};

#[test]
fn redis_py_keyspace_events_and_invalidations() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--network-threads", "2"]);
        if !redis_py("keyspace_tracking.py", server.port, rt) {
            return;
        }
    }
}

fn push(what: &str, items: &[&str]) -> String {
    let mut s = format!(">2\r\n${}\r\n{what}\r\n*{}\r\n", what.len(), items.len());
    for i in items {
        s.push_str(&format!("${}\r\n{i}\r\n", i.len()));
    }
    s
}

fn read(c: &mut Raw) -> String {
    String::from_utf8_lossy(&c.read_reply()).into_owned()
}

/// Ends with a message published by hand: whatever came before it was unexpected.
fn nothing_more(publisher: &mut Raw, subscriber: &mut Raw, channel: &str) {
    publisher.call(&["PUBLISH", channel, "sentinel"]);
    let m = read(subscriber);
    assert!(
        m.contains("sentinel"),
        "unexpected message before the sentinel: {m}"
    );
}

#[test]
fn events_reach_a_subscriber_on_another_thread_for_every_shard() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--network-threads", "2"]);
        let (mut subs, mut writer) = on_two_threads(&server, 1);
        let sub = &mut subs[0];
        if rt == "dual" {
            assert_ne!(net_thread(sub), net_thread(&mut writer));
        }
        assert_eq!(
            writer.call(&["CONFIG", "SET", "notify-keyspace-events", "E$lgx"]),
            "+OK\r\n"
        );
        sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
        for shard in 0..SHARDS {
            let k = key_on(shard, "ev");
            writer.call(&["SET", &k, "1"]);
            writer.call(&["RPUSH", &format!("{k}:l"), "a"]);
            writer.call(&["SADD", &format!("{k}:s"), "a"]);
            writer.call(&["DEL", &k]);
            let expect = |event: &str, key: &str| {
                format!(
                    "*4\r\n$8\r\npmessage\r\n$16\r\n__keyevent@0__:*\r\n${}\r\n__keyevent@0__:{event}\r\n${}\r\n{key}\r\n",
                    15 + event.len(),
                    key.len()
                )
            };
            assert_eq!(read(sub), expect("set", &k), "{rt}");
            assert_eq!(read(sub), expect("rpush", &format!("{k}:l")), "{rt}");
            // SADD's class (s) was not asked for.
            assert_eq!(read(sub), expect("del", &k), "{rt}");
        }
        // Expired keys, found by the sweeper without any read.
        let k = key_on(SHARDS - 1, "short");
        writer.call(&["SET", &k, "v", "PX", "30"]);
        let set = read(sub);
        assert!(set.contains("__keyevent@0__:set"), "{rt}: {set}");
        assert!(read(sub).contains("__keyevent@0__:expire"), "{rt}");
        let expired = read(sub);
        assert!(
            expired.contains("__keyevent@0__:expired") && expired.contains(&k),
            "{rt}: {expired}"
        );
        // Off again: nothing is published.
        writer.call(&["CONFIG", "SET", "notify-keyspace-events", ""]);
        writer.call(&["SET", &k, "v"]);
        nothing_more(&mut writer, sub, "__keyevent@0__:sentinel");
    }
}

#[test]
fn resp3_invalidations_cross_threads_and_redirect() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--network-threads", "2"]);
        let (mut readers, mut writer) = on_two_threads(&server, 2);
        if rt == "dual" {
            assert_ne!(net_thread(&mut readers[0]), net_thread(&mut writer));
        }
        let (a, b) = readers.split_at_mut(1);
        let (reader, redirected) = (&mut a[0], &mut b[0]);
        reader.call(&["HELLO", "3"]);
        assert_eq!(reader.call(&["CLIENT", "TRACKING", "ON"]), "+OK\r\n");
        let keys: Vec<String> = (0..SHARDS).map(|s| key_on(s, "cached")).collect();
        for k in &keys {
            assert_eq!(reader.call(&["GET", k]), "_\r\n");
        }
        // Every key read is invalidated once, whichever shard the write went to.
        for k in &keys {
            writer.call(&["SET", k, "new"]);
            assert_eq!(read(reader), push("invalidate", &[k]), "{rt}");
        }
        for k in &keys {
            writer.call(&["SET", k, "newer"]);
        }
        writer.call(&["FLUSHALL"]);
        // Not read again, so only the flush's null invalidation comes.
        assert_eq!(read(reader), ">2\r\n$10\r\ninvalidate\r\n_\r\n", "{rt}");

        // REDIRECT to a RESP3 client on the same thread as the reader.
        redirected.call(&["HELLO", "3"]);
        let id = redirected.call(&["CLIENT", "ID"]);
        let id = id.trim_start_matches(':').trim();
        reader.call(&["CLIENT", "TRACKING", "OFF"]);
        assert_eq!(
            reader
                .call(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "cached:", "REDIRECT", id]),
            "+OK\r\n"
        );
        assert_eq!(reader.call(&["CLIENT", "GETREDIR"]), format!(":{id}\r\n"));
        writer.call(&["SET", &keys[1], "x"]);
        writer.call(&["SET", "elsewhere", "x"]);
        writer.call(&["SET", &keys[2], "x"]);
        assert_eq!(read(redirected), push("invalidate", &[&keys[1]]), "{rt}");
        assert_eq!(read(redirected), push("invalidate", &[&keys[2]]), "{rt}");
        // The redirect target leaves: the tracking client hears it is broken.
        redirected.call(&["QUIT"]);
        // Until the server has forgotten it (no fixed sleep: a loaded machine is slow).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while writer
            .call(&["CLIENT", "LIST", "ID", id])
            .contains(&format!("id={id} "))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{rt}: client {id} stays"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        writer.call(&["SET", &keys[3], "x"]);
        assert_eq!(
            read(reader),
            format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{id}\r\n"),
            "{rt}"
        );
        let info = reader.call(&["CLIENT", "TRACKINGINFO"]);
        assert!(info.contains("broken_redirect"), "{rt}: {info}");
    }
}

#[test]
fn with_appendfsync_always_the_sync_stage_publishes_events_and_invalidations() {
    // Under the sync stage a group's events wait for the WAL sync, with its replies:
    // they must still arrive.
    let server = Server::start("dual", &["--appendfsync", "always"]);
    let mut sub = server.raw();
    let mut reader = server.raw();
    let mut writer = server.raw();
    writer.call(&["CONFIG", "SET", "notify-keyspace-events", "KA"]);
    sub.call(&["SUBSCRIBE", "__keyspace@0__:durable"]);
    reader.call(&["HELLO", "3"]);
    reader.call(&["CLIENT", "TRACKING", "ON"]);
    reader.call(&["GET", "durable"]);
    assert_eq!(writer.call(&["INCR", "durable"]), ":1\r\n");
    assert_eq!(
        read(&mut sub),
        "*3\r\n$7\r\nmessage\r\n$22\r\n__keyspace@0__:durable\r\n$6\r\nincrby\r\n"
    );
    assert_eq!(read(&mut reader), push("invalidate", &["durable"]));
}

#[test]
fn the_tracking_table_is_bounded_by_tracking_table_max_keys() {
    let server = Server::start("dual", &[]);
    let mut reader = server.raw();
    let mut admin = server.raw();
    assert_eq!(
        admin.call(&["CONFIG", "SET", "tracking-table-max-keys", "2"]),
        "+OK\r\n"
    );
    reader.call(&["HELLO", "3"]);
    reader.call(&["CLIENT", "TRACKING", "ON"]);
    reader.call(&["GET", "t1"]);
    reader.call(&["GET", "t2"]);
    // A third key does not fit: one of the three is dropped, and its reader told.
    reader.send_cmd(&[b"GET", b"t3"]);
    let got = [read(&mut reader), read(&mut reader)];
    assert!(got.contains(&"_\r\n".to_string()), "{got:?}");
    let evicted = ["t1", "t2", "t3"]
        .into_iter()
        .find(|k| got.contains(&push("invalidate", &[k])))
        .unwrap_or_else(|| panic!("no invalidation: {got:?}"));
    // The evicted key is no longer tracked: writing it sends nothing, writing a kept
    // one does.
    admin.call(&["SET", evicted, "x"]);
    let kept = ["t1", "t2", "t3"]
        .into_iter()
        .find(|k| *k != evicted)
        .unwrap();
    admin.call(&["SET", kept, "x"]);
    assert_eq!(read(&mut reader), push("invalidate", &[kept]));
}
