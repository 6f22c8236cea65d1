//! Data survives restarts: clean (SIGTERM, SHUTDOWN) and, with `appendfsync always`,
//! a SIGKILL right after the acknowledgement.

mod common;

use common::{Server, RUNTIMES};
use redis::cmd;

#[test]
fn data_survives_sigterm_restart() {
    for rt in RUNTIMES {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let server = Server::start_in(&dir, rt, &[]);
        let mut c = server.client();
        for i in 0..300 {
            let _: () = cmd("SET")
                .arg(format!("k{i}"))
                .arg(format!("v{i}"))
                .query(&mut c)
                .unwrap();
        }
        let _: () = cmd("SET")
            .arg("ttl")
            .arg("x")
            .arg("EX")
            .arg(1000)
            .query(&mut c)
            .unwrap();
        let _: () = cmd("SELECT").arg(2).query(&mut c).unwrap();
        let _: () = cmd("SET").arg("in2").arg("yes").query(&mut c).unwrap();
        drop(c);
        server.stop();

        // The restarted server may use another runtime: the data format is the same.
        let other = if rt == "dual" { "single" } else { "dual" };
        let server = Server::start_in(&dir, other, &[]);
        let mut c = server.client();
        for i in 0..300 {
            let v: String = cmd("GET").arg(format!("k{i}")).query(&mut c).unwrap();
            assert_eq!(v, format!("v{i}"));
        }
        let ttl: i64 = cmd("TTL").arg("ttl").query(&mut c).unwrap();
        assert!(ttl > 900, "TTL survives restart, got {ttl}");
        let _: () = cmd("SELECT").arg(2).query(&mut c).unwrap();
        assert_eq!(
            cmd("GET").arg("in2").query::<String>(&mut c).unwrap(),
            "yes"
        );
        drop(c);
        server.stop();
    }
}

#[test]
fn shutdown_command_stops_cleanly_and_keeps_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut server = Server::start_in(&dir, "dual", &[]);
    let mut raw = server.raw();
    assert_eq!(raw.call(&["SET", "a", "1"]), "+OK\r\n");
    raw.send(b"SHUTDOWN\r\n");
    assert!(
        raw.closed(),
        "SHUTDOWN closes the connection without a reply"
    );
    for _ in 0..200 {
        if server.exited() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(server.exited(), "server still running after SHUTDOWN");
    drop(server);
    let server = Server::start_in(&dir, "dual", &[]);
    assert_eq!(server.raw().call(&["GET", "a"]), "$1\r\n1\r\n");
}

#[test]
fn acknowledged_writes_survive_sigkill_with_fsync_always() {
    // Both runtimes, and the dual runtime's two ways of syncing (the sync stage, and a
    // synced write per group).
    let setups: [(&str, &[&str]); 3] = [
        ("dual", &[]),
        ("single", &[]),
        ("dual", &["--always-sync", "group"]),
    ];
    for (rt, extra) in setups {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let mut args = vec!["--appendfsync", "always"];
        args.extend_from_slice(extra);
        let server = Server::start_in(&dir, rt, &args);
        let mut c = server.client();
        let mode: Vec<String> = cmd("CONFIG")
            .arg("GET")
            .arg("always-sync")
            .query(&mut c)
            .unwrap();
        let expected = if extra.is_empty() { "stage" } else { "group" };
        assert_eq!(mode, ["always-sync", expected]);
        for i in 0..200 {
            let _: i64 = cmd("INCR").arg("ctr").query(&mut c).unwrap();
            let _: () = cmd("SET")
                .arg(format!("k{i}"))
                .arg(i)
                .query(&mut c)
                .unwrap();
        }
        drop(server); // SIGKILL
        let server = Server::start_in(&dir, rt, &[]);
        let mut c = server.client();
        assert_eq!(
            cmd("GET").arg("ctr").query::<i64>(&mut c).unwrap(),
            200,
            "{rt}"
        );
        assert_eq!(
            cmd("GET").arg("k199").query::<i64>(&mut c).unwrap(),
            199,
            "{rt}"
        );
    }
}

#[test]
fn writes_into_recycled_wal_files_survive_sigkill() {
    // A small memtable makes RocksDB switch WAL files often, so most of these writes
    // go over the blocks of recycled WAL files; recovery must stop at their old tail.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let args = [
        "--appendfsync",
        "always",
        "--rocksdb-write-buffer-size",
        "65536",
        "--rocksdb-recycle-wal-files",
        "4",
    ];
    let server = Server::start_in(&dir, "dual", &args);
    let mut c = server.raw();
    let value = "v".repeat(200);
    for round in 0..20 {
        let mut batch = Vec::new();
        for i in 0..100 {
            let key = format!("k{}", round * 100 + i);
            batch.extend(common::encode(&[b"SET", key.as_bytes(), value.as_bytes()]));
        }
        c.send(&batch);
        for _ in 0..100 {
            assert_eq!(c.read_reply(), b"+OK\r\n");
        }
    }
    let log = std::fs::read_to_string(dir.join("LOG")).unwrap();
    assert!(log.contains("from recycle list"), "no WAL file was reused");
    drop(server); // SIGKILL
    let server = Server::start_in(&dir, "dual", &[]);
    let mut c = server.raw();
    assert_eq!(c.call(&["DBSIZE"]), ":2000\r\n");
    for k in ["k0", "k1000", "k1999"] {
        assert_eq!(c.call(&["GET", k]), format!("$200\r\n{value}\r\n"));
    }
}

/// `rocksdb_memtable_entries` from INFO rocksdb, once the sampler has caught up.
fn memtable_entries_after_writes(c: &mut common::Raw) -> u64 {
    // The storage side samples RocksDB's properties every 500 ms.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let info = c.call(&["INFO", "rocksdb"]);
    let at = info.find("rocksdb_memtable_entries:").expect("field") + 25;
    let line = info[at..].lines().next().unwrap();
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{line:?} in {info}"))
}

#[test]
fn memtable_max_entries_ends_memtables_by_count() {
    for (max, bounded) in [("0", false), ("1000", true)] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let server = Server::start_in(&dir, "dual", &["--rocksdb-memtable-max-entries", max]);
        let mut c = server.raw();
        for round in 0..40 {
            let mut batch = Vec::new();
            for i in 0..500 {
                let key = format!("k{}", round * 500 + i);
                batch.extend(common::encode(&[b"SET", key.as_bytes(), b"small"]));
            }
            c.send(&batch);
            for _ in 0..500 {
                assert_eq!(c.read_reply(), b"+OK\r\n");
            }
        }
        let entries = memtable_entries_after_writes(&mut c);
        if bounded {
            // Ended every 1000 entries, checked every 250 and each group is at most 256.
            assert!(entries <= 1000 + 250 + 256, "{entries} entries");
        } else {
            // 20,000 small entries stay far below the 16 MB memtable size.
            assert!(entries >= 20_000, "{entries} entries");
        }
        drop(server); // SIGKILL
        let server = Server::start_in(&dir, "dual", &[]);
        let mut c = server.raw();
        assert_eq!(c.call(&["DBSIZE"]), ":20000\r\n", "max {max}");
        assert_eq!(c.call(&["GET", "k19999"]), "$5\r\nsmall\r\n");
    }
}

/// Nice values of the server's threads named `name`.
fn nice_of_threads(pid: u32, name: &str) -> Vec<i64> {
    let mut nices = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.join("stat")).unwrap();
        // The fields after the command name (which ends with ')'): nice is field 19.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        nices.push(after.split(' ').nth(16).unwrap().parse().unwrap());
    }
    nices
}

#[test]
fn background_priority_low_renices_the_flush_thread() {
    for (priority, expected) in [("normal", 0), ("low", 19)] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let args = [
            "--rocksdb-background-priority",
            priority,
            "--rocksdb-write-buffer-size",
            "65536",
        ];
        let server = Server::start_in(&dir, "dual", &args);
        let mut c = server.raw();
        let value = "v".repeat(200);
        let mut batch = Vec::new();
        for i in 0..2000 {
            batch.extend(common::encode(&[
                b"SET",
                format!("k{i}").as_bytes(),
                value.as_bytes(),
            ]));
        }
        c.send(&batch);
        for _ in 0..2000 {
            assert_eq!(c.read_reply(), b"+OK\r\n");
        }
        // RocksDB sets a pool thread's priority when the thread takes its next job,
        // and the 2,000 writes fill about ten memtables.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let nices = nice_of_threads(server.pid(), "rocksdb:high");
            assert!(!nices.is_empty(), "no flush thread");
            if expected == 0 {
                assert!(nices.iter().all(|&n| n == 0), "{priority}: {nices:?}");
                break;
            }
            if nices.contains(&expected) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{priority}: rocksdb:high nice values {nices:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(c.call(&["DBSIZE"]), ":2000\r\n");
    }
}
