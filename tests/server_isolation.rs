//! The dual runtime's promise: whatever a shard does (stall, fail, panic, drown in
//! writes), the network side keeps answering, keeps accepting, and every client gets
//! its reply or a clear error, in order.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{key_on, Raw, Server};

fn timed(c: &mut Raw, args: &[&str]) -> (String, Duration) {
    let t = Instant::now();
    let r = c.call(args);
    (r, t.elapsed())
}

#[test]
fn a_stalled_shard_times_out_its_commands_and_nothing_else() {
    let server = Server::start(
        "dual",
        // Shards stall together when they share a worker thread: give each its own.
        &[
            "--storage-timeout-ms",
            "300",
            "--storage-threads",
            "4",
            "--enable-debug-command",
            "yes",
        ],
    );
    let (stalled, healthy) = (key_on(0, "stalled"), key_on(1, "healthy"));
    let counter = key_on(0, "counter");
    let mut a = server.raw();
    assert_eq!(a.call(&["SET", &stalled, "before"]), "+OK\r\n");
    assert_eq!(a.call(&["DEBUG", "STORAGE-STALL", "1500", "0"]), "+OK\r\n");

    // Writes queued behind the stall time out, in order, and the connection stays usable.
    let t = Instant::now();
    a.send(&common::encode(&[b"SET", stalled.as_bytes(), b"during"]));
    for _ in 0..3 {
        a.send(&common::encode(&[b"INCR", counter.as_bytes()]));
    }
    a.send(b"PING\r\n");
    for _ in 0..4 {
        let r = String::from_utf8(a.read_reply()).unwrap();
        assert!(r.starts_with("-ERR storage timeout"), "{r}");
    }
    assert_eq!(a.read_reply(), b"+PONG\r\n");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1200),
        "{took:?}"
    );

    // Meanwhile everything that does not need shard 0 answers at once.
    let mut b = server.raw();
    let (r, d) = timed(&mut b, &["PING"]);
    assert_eq!(r, "+PONG\r\n");
    assert!(d < Duration::from_millis(100), "PING took {d:?}");
    let t = Instant::now();
    let mut fresh = server.raw();
    assert_eq!(fresh.call(&["PING"]), "+PONG\r\n");
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "connect+PING took {:?}",
        t.elapsed()
    );
    let (r, d) = timed(&mut b, &["SET", &healthy, "fine"]);
    assert_eq!(r, "+OK\r\n");
    assert!(
        d < Duration::from_millis(100),
        "SET on another shard took {d:?}"
    );
    assert_eq!(b.call(&["GET", &healthy]), "$4\r\nfine\r\n");
    let info = b.call(&["INFO", "storage"]);
    assert!(info.contains("storage_timeouts:"), "{info}");

    // After the stall, the queued writes were applied, in order.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(a.call(&["GET", &stalled]), "$6\r\nduring\r\n");
    assert_eq!(a.call(&["GET", &counter]), "$1\r\n3\r\n");
    let info = a.call(&["INFO", "storage"]);
    assert!(!info.contains("storage_timeouts:0\r\n"), "{info}");
}

#[test]
fn injected_write_errors_become_error_replies() {
    let server = Server::start("dual", &["--enable-debug-command", "yes"]);
    let key = key_on(2, "err");
    let mut c = server.raw();
    assert_eq!(c.call(&["SET", &key, "ok"]), "+OK\r\n");
    assert_eq!(c.call(&["DEBUG", "STORAGE-ERROR", "1", "2"]), "+OK\r\n");
    let r = c.call(&["SET", &key, "lost"]);
    assert!(r.starts_with("-ERR storage error: injected"), "{r}");
    assert_eq!(
        c.call(&["GET", &key]),
        "$2\r\nok\r\n",
        "the failed write left no trace"
    );
    assert_eq!(c.call(&["SET", &key, "again"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", &key]), "$5\r\nagain\r\n");
    let info = c.call(&["INFO", "storage"]);
    assert!(info.contains("storage_errors:1\r\n"), "{info}");
}

#[test]
fn a_panicking_shard_is_restarted_and_keeps_its_data() {
    let server = Server::start("dual", &["--enable-debug-command", "yes"]);
    let key = key_on(3, "p");
    let mut c = server.raw();
    assert_eq!(c.call(&["SET", &key, "kept"]), "+OK\r\n");
    // The panic and the commands queued behind it arrive together.
    c.send(b"DEBUG STORAGE-PANIC 3\r\n");
    c.send(&common::encode(&[b"GET", key.as_bytes()]));
    assert_eq!(c.read_reply(), b"+OK\r\n");
    let r = String::from_utf8(c.read_reply()).unwrap();
    assert!(
        r == "$4\r\nkept\r\n" || r.starts_with("-ERR storage shard failed"),
        "{r}"
    );
    assert_eq!(c.call(&["GET", &key]), "$4\r\nkept\r\n");
    assert_eq!(c.call(&["INCR", &key_on(3, "n")]), ":1\r\n");
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    let info = c.call(&["INFO", "storage"]);
    assert!(info.contains("storage_restarts:1\r\n"), "{info}");
}

#[test]
fn a_flooding_client_is_pushed_back_and_others_are_served() {
    let server = Server::start("dual", &["--channel-capacity", "1"]);
    let flood_key = key_on(0, "flood");
    let other_key = key_on(1, "other");
    let port = server.port;
    // The flooder writes and never reads its replies.
    let flooder = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(4))).unwrap();
        let value = vec![b'x'; 4096];
        let cmd = common::encode(&[b"SET", flood_key.as_bytes(), &value]);
        let deadline = Instant::now() + Duration::from_secs(4);
        let mut sent = 0usize;
        while Instant::now() < deadline {
            match s.write_all(&cmd) {
                Ok(()) => sent += 1,
                Err(_) => break, // the server stopped reading us: pushed back
            }
        }
        (s, sent)
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut c = server.raw();
    let mut worst = Duration::ZERO;
    for i in 0..200 {
        let (r, d) = timed(&mut c, &["SET", &other_key, &i.to_string()]);
        assert_eq!(r, "+OK\r\n");
        worst = worst.max(d);
        let (r, d) = timed(&mut c, &["PING"]);
        assert_eq!(r, "+PONG\r\n");
        worst = worst.max(d);
    }
    assert!(
        worst < Duration::from_millis(200),
        "slowest reply to the other client: {worst:?}"
    );
    let (_stream, sent) = flooder.join().unwrap();
    let info = c.call(&["INFO", "memory"]);
    let rss: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory_rss:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(
        rss < 1 << 30,
        "server memory grew to {rss} bytes after {sent} flooded commands"
    );
}

#[test]
fn a_failed_commit_fails_the_whole_command_and_leaves_no_trace() {
    let server = Server::start("dual", &["--enable-debug-command", "yes", "--shards", "4"]);
    let mut c = server.raw();
    let list = key_on(1, "list");
    let mut push = vec!["RPUSH".to_string(), list.clone()];
    push.extend((0..100).map(|i| i.to_string()));
    let push: Vec<&str> = push.iter().map(String::as_str).collect();
    assert_eq!(c.call(&push), ":100\r\n");
    let keys_before = c.call(&["DBSIZE"]);

    // LTRIM deletes a range and rewrites the list's meta record: all or nothing.
    assert_eq!(c.call(&["DEBUG", "STORAGE-ERROR", "1", "1"]), "+OK\r\n");
    let r = c.call(&["LTRIM", &list, "0", "9"]);
    assert!(r.starts_with("-ERR storage error"), "{r}");
    assert_eq!(c.call(&["LLEN", &list]), ":100\r\n");
    assert_eq!(c.call(&["LINDEX", &list, "99"]), "$2\r\n99\r\n");

    // FLUSHDB's range deletes fail together too, and are reported as failed.
    assert_eq!(c.call(&["DEBUG", "STORAGE-ERROR", "1"]), "+OK\r\n");
    let r = c.call(&["FLUSHDB"]);
    assert!(r.starts_with("-ERR storage error"), "{r}");
    assert_eq!(c.call(&["DBSIZE"]), keys_before);
    assert_eq!(c.call(&["LLEN", &list]), ":100\r\n");
    assert_eq!(c.call(&["FLUSHDB"]), "+OK\r\n");
    assert_eq!(c.call(&["DBSIZE"]), ":0\r\n");
}

#[test]
fn a_hold_on_a_stalled_shard_times_out() {
    let server = Server::start(
        "dual",
        &[
            "--storage-timeout-ms",
            "300",
            "--storage-threads",
            "4",
            "--enable-debug-command",
            "yes",
        ],
    );
    let (a, b) = (key_on(0, "src"), key_on(1, "dst"));
    let mut c = server.raw();
    assert_eq!(c.call(&["SET", &a, "v"]), "+OK\r\n");
    assert_eq!(c.call(&["DEBUG", "STORAGE-STALL", "1500", "0"]), "+OK\r\n");
    let (r, took) = timed(&mut c, &["RENAME", &a, &b]);
    assert!(r.starts_with("-ERR storage timeout"), "{r}");
    assert!(took < Duration::from_millis(1000), "{took:?}");
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    std::thread::sleep(Duration::from_millis(1500));
    // The shard is free again and the key was not half-moved.
    assert_eq!(c.call(&["GET", &a]), "$1\r\nv\r\n");
    assert_eq!(c.call(&["RENAME", &a, &b]), "+OK\r\n");
    assert_eq!(c.call(&["GET", &b]), "$1\r\nv\r\n");
}

#[test]
fn config_set_storage_timeout_applies_at_once() {
    let server = Server::start(
        "dual",
        &[
            "--storage-timeout-ms",
            "3000",
            "--storage-threads",
            "4",
            "--enable-debug-command",
            "yes",
        ],
    );
    let key = key_on(2, "t");
    let mut c = server.raw();
    assert_eq!(
        c.call(&["CONFIG", "SET", "storage-timeout-ms", "200"]),
        "+OK\r\n"
    );
    assert_eq!(
        c.call(&["CONFIG", "GET", "storage-timeout-ms"]),
        "*2\r\n$18\r\nstorage-timeout-ms\r\n$3\r\n200\r\n"
    );
    assert_eq!(c.call(&["DEBUG", "STORAGE-STALL", "1000", "2"]), "+OK\r\n");
    let (r, took) = timed(&mut c, &["GET", &key]);
    assert!(r.starts_with("-ERR storage timeout"), "{r}");
    assert!(
        took < Duration::from_millis(800),
        "the new timeout applies: {took:?}"
    );
    assert!(c
        .call(&["CONFIG", "SET", "storage-timeout-ms", "0"])
        .starts_with("-ERR CONFIG SET failed"));
}
