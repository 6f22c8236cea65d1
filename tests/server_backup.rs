//! Backups: SAVE and BGSAVE write a RocksDB checkpoint under --dir; a server started on
//! the checkpoint directory serves its data; LASTSAVE moves.

mod common;

use std::time::{Duration, Instant};

use common::Server;

fn checkpoints(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("checkpoints"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn save_makes_a_checkpoint_that_a_server_can_serve() {
    for rt in common::RUNTIMES {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let server = Server::start_in(&dir, rt, &[]);
        let mut c = server.raw();
        assert_eq!(c.call(&["SET", "kept", "before-save"]), "+OK\r\n");
        assert_eq!(c.call(&["HSET", "h", "f", "v"]), ":1\r\n");
        assert_eq!(c.call(&["RPUSH", "l", "a", "b"]), ":2\r\n");
        let before: i64 = c
            .call(&["LASTSAVE"])
            .trim()
            .trim_start_matches(':')
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(c.call(&["SAVE"]), "+OK\r\n");
        let after: i64 = c
            .call(&["LASTSAVE"])
            .trim()
            .trim_start_matches(':')
            .parse()
            .unwrap();
        assert!(after > before, "LASTSAVE {before} -> {after}");
        // Written after the checkpoint: must not be in it.
        assert_eq!(c.call(&["SET", "kept", "after-save"]), "+OK\r\n");
        assert_eq!(c.call(&["SET", "later", "x"]), "+OK\r\n");

        assert_eq!(c.call(&["BGSAVE"]), "+Background saving started\r\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while checkpoints(&dir).len() < 2 {
            assert!(Instant::now() < deadline, "BGSAVE wrote no checkpoint");
            std::thread::sleep(Duration::from_millis(50));
        }
        let info = c.call(&["INFO", "persistence"]);
        assert!(info.contains("shardis_last_checkpoint:"), "{info}");
        drop(c);
        server.stop();

        let first = checkpoints(&dir)[0].clone();
        let restored = Server::start_in(&first, rt, &[]);
        let mut c = restored.raw();
        assert_eq!(c.call(&["GET", "kept"]), "$11\r\nbefore-save\r\n");
        assert_eq!(c.call(&["GET", "later"]), "$-1\r\n");
        assert_eq!(c.call(&["HGET", "h", "f"]), "$1\r\nv\r\n");
        assert_eq!(
            c.call(&["LRANGE", "l", "0", "-1"]),
            "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        );
        drop(c);
        restored.stop();

        let second = checkpoints(&dir)[1].clone();
        let restored = Server::start_in(&second, rt, &[]);
        assert_eq!(restored.raw().call(&["GET", "later"]), "$1\r\nx\r\n");
    }
}
