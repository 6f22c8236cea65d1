//! Cross-shard commands are atomic: their writes on every shard are one RocksDB write
//! batch, so a failed write (here injected with DEBUG STORAGE-ERROR on either shard)
//! leaves every key as it was, and a crash keeps all of a command or none of it.

mod common;

use common::{key_on, Raw, Server, RUNTIMES, SHARDS};

fn fail_next_write(c: &mut Raw, shard: usize) {
    let shard = shard.to_string();
    assert_eq!(c.call(&["DEBUG", "STORAGE-ERROR", "1", &shard]), "+OK\r\n");
}

fn assert_storage_error(r: &str) {
    assert!(r.starts_with("-ERR storage error: injected"), "{r}");
}

#[test]
fn a_failed_cross_shard_rename_leaves_both_keys_as_they_were() {
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &["--enable-debug-command", "yes"]);
        let mut c = server.raw();
        let (src, dst) = (key_on(1, "src"), key_on(2, "dst"));
        let mut push = vec!["RPUSH", src.as_str()];
        let items: Vec<String> = (0..50).map(|i| i.to_string()).collect();
        push.extend(items.iter().map(String::as_str));
        assert_eq!(c.call(&push), ":50\r\n");
        // Either shard's part failing fails the whole RENAME.
        for failing in [1, 2] {
            fail_next_write(&mut c, failing);
            assert_storage_error(&c.call(&["RENAME", &src, &dst]));
            assert_eq!(
                c.call(&["LLEN", &src]),
                ":50\r\n",
                "{runtime} shard {failing}"
            );
            assert_eq!(
                c.call(&["EXISTS", &dst]),
                ":0\r\n",
                "{runtime} shard {failing}"
            );
        }
        assert_eq!(c.call(&["RENAME", &src, &dst]), "+OK\r\n");
        assert_eq!(c.call(&["EXISTS", &src]), ":0\r\n");
        assert_eq!(c.call(&["LINDEX", &dst, "49"]), "$2\r\n49\r\n");
    }
}

#[test]
fn a_failed_cross_shard_move_loses_no_element() {
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &["--enable-debug-command", "yes"]);
        let mut c = server.raw();
        let (src, dst) = (key_on(0, "lsrc"), key_on(3, "ldst"));
        assert_eq!(c.call(&["RPUSH", &src, "a", "b", "c"]), ":3\r\n");
        let (ssrc, sdst) = (key_on(0, "ssrc"), key_on(3, "sdst"));
        assert_eq!(c.call(&["SADD", &ssrc, "m", "n"]), ":2\r\n");
        for failing in [0, 3] {
            fail_next_write(&mut c, failing);
            assert_storage_error(&c.call(&["LMOVE", &src, &dst, "LEFT", "RIGHT"]));
            assert_eq!(
                c.call(&["LLEN", &src]),
                ":3\r\n",
                "{runtime} shard {failing}"
            );
            assert_eq!(
                c.call(&["EXISTS", &dst]),
                ":0\r\n",
                "{runtime} shard {failing}"
            );
            fail_next_write(&mut c, failing);
            assert_storage_error(&c.call(&["SMOVE", &ssrc, &sdst, "m"]));
            assert_eq!(c.call(&["SISMEMBER", &ssrc, "m"]), ":1\r\n");
            assert_eq!(c.call(&["EXISTS", &sdst]), ":0\r\n");
        }
        assert_eq!(
            c.call(&["LMOVE", &src, &dst, "LEFT", "RIGHT"]),
            "$1\r\na\r\n"
        );
        assert_eq!(c.call(&["LRANGE", &dst, "0", "-1"]), "*1\r\n$1\r\na\r\n");
        assert_eq!(c.call(&["SMOVE", &ssrc, &sdst, "m"]), ":1\r\n");
        assert_eq!(c.call(&["SMEMBERS", &sdst]), "*1\r\n$1\r\nm\r\n");
    }
}

#[test]
fn a_failed_cross_shard_msetnx_or_store_writes_nothing() {
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &["--enable-debug-command", "yes"]);
        let mut c = server.raw();
        let keys: Vec<String> = (0..SHARDS).map(|s| key_on(s, "m")).collect();
        let mut msetnx = vec!["MSETNX"];
        for k in &keys {
            msetnx.extend([k.as_str(), "v"]);
        }
        fail_next_write(&mut c, 2);
        assert_storage_error(&c.call(&msetnx));
        let mut exists = vec!["EXISTS"];
        exists.extend(keys.iter().map(String::as_str));
        assert_eq!(c.call(&exists), ":0\r\n", "{runtime}");
        assert_eq!(c.call(&msetnx), ":1\r\n");
        assert_eq!(c.call(&exists), ":4\r\n");

        let (a, b, dest) = (key_on(0, "za"), key_on(1, "zb"), key_on(2, "zd"));
        assert_eq!(c.call(&["ZADD", &a, "1", "x", "2", "y"]), ":2\r\n");
        assert_eq!(c.call(&["ZADD", &b, "5", "y"]), ":1\r\n");
        assert_eq!(c.call(&["SET", &dest, "old"]), "+OK\r\n");
        fail_next_write(&mut c, 2);
        assert_storage_error(&c.call(&["ZUNIONSTORE", &dest, "2", &a, &b]));
        assert_eq!(c.call(&["GET", &dest]), "$3\r\nold\r\n", "{runtime}");
        assert_eq!(c.call(&["ZUNIONSTORE", &dest, "2", &a, &b]), ":2\r\n");
        assert_eq!(c.call(&["ZSCORE", &dest, "y"]), "$1\r\n7\r\n");
    }
}

#[test]
fn zrangestore_refuses_withscores_like_redis() {
    let server = Server::start("dual", &[]);
    let mut c = server.raw();
    let (src, dst) = (key_on(0, "rs"), key_on(1, "rd"));
    assert_eq!(c.call(&["ZADD", &src, "1", "a", "2", "b"]), ":2\r\n");
    assert_eq!(
        c.call(&["ZRANGESTORE", &dst, &src, "0", "-1", "WITHSCORES"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(c.call(&["ZRANGESTORE", &dst, &src, "0", "-1"]), ":2\r\n");
    assert_eq!(
        c.call(&["ZRANGESTORE", &dst, &src, "[a", "[a", "BYLEX"]),
        ":1\r\n"
    );
    assert_eq!(c.call(&["ZSCORE", &dst, "a"]), "$1\r\n1\r\n");
}

#[test]
fn cross_shard_renames_stay_whole_across_sigkill() {
    // Hashes move back and forth between two shards while the server is killed, four
    // times per runtime. Each RENAME is one RocksDB write, so after every restart each
    // hash is in exactly one place, whole. (A RENAME written as two commits leaves both
    // keys, or neither, when the kill falls between them.)
    for runtime in RUNTIMES {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let pairs: Vec<(String, String)> = (0..8)
            .map(|i| (key_on(1, &format!("h{i}a")), key_on(2, &format!("h{i}b"))))
            .collect();
        let mut server = Server::start_in(&dir, runtime, &[]);
        let mut c = server.raw();
        for (a, _) in &pairs {
            let mut hset = vec!["HSET".to_string(), a.clone()];
            for f in 0..20 {
                hset.extend([format!("f{f}"), format!("v{f}")]);
            }
            let hset: Vec<&str> = hset.iter().map(String::as_str).collect();
            assert_eq!(c.call(&hset), ":20\r\n");
        }
        for kill in 0..4 {
            // Where each hash is now: it moves from there and back.
            let here: Vec<(String, String)> = pairs
                .iter()
                .map(|(a, b)| {
                    let ea = c.call(&["EXISTS", a]);
                    let eb = c.call(&["EXISTS", b]);
                    assert_ne!(ea, eb, "{runtime} kill {kill}: {a} and {b} both {ea}");
                    let (from, to) = if ea == ":1\r\n" { (a, b) } else { (b, a) };
                    assert_eq!(c.call(&["HLEN", from]), ":20\r\n", "{runtime}: {from}");
                    (from.clone(), to.clone())
                })
                .collect();
            let port = server.port;
            let moved = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let counter = moved.clone();
            let mover = std::thread::spawn(move || {
                let mut c = Raw::connect(port);
                for round in 0.. {
                    for (from, to) in &here {
                        let (from, to) = if round % 2 == 0 {
                            (from, to)
                        } else {
                            (to, from)
                        };
                        let rename = common::encode(&[b"RENAME", from.as_bytes(), to.as_bytes()]);
                        if !c.try_send(&rename) {
                            return;
                        }
                    }
                    for _ in &here {
                        match c.try_read_line() {
                            Some(r) => assert_eq!(r, "+OK\r\n"),
                            None => return,
                        }
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
            std::thread::sleep(std::time::Duration::from_millis(400 + 150 * kill));
            drop(server); // SIGKILL mid-stream
            mover.join().unwrap();
            let n = moved.load(std::sync::atomic::Ordering::Relaxed);
            assert!(n > 50, "{runtime}: only {n} renames before the kill");
            server = Server::start_in(&dir, runtime, &[]);
            c = server.raw();
        }
        for (a, b) in &pairs {
            let (ea, eb) = (c.call(&["EXISTS", a]), c.call(&["EXISTS", b]));
            assert_ne!(ea, eb, "{runtime}: {a} and {b} both {ea}");
        }
    }
}
