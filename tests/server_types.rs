//! redis-py's own calls for geo, HyperLogLog, SORT, MEMORY and LOLWUT (issue 19),
//! in both runtimes, keys on several shards (tests/py/types.py); OBJECT IDLETIME.

mod common;

use common::{redis_py, Server, RUNTIMES};

#[test]
fn redis_py_geo_hll_sort_memory() {
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        redis_py("types.py", server.port, runtime);
    }
}

#[test]
fn object_idletime_counts_from_the_last_use() {
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        let mut con = server.client();
        let idle = |con: &mut redis::Connection, key: &str| -> i64 {
            redis::cmd("OBJECT")
                .arg("IDLETIME")
                .arg(key)
                .query(con)
                .unwrap()
        };
        let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
        let _: () = redis::cmd("SET").arg("b").arg("1").query(&mut con).unwrap();
        assert_eq!(idle(&mut con, "a"), 0, "{runtime}");
        std::thread::sleep(std::time::Duration::from_millis(2100));
        // OBJECT itself is no use of the key, nor are EXISTS, TYPE and TTL.
        assert!(idle(&mut con, "a") >= 2, "{runtime}");
        for cmd in ["EXISTS", "TYPE", "TTL"] {
            let _: redis::Value = redis::cmd(cmd).arg("a").query(&mut con).unwrap();
        }
        assert!(idle(&mut con, "a") >= 2, "{runtime}");
        let _: String = redis::cmd("GET").arg("a").query(&mut con).unwrap();
        assert_eq!(idle(&mut con, "a"), 0, "{runtime}: a read is a use");
        assert!(idle(&mut con, "b") >= 2, "{runtime}");
        let none: Option<i64> = redis::cmd("OBJECT")
            .arg("IDLETIME")
            .arg("nosuch")
            .query(&mut con)
            .unwrap();
        assert_eq!(none, None);
    }
}
