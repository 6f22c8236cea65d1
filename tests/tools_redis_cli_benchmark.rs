//! Unmodified Redis tools against shardis: redis-cli and redis-benchmark.
//! Needs redis-tools (scripts/test.sh installs them and sets SHARDIS_REQUIRE_REDIS=1).

mod common;

use std::process::Command;

use common::{Server, RUNTIMES};

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("SHARDIS_REQUIRE_REDIS").as_deref() != Ok("1"),
            "{tool} is not installed (scripts/test.sh installs it)"
        );
        eprintln!("SKIPPED: {tool} not installed");
    }
    found
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn redis_cli_talks_to_shardis() {
    if !have("redis-cli") {
        return;
    }
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        assert_eq!(cli(server.port, &["PING"]), "PONG");
        assert_eq!(cli(server.port, &["SET", "greeting", "hello world"]), "OK");
        assert_eq!(cli(server.port, &["GET", "greeting"]), "hello world");
        assert_eq!(cli(server.port, &["--no-raw", "INCR", "n"]), "(integer) 1");
        assert_eq!(cli(server.port, &["--no-raw", "GET", "nope"]), "(nil)");
        let info = cli(server.port, &["INFO", "server"]);
        assert!(info.contains(&format!("runtime_mode:{rt}")), "{info}");
    }
}

#[test]
fn redis_benchmark_runs_without_errors() {
    if !have("redis-benchmark") {
        return;
    }
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        for pipeline in ["1", "16"] {
            let out = Command::new("redis-benchmark")
                .args(["-p", &server.port.to_string(), "-t", "set,get,incr,mset"])
                .args(["-n", "20000", "-P", pipeline, "-q", "-r", "10000"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{rt} -P {pipeline}: {text}");
            for test in ["SET", "GET", "INCR", "MSET (10 keys)"] {
                let line = text.split(['\r', '\n']).find(|l| {
                    l.starts_with(&format!("{test}: ")) && l.contains("requests per second")
                });
                assert!(
                    line.is_some(),
                    "{rt} -P {pipeline}: no result for {test}: {text}"
                );
            }
            assert!(!text.to_lowercase().contains("error"), "{rt}: {text}");
        }
        // The benchmark really wrote through shardis.
        let mut c = server.raw();
        let dbsize = c.call(&["DBSIZE"]);
        assert!(dbsize.starts_with(':') && dbsize != ":0\r\n", "{dbsize}");
    }
}

#[test]
fn redis_benchmark_default_suite_runs_without_errors() {
    if !have("redis-benchmark") {
        return;
    }
    let expected = [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "LRANGE_100 (first 100 elements)",
        "LRANGE_300 (first 300 elements)",
        "LRANGE_500 (first 500 elements)",
        "LRANGE_600 (first 600 elements)",
        "MSET (10 keys)",
    ];
    for rt in RUNTIMES {
        let server = Server::start(rt, &[]);
        for pipeline in ["1", "16"] {
            let out = Command::new("redis-benchmark")
                .args([
                    "-p",
                    &server.port.to_string(),
                    "-n",
                    "5000",
                    "-q",
                    "-P",
                    pipeline,
                ])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{rt} -P {pipeline}: {text}");
            for test in expected {
                let found = text.split(['\r', '\n']).any(|l| {
                    l.starts_with(&format!("{test}: ")) && l.contains("requests per second")
                });
                assert!(found, "{rt} -P {pipeline}: no result for {test}: {text}");
            }
            assert!(
                !text.to_lowercase().contains("error"),
                "{rt} -P {pipeline}: {text}"
            );
        }
    }
}
