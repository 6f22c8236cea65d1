//! Bitmaps on large strings (issue 19), through the `redis` crate and redis-py: a bit
//! update on a 64 MB bitmap writes one chunk, not the bitmap (RocksDB's bytes-written
//! figure, INFO `rocksdb_bytes_written`), and every string command still sees the
//! bytes Redis would hold.

mod common;

use std::time::Duration;

use common::{redis_py, Rng, Server, RUNTIMES};

/// INFO's count of bytes given to RocksDB, once the sampler (twice a second) has
/// caught up with every write so far.
fn bytes_written(con: &mut redis::Connection) -> u64 {
    std::thread::sleep(Duration::from_millis(1200));
    let info: String = redis::cmd("INFO").arg("rocksdb").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("rocksdb_bytes_written:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("rocksdb_bytes_written in INFO")
}

#[test]
fn setbit_on_a_64_mb_bitmap_writes_a_chunk_not_the_bitmap() {
    const MB: u64 = 1 << 20;
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        let mut con = server.client();
        let before = bytes_written(&mut con);
        // The last bit of a 64 MB bitmap: the string is 64 MB long at once.
        let last = 64 * MB * 8 - 1;
        let old: i64 = redis::cmd("SETBIT")
            .arg("bm")
            .arg(last)
            .arg(1)
            .query(&mut con)
            .unwrap();
        assert_eq!(old, 0);
        let len: u64 = redis::cmd("STRLEN").arg("bm").query(&mut con).unwrap();
        assert_eq!(len, 64 * MB);
        let created = bytes_written(&mut con) - before;
        assert!(
            created < 64 * 1024,
            "{runtime}: creating wrote {created} bytes"
        );

        // A thousand bit updates spread over the whole bitmap.
        let mut rng = Rng::new(19);
        let mut set = std::collections::BTreeSet::from([last]);
        let mut pipe = redis::pipe();
        for _ in 0..1000 {
            let bit = rng.next() % (64 * MB * 8);
            set.insert(bit);
            pipe.cmd("SETBIT").arg("bm").arg(bit).arg(1).ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
        let updates = bytes_written(&mut con) - before - created;
        // One 4 KB chunk and its key per update at most: about 4 MB, far from the
        // 64 GB that rewriting the whole value each time would be.
        assert!(
            updates < 6 * MB,
            "{runtime}: 1000 SETBITs wrote {updates} bytes"
        );

        eprintln!(
            "{runtime}: creating a 64 MB bitmap wrote {created} bytes, 1000 SETBITs {updates}"
        );
        let count: u64 = redis::cmd("BITCOUNT").arg("bm").query(&mut con).unwrap();
        assert_eq!(count, set.len() as u64, "{runtime}");
        let first: i64 = redis::cmd("BITPOS")
            .arg("bm")
            .arg(1)
            .query(&mut con)
            .unwrap();
        assert_eq!(first as u64, *set.iter().next().unwrap());
        for &bit in set.iter().take(50) {
            let v: i64 = redis::cmd("GETBIT")
                .arg("bm")
                .arg(bit)
                .query(&mut con)
                .unwrap();
            assert_eq!(v, 1, "{runtime}: bit {bit}");
        }
        // GET returns the whole 64 MB, each set bit where it was put.
        let value: Vec<u8> = redis::cmd("GET").arg("bm").query(&mut con).unwrap();
        assert_eq!(value.len() as u64, 64 * MB);
        let ones: u64 = value.iter().map(|b| b.count_ones() as u64).sum();
        assert_eq!(ones, set.len() as u64);
        for &bit in &set {
            assert_eq!(value[(bit / 8) as usize] >> (7 - bit % 8) & 1, 1);
        }

        // A SET makes it a plain string again; the chunks are dead.
        let _: () = redis::cmd("SET")
            .arg("bm")
            .arg("small")
            .query(&mut con)
            .unwrap();
        let v: String = redis::cmd("GET").arg("bm").query(&mut con).unwrap();
        assert_eq!(v, "small");
        let bit: i64 = redis::cmd("GETBIT")
            .arg("bm")
            .arg(last)
            .query(&mut con)
            .unwrap();
        assert_eq!(bit, 0);
    }
}

#[test]
fn chunked_strings_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "dual", &[]);
    let mut con = server.client();
    let _: i64 = redis::cmd("SETRANGE")
        .arg("s")
        .arg(100_000)
        .arg("end")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("SETBIT")
        .arg("s")
        .arg(7)
        .arg(1)
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("APPEND")
        .arg("s")
        .arg("!")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("PEXPIRE")
        .arg("s")
        .arg(10_000_000)
        .query(&mut con)
        .unwrap();
    drop(con);
    server.stop();
    let server = Server::start_in(dir.path(), "dual", &[]);
    let mut con = server.client();
    let v: Vec<u8> = redis::cmd("GET").arg("s").query(&mut con).unwrap();
    let mut want = vec![0u8; 100_000];
    want[0] = 1;
    want.extend_from_slice(b"end!");
    assert_eq!(v, want);
    let ttl: i64 = redis::cmd("PTTL").arg("s").query(&mut con).unwrap();
    assert!(ttl > 9_000_000);
}

#[test]
fn redis_py_bitmap_calls() {
    let server = Server::start("dual", &[]);
    redis_py("bitmaps.py", server.port, "bitmaps");
}
