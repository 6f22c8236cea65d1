//! Differential tests: the same command sequences go to a real redis-server and to
//! shardis (both runtimes), and the replies must be byte-identical.
//!
//! The sequences live in `tests/cases/*.txt`, one command per line in redis-cli's
//! quoting. Directives:
//! * `!sort CMD ...`  compare the reply's array elements as a sorted multiset
//!   (KEYS and other replies whose order Redis does not define);
//! * `!raw BYTES`     send BYTES as they are (`\r`, `\n`, `\xHH` escapes) and read one reply;
//! * `!closed`        both servers must have closed the connection;
//! * `!sleep MS`      wait;
//! * `!conn N`        send what follows on the N-th pair of connections (1 at the
//!   start; a new pair is opened on first use), e.g. another client's write
//!   between WATCH and EXEC;
//! * `!any CMD ...`   send to both, read both replies, compare nothing (HELLO 3,
//!   whose reply carries the client id);
//! * `!send CMD ...`  send to both and read nothing (a blocking command, whose reply
//!   comes later, or a command that CLIENT REPLY silences);
//! * `!read`          read one more reply from both and compare them (the second
//!   confirmation of SUBSCRIBE a b, a message, a blocked command's reply).
//!
//! The test needs `redis-server` on the PATH. `scripts/test.sh` installs it and sets
//! `SHARDIS_REQUIRE_REDIS=1`, which turns a missing redis-server into a failure
//! instead of a skip.

mod common;

use std::time::Duration;

use common::{Raw, Server, RUNTIMES};
use shardis::protocol::parser::split_args;

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                other => out.push(other),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Splits an array reply's bytes into its top-level elements, sorted (for `!sort`).
fn sorted_elements(reply: &[u8]) -> Vec<Vec<u8>> {
    fn element_end(b: &[u8], i: usize) -> usize {
        let e = i + b[i..].windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        let kind = b[i];
        let n: i64 = std::str::from_utf8(&b[i + 1..e - 2])
            .unwrap()
            .parse()
            .unwrap_or(0);
        match kind {
            b'$' | b'=' if n >= 0 => e + n as usize + 2,
            b'*' | b'~' | b'%' => {
                let count = if kind == b'%' { n * 2 } else { n };
                let mut j = e;
                for _ in 0..count.max(0) {
                    j = element_end(b, j);
                }
                j
            }
            _ => e,
        }
    }
    let mut i = reply.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let mut items = Vec::new();
    while i < reply.len() {
        let e = element_end(reply, i);
        items.push(reply[i..e].to_vec());
        i = e;
    }
    items.sort();
    items
}

fn run_case(name: &str, text: &str, redis_port: u16, shardis_port: u16, runtime: &str) {
    let mut conns = vec![(Raw::connect(redis_port), Raw::connect(shardis_port))];
    let mut current = 0;
    {
        let (a, b) = &mut conns[0];
        assert_eq!(a.call(&["FLUSHALL"]), "+OK\r\n", "redis FLUSHALL");
        assert_eq!(b.call(&["FLUSHALL"]), "+OK\r\n", "shardis FLUSHALL");
    }
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{name}:{} [{runtime}] `{line}`", lineno + 1);
        if let Some(ms) = line.strip_prefix("!sleep ") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
            continue;
        }
        if let Some(n) = line.strip_prefix("!conn ") {
            current = n.trim().parse::<usize>().expect("!conn N") - 1;
            while conns.len() <= current {
                conns.push((Raw::connect(redis_port), Raw::connect(shardis_port)));
            }
            continue;
        }
        let (a, b) = &mut conns[current];
        if let Some(cmd) = line.strip_prefix("!any ") {
            let args = split_args(cmd.as_bytes()).expect("bad quoting in case file");
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            a.cmd(&args);
            b.cmd(&args);
            continue;
        }
        if let Some(cmd) = line.strip_prefix("!send ") {
            let args = split_args(cmd.as_bytes()).expect("bad quoting in case file");
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            a.send_cmd(&args);
            b.send_cmd(&args);
            continue;
        }
        if line == "!closed" {
            assert!(a.closed(), "{at}: redis kept the connection open");
            assert!(b.closed(), "{at}: shardis kept the connection open");
            return;
        }
        let (sort, replies) = if line == "!read" {
            (false, (a.read_reply(), b.read_reply()))
        } else if let Some(raw) = line.strip_prefix("!raw ") {
            let bytes = unescape(raw);
            a.send(&bytes);
            b.send(&bytes);
            (false, (a.read_reply(), b.read_reply()))
        } else {
            let (sort, cmd) = match line.strip_prefix("!sort ") {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let args = split_args(cmd.as_bytes()).expect("bad quoting in case file");
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            (sort, (a.cmd(&args), b.cmd(&args)))
        };
        let (expected, got) = replies;
        if sort {
            assert_eq!(
                sorted_elements(&expected),
                sorted_elements(&got),
                "{at}\nredis:   {:?}\nshardis: {:?}",
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&got)
            );
        } else {
            assert_eq!(
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&got),
                "{at}"
            );
        }
    }
}

#[test]
fn replies_match_redis_byte_for_byte() {
    let Some(redis) = common::start_redis() else {
        return;
    };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases");
    let mut cases: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no case files in {dir}");
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        for path in &cases {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path).unwrap();
            run_case(&name, &text, redis.port, server.port, runtime);
        }
    }
}
