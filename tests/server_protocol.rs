//! Protocol and connection behaviour through raw sockets: RESP3, AUTH, limits,
//! protocol errors, QUIT, CLIENT, CONFIG, COMMAND, INFO and the config file.

mod common;

use common::{Server, RUNTIMES};

#[test]
fn resp3_after_hello_3() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let mut c = server.raw();
        assert_eq!(c.call(&["GET", "nokey"]), "$-1\r\n");
        let hello = c.call(&["HELLO", "3"]);
        assert!(
            hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
            "{hello}"
        );
        assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
        assert_eq!(c.call(&["GET", "nokey"]), "_\r\n");
        assert_eq!(c.call(&["SET", "f", "1.5"]), "+OK\r\n");
        assert_eq!(c.call(&["INCRBYFLOAT", "f", "1"]), "$3\r\n2.5\r\n");
        let cfg = c.call(&["CONFIG", "GET", "maxmemory"]);
        assert_eq!(cfg, "%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
        let hello = c.call(&["HELLO", "2"]);
        assert!(hello.starts_with("*14\r\n"), "{hello}");
        assert_eq!(c.call(&["GET", "nokey"]), "$-1\r\n");
    }
}

#[test]
fn requirepass_gates_commands() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--requirepass", "s3cret"]);
        let mut c = server.raw();
        assert_eq!(
            c.call(&["GET", "k"]),
            "-NOAUTH Authentication required.\r\n"
        );
        assert_eq!(c.call(&["PING"]), "-NOAUTH Authentication required.\r\n");
        assert_eq!(
            c.call(&["AUTH", "wrong"]),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(c.call(&["AUTH", "s3cret"]), "+OK\r\n");
        assert_eq!(c.call(&["SET", "k", "v"]), "+OK\r\n");
        let mut d = server.raw();
        assert!(d
            .call(&["HELLO", "3"])
            .starts_with("-NOAUTH HELLO must be called"));
        assert!(d
            .call(&["HELLO", "3", "AUTH", "default", "s3cret"])
            .starts_with("%7"));
        assert_eq!(d.call(&["GET", "k"]), "$1\r\nv\r\n");
        let mut e = server.raw();
        assert_eq!(e.call(&["AUTH", "default", "s3cret"]), "+OK\r\n");
        // CONFIG SET requirepass applies to new connections' AUTH at once.
        assert_eq!(
            e.call(&["CONFIG", "SET", "requirepass", "other"]),
            "+OK\r\n"
        );
        let mut f = server.raw();
        assert!(f.call(&["AUTH", "s3cret"]).starts_with("-WRONGPASS"));
        assert_eq!(f.call(&["AUTH", "other"]), "+OK\r\n");
    }
}

#[test]
fn proto_max_bulk_len_applies() {
    let server = Server::start("dual", &[]);
    let mut c = server.raw();
    assert_eq!(
        c.call(&["CONFIG", "SET", "proto-max-bulk-len", "2mb"]),
        "+OK\r\n"
    );
    assert_eq!(
        c.call(&["CONFIG", "GET", "proto-max-bulk-len"]),
        "*2\r\n$18\r\nproto-max-bulk-len\r\n$7\r\n2097152\r\n"
    );
    let ok = vec![b'x'; 2 * 1024 * 1024];
    assert_eq!(c.cmd(&[b"SET", b"big", &ok]), b"+OK\r\n");
    assert_eq!(
        c.call(&["APPEND", "big", "y"]),
        "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2097153\r\n");
    assert_eq!(
        c.read_reply(),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
    assert!(c.closed());
    // Other connections are not affected.
    assert_eq!(server.raw().call(&["STRLEN", "big"]), ":2097152\r\n");
}

#[test]
fn protocol_errors_reply_then_close_other_errors_keep_the_connection() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let mut c = server.raw();
        assert!(c.call(&["NOPE"]).starts_with("-ERR unknown command 'NOPE'"));
        assert_eq!(
            c.call(&["GET"]),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(c.call(&["SET", "s", "x"]), "+OK\r\n");
        assert_eq!(
            c.call(&["INCR", "s"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(c.call(&["PING"]), "+PONG\r\n");
        // Replies before the broken request are all delivered, in order.
        c.send(b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\nbad\r\n");
        assert_eq!(c.read_reply(), b"+PONG\r\n");
        assert_eq!(c.read_reply(), b"+PONG\r\n");
        assert_eq!(
            c.read_reply(),
            b"-ERR Protocol error: expected '$', got 'b'\r\n"
        );
        assert!(c.closed());

        let mut d = server.raw();
        d.send(&vec![b'a'; 70 * 1024]);
        assert_eq!(
            d.read_reply(),
            b"-ERR Protocol error: too big inline request\r\n"
        );
        assert!(d.closed());

        let mut e = server.raw();
        e.send(b"*3000000000\r\n");
        assert_eq!(
            e.read_reply(),
            b"-ERR Protocol error: invalid multibulk length\r\n"
        );
        assert!(e.closed());

        // A partial command arriving in pieces is fine.
        let mut f = server.raw();
        for piece in [&b"*2\r\n$4\r"[..], b"\nECHO\r\n$5", b"\r\nhel", b"lo\r\n"] {
            f.send(piece);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(f.read_reply(), b"$5\r\nhello\r\n");
    }
}

#[test]
fn quit_replies_then_closes() {
    let server = Server::start("dual", &[]);
    let mut c = server.raw();
    c.send(b"PING\r\nQUIT\r\nPING\r\n");
    assert_eq!(c.read_reply(), b"+PONG\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert!(c.closed());
}

#[test]
fn client_commands() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let mut c = server.raw();
        let id = c.call(&["CLIENT", "ID"]);
        assert!(id.starts_with(':'), "{id}");
        assert_eq!(c.call(&["CLIENT", "SETNAME", "worker-1"]), "+OK\r\n");
        assert_eq!(c.call(&["CLIENT", "GETNAME"]), "$8\r\nworker-1\r\n");
        let mut other = server.raw();
        let list = other.call(&["CLIENT", "LIST"]);
        assert!(list.contains("name=worker-1"), "{list}");
        assert!(list.contains(&format!("id={} ", id.trim().trim_start_matches(':'))));
        // Two client lines, plus the bulk header's and trailer's newlines.
        assert_eq!(list.matches('\n').count(), 2 + 2, "{list}");
        let info = other.call(&["CLIENT", "INFO"]);
        assert!(
            info.contains("cmd=client|info") || info.contains("cmd=client"),
            "{info}"
        );
        assert!(c.call(&["CLIENT", "KILL", "x"]).starts_with("-ERR"));
    }
}

#[test]
fn command_introspection_for_clients() {
    let server = Server::start("dual", &[]);
    let mut c = server.raw();
    let count = c.call(&["COMMAND", "COUNT"]);
    let n: i64 = count.trim().trim_start_matches(':').parse().unwrap();
    assert!(n >= 50, "{count}");
    let info = c.call(&["COMMAND", "INFO", "mset", "nosuch"]);
    assert!(
        info.starts_with("*2\r\n*10\r\n$4\r\nmset\r\n:-3\r\n"),
        "{info}"
    );
    // An unknown name is a null bulk string, as Redis 7.0 sends it.
    assert!(info.ends_with("$-1\r\n"), "{info}");
    let docs = c.call(&["COMMAND", "DOCS", "get"]);
    assert!(docs.contains("Get the value of a key"), "{docs}");
    let all = c.call(&["COMMAND"]);
    assert!(all.starts_with(&format!("*{n}\r\n")));
    assert_eq!(
        c.call(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
}

#[test]
fn info_shows_the_shape() {
    let server = Server::start(
        "dual",
        &[
            "--network-threads",
            "2",
            "--storage-threads",
            "1",
            "--shards",
            "3",
            "--channel-capacity",
            "77",
            "--batch-max",
            "5",
        ],
    );
    let mut c = server.raw();
    let info = c.call(&["INFO", "server"]);
    for field in [
        "runtime_mode:dual",
        "network_threads:2",
        "network_cores:none",
        "storage_threads:1",
        "storage_cores:none",
        "shards:3",
        "channel_capacity:77",
        "batch_max:5",
    ] {
        assert!(
            info.contains(&format!("{field}\r\n")),
            "missing {field} in {info}"
        );
    }
    assert_eq!(c.call(&["SET", "a", "1"]), "+OK\r\n");
    let all = c.call(&["INFO"]);
    assert!(
        all.contains("# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"),
        "{all}"
    );
    let threads = c.call(&["INFO", "threads"]);
    assert!(threads.contains("name=shardis-net-0"), "{threads}");
    assert!(threads.contains("name=shardis-storage"), "{threads}");
    let storage = c.call(&["INFO", "storage"]);
    assert!(storage.contains("shard_2:queue_depth="), "{storage}");
    assert!(storage.contains(",op_p99_usec="), "{storage}");
    let network = c.call(&["INFO", "network"]);
    assert!(
        network.contains("network_thread_0:name=shardis-net-0,core=none,"),
        "{network}"
    );
    assert!(
        network.contains("network_thread_1:name=shardis-net-1,"),
        "{network}"
    );
    assert!(network.contains(",response_p99_usec="), "{network}");
    let single = Server::start("single", &[]);
    let info = single.raw().call(&["INFO", "server"]);
    assert!(info.contains("runtime_mode:single\r\n"), "{info}");
}

#[test]
fn tiny_channel_and_batch_still_serve_a_flood() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &["--channel-capacity", "1", "--batch-max", "1"]);
        let mut c = server.raw();
        let mut batch = Vec::new();
        for i in 0..5000 {
            batch.extend(common::encode(&[
                b"INCR",
                format!("c{}", i % 13).as_bytes(),
            ]));
        }
        c.send(&batch);
        for _ in 0..5000 {
            assert!(c.read_reply().starts_with(b":"));
        }
        let mut total = 0;
        for k in 0..13 {
            let r = c.call(&["GET", &format!("c{k}")]);
            total += r.lines().nth(1).unwrap().parse::<i64>().unwrap();
        }
        assert_eq!(total, 5000);
    }
}

#[test]
fn batch_max_caps_every_group_even_inside_one_pipeline() {
    // One pipeline of 200 writes reaches the shard as one message; `--batch-max 4`
    // still commits it in groups of at most 4 (with `always`, one synced write each).
    for sync in [
        &["--appendfsync", "no"][..],
        &["--appendfsync", "always", "--always-sync", "group"],
    ] {
        let mut args = vec!["--shards", "1", "--batch-max", "4"];
        args.extend_from_slice(sync);
        let server = Server::start("dual", &args);
        let mut c = server.raw();
        let mut batch = Vec::new();
        for i in 0..200 {
            batch.extend(common::encode(&[b"SET", format!("k{i}").as_bytes(), b"v"]));
        }
        c.send(&batch);
        for _ in 0..200 {
            assert_eq!(c.read_reply(), b"+OK\r\n");
        }
        assert_eq!(c.call(&["DBSIZE"]), ":200\r\n");
        let storage = c.call(&["INFO", "storage"]);
        let field = |name: &str| -> u64 {
            let at = storage.find(&format!("{name}=")).expect(name) + name.len() + 1;
            let rest = &storage[at..];
            rest[..rest.find(',').unwrap()].parse().unwrap()
        };
        assert_eq!(field("max_group"), 4, "{sync:?}: {storage}");
        assert!(field("groups") >= 50, "{sync:?}: {storage}");
    }
}

#[test]
fn a_failed_group_inside_a_pipeline_fails_only_its_own_writes() {
    let server = Server::start(
        "dual",
        &[
            "--shards",
            "1",
            "--batch-max",
            "2",
            "--enable-debug-command",
            "yes",
        ],
    );
    let mut c = server.raw();
    assert_eq!(c.call(&["DEBUG", "STORAGE-ERROR", "1"]), "+OK\r\n");
    let mut batch = Vec::new();
    for k in ["a1", "a2", "a3", "a4"] {
        batch.extend(common::encode(&[b"SET", k.as_bytes(), b"v"]));
    }
    c.send(&batch);
    let replies: Vec<String> = (0..4)
        .map(|_| String::from_utf8(c.read_reply()).unwrap())
        .collect();
    assert!(replies[0].starts_with("-ERR storage error"), "{replies:?}");
    assert!(replies[1].starts_with("-ERR storage error"), "{replies:?}");
    assert_eq!(replies[2..], ["+OK\r\n", "+OK\r\n"]);
    assert_eq!(c.call(&["EXISTS", "a1", "a2", "a3", "a4"]), ":2\r\n");
    assert_eq!(c.call(&["GET", "a3"]), "$1\r\nv\r\n");
}

#[test]
fn config_file_sets_parameters_and_flags_override_it() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("shardis.conf");
    std::fs::write(
        &conf,
        "# test\nbatch-max 9\nchannel-capacity 123\nhash-max-listpack-entries 77\nrequirepass \"pw\"\n",
    )
    .unwrap();
    let server = Server::start(
        "dual",
        &["--config", conf.to_str().unwrap(), "--batch-max", "4"],
    );
    let mut c = server.raw();
    assert_eq!(c.call(&["AUTH", "pw"]), "+OK\r\n");
    let info = c.call(&["INFO", "server"]);
    assert!(
        info.contains("batch_max:4\r\n") && info.contains("channel_capacity:123\r\n"),
        "{info}"
    );
    assert_eq!(
        c.call(&["CONFIG", "GET", "hash-max-listpack-entries"]),
        "*2\r\n$25\r\nhash-max-listpack-entries\r\n$2\r\n77\r\n"
    );
}

#[test]
fn commandstats_and_errorstats_count_traffic() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let mut c = server.raw();
        for i in 0..5 {
            assert_eq!(c.call(&["SET", &format!("k{i}"), "v"]), "+OK\r\n");
        }
        assert_eq!(
            c.call(&["INCR", "k0"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert!(c.call(&["GET"]).starts_with("-ERR wrong number"));
        assert!(c.call(&["NOSUCH"]).starts_with("-ERR unknown command"));
        assert_eq!(c.call(&["MSET", "a", "1", "b", "2", "c", "3"]), "+OK\r\n");
        let stats = c.call(&["INFO", "commandstats"]);
        assert!(stats.contains("cmdstat_set:calls=5,"), "{stats}");
        assert!(stats.contains("cmdstat_incr:calls=1,"), "{stats}");
        assert!(stats.contains("failed_calls=1"), "{stats}");
        assert!(stats.contains("cmdstat_get:calls=0,"), "{stats}");
        assert!(stats.contains("rejected_calls=1"), "{stats}");
        assert!(stats.contains("cmdstat_mset:calls=1,"), "{stats}");
        let errors = c.call(&["INFO", "errorstats"]);
        assert!(errors.contains("errorstat_ERR:count=3\r\n"), "{errors}");
        assert_eq!(c.call(&["CONFIG", "RESETSTAT"]), "+OK\r\n");
        let stats = c.call(&["INFO", "commandstats"]);
        assert!(!stats.contains("cmdstat_set"), "{stats}");
    }
}

#[test]
fn latency_histogram_and_latencystats_have_redis_shapes() {
    let server = Server::start("dual", &[]);
    let mut c = server.raw();
    for i in 0..3 {
        assert_eq!(c.call(&["SET", &format!("k{i}"), "v"]), "+OK\r\n");
    }
    let h = c.call(&["LATENCY", "HISTOGRAM", "set"]);
    assert!(
        h.starts_with("*2\r\n$3\r\nset\r\n*4\r\n$5\r\ncalls\r\n:3\r\n$14\r\nhistogram_usec\r\n*"),
        "{h}"
    );
    // The last bucket's cumulative count is every call.
    assert!(h.ends_with(":3\r\n"), "{h}");
    assert_eq!(c.call(&["LATENCY", "HISTOGRAM", "nosuch"]), "*0\r\n");
    assert!(c.call(&["HELLO", "3"]).starts_with('%'));
    let h3 = c.call(&["LATENCY", "HISTOGRAM", "set"]);
    assert!(
        h3.starts_with("%1\r\n$3\r\nset\r\n%2\r\n$5\r\ncalls\r\n:3\r\n$14\r\nhistogram_usec\r\n%"),
        "{h3}"
    );
    let stats = c.call(&["INFO", "latencystats"]);
    assert!(
        stats.contains("latency_percentiles_usec_set:p50="),
        "{stats}"
    );
    // Where a keyed command's time went, stage by stage.
    assert!(
        stats.contains("latency_stages_usec_set:network_p50="),
        "{stats}"
    );
    assert!(
        stats.contains(",queue_p99=") && stats.contains(",commit_p50="),
        "{stats}"
    );
    assert!(stats.contains(",p99.9="), "{stats}");
}

#[test]
fn slowlog_records_slow_commands_with_redis_shape() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let mut c = server.raw();
        assert_eq!(c.call(&["CLIENT", "SETNAME", "slowpoke"]), "+OK\r\n");
        assert_eq!(c.call(&["SET", "before", "x"]), "+OK\r\n");
        assert_eq!(
            c.call(&["SLOWLOG", "LEN"]),
            ":0\r\n",
            "{rt}: nothing is 10 ms slow"
        );
        assert_eq!(
            c.call(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
            "+OK\r\n"
        );
        assert_eq!(c.call(&["SET", "key", "value"]), "+OK\r\n");
        let entry = c.call(&["SLOWLOG", "GET", "1"]);
        // [id, time, usec, [args], "ip:port", "name"]
        assert!(entry.starts_with("*1\r\n*6\r\n:"), "{entry}");
        assert!(
            entry.contains("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n$15\r\n127.0.0.1:"),
            "{entry}"
        );
        assert!(entry.ends_with("$8\r\nslowpoke\r\n"), "{entry}");
        let long = "x".repeat(200);
        assert_eq!(c.call(&["SET", "long", &long]), "+OK\r\n");
        let entry = c.call(&["SLOWLOG", "GET", "1"]);
        assert!(entry.contains("... (72 more bytes)"), "{entry}");
        assert!(c
            .call(&["SLOWLOG", "GET", "-2"])
            .starts_with("-ERR count should be"));
        assert_eq!(c.call(&["SLOWLOG", "RESET"]), "+OK\r\n");
        assert_eq!(
            c.call(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]),
            "+OK\r\n"
        );
        assert_eq!(
            c.call(&["SLOWLOG", "LEN"]),
            ":1\r\n",
            "RESET itself was logged, as in Redis"
        );
    }
}
