//! Expiry: an expired key is never returned, and the storage side removes expired
//! keys in the background.

mod common;

use std::time::{Duration, Instant};

use common::{Server, RUNTIMES};
use redis::cmd;

fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let text: String = cmd("INFO").arg(section).query(c).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn expired_keys_are_never_returned() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let mut c = server.client();
        let _: () = cmd("SET")
            .arg("short")
            .arg("v")
            .arg("PX")
            .arg(150)
            .query(&mut c)
            .unwrap();
        let _: () = cmd("SET")
            .arg("long")
            .arg("v")
            .arg("EX")
            .arg(100)
            .query(&mut c)
            .unwrap();
        let _: i64 = cmd("PEXPIRE").arg("long").arg(150).query(&mut c).unwrap();
        assert_eq!(
            cmd("GET")
                .arg("short")
                .query::<Option<String>>(&mut c)
                .unwrap(),
            Some("v".into())
        );
        std::thread::sleep(Duration::from_millis(300));
        for key in ["short", "long"] {
            assert_eq!(
                cmd("GET").arg(key).query::<Option<String>>(&mut c).unwrap(),
                None,
                "{rt}"
            );
            assert_eq!(cmd("EXISTS").arg(key).query::<i64>(&mut c).unwrap(), 0);
            assert_eq!(cmd("TTL").arg(key).query::<i64>(&mut c).unwrap(), -2);
        }
        let keys: Vec<String> = cmd("KEYS").arg("*").query(&mut c).unwrap();
        assert!(keys.is_empty(), "{keys:?}");
        assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    }
}

#[test]
fn background_sweeper_removes_expired_keys() {
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        let mut c = server.client();
        let mut pipe = redis::pipe();
        for i in 0..2000 {
            pipe.cmd("SET")
                .arg(format!("e{i}"))
                .arg("v")
                .arg("PX")
                .arg(100)
                .ignore();
        }
        let _: () = pipe.query(&mut c).unwrap();
        // Nobody reads these keys again: only the sweeper can remove them.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let expired = info_field(&mut c, "stats", "expired_keys");
            if expired >= 2000 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{rt}: only {expired} of 2000 keys swept"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
