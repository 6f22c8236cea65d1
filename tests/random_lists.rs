//! Randomized differential test of the list commands: a seeded generator produces
//! thousands of list operations over a few keys, sent to a real redis-server and to
//! shardis (both runtimes, 4 shards), and every reply must be byte-identical.
//!
//! The run is deterministic for a seed; `SHARDIS_LISTS_SEED=n` picks another one and
//! `SHARDIS_LISTS_OPS=n` the number of operations per phase. A mismatch reports the
//! seed, the operation and the commands that led to it.
//!
//! The test needs `redis-server` on the PATH; it is skipped with a note when missing,
//! unless `SHARDIS_REQUIRE_REDIS=1`.

mod common;

use std::collections::VecDeque;

use common::{Raw, Rng, Server, RUNTIMES};
use shardis::storage::encoding::{key_hash, shard_of};

/// Shard count the harness starts shardis with.
const SHARDS: usize = 4;

/// List keys; `rs` holds a string, for WRONGTYPE replies.
const KEYS: [&str; 5] = ["ra", "rb", "rc", "rd", "re"];
const STRING_KEY: &str = "rs";

struct Gen {
    rng: Rng,
    /// Pairs of distinct keys that share a shard (LMOVE between them is local); the
    /// string key takes part, for WRONGTYPE on either side.
    pairs: Vec<(&'static str, &'static str)>,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        let shard = |k: &str| shard_of(key_hash(k.as_bytes()), SHARDS);
        let mut pairs = Vec::new();
        let all = || KEYS.into_iter().chain([STRING_KEY]);
        for a in all() {
            for b in all() {
                if a != b && shard(a) == shard(b) {
                    pairs.push((a, b));
                }
            }
        }
        Gen {
            rng: Rng::new(seed),
            pairs,
        }
    }

    fn key(&mut self) -> String {
        if self.rng.chance(2) {
            STRING_KEY.to_string()
        } else {
            self.rng.pick(&KEYS).to_string()
        }
    }

    /// Elements come from a small alphabet so that LREM, LPOS and LINSERT find matches.
    fn element(&mut self) -> String {
        match self.rng.below(20) {
            0 => String::new(),
            1 => format!(
                "long-{}-{}",
                "x".repeat(self.rng.below(40)),
                self.rng.below(5)
            ),
            2 => format!("{}", self.rng.range(-3, 3)),
            _ => self.rng.pick(&["a", "b", "c", "d", "e", "f"]).to_string(),
        }
    }

    /// An index or bound: mostly near the list sizes, sometimes extreme or not a number.
    fn index(&mut self) -> String {
        match self.rng.below(50) {
            0 => i64::MIN.to_string(),
            1 => i64::MAX.to_string(),
            2 => "x".to_string(),
            3..=10 => self.rng.range(-200, 200).to_string(),
            _ => self.rng.range(-30, 30).to_string(),
        }
    }

    fn side(&mut self) -> &'static str {
        self.rng.pick(&["LEFT", "RIGHT", "left", "Right"])
    }

    fn command(&mut self) -> Vec<String> {
        let mut cmd: Vec<String> = Vec::new();
        let push = |c: &mut Vec<String>, s: &str| c.push(s.to_string());
        match self.rng.below(100) {
            0..=13 => {
                push(&mut cmd, self.rng.pick(&["LPUSH", "RPUSH"]));
                cmd.push(self.key());
                let n = if self.rng.chance(8) {
                    self.rng.range(30, 80)
                } else {
                    self.rng.range(1, 5)
                };
                for _ in 0..n {
                    cmd.push(self.element());
                }
            }
            14..=17 => {
                push(&mut cmd, self.rng.pick(&["LPUSHX", "RPUSHX"]));
                cmd.push(self.key());
                for _ in 0..self.rng.range(1, 3) {
                    cmd.push(self.element());
                }
            }
            18..=27 => {
                push(&mut cmd, self.rng.pick(&["LPOP", "RPOP"]));
                cmd.push(self.key());
                match self.rng.below(40) {
                    0..=19 => {}
                    20..=22 => cmd.push(self.rng.pick(&["0", "-1", "x"]).to_string()),
                    23 => cmd.push(self.rng.range(30, 100).to_string()),
                    _ => cmd.push(self.rng.range(1, 6).to_string()),
                }
            }
            28..=31 => {
                push(&mut cmd, "LLEN");
                cmd.push(self.key());
            }
            32..=39 => {
                push(&mut cmd, "LINDEX");
                cmd.push(self.key());
                cmd.push(self.index());
            }
            40..=45 => {
                push(&mut cmd, "LSET");
                cmd.push(self.key());
                cmd.push(self.index());
                cmd.push(self.element());
            }
            46..=55 => {
                push(&mut cmd, "LRANGE");
                cmd.push(self.key());
                cmd.push(self.index());
                cmd.push(self.index());
            }
            56..=63 => {
                push(&mut cmd, "LINSERT");
                cmd.push(self.key());
                let w = self
                    .rng
                    .pick(&["BEFORE", "AFTER", "before", "after", "AFTER", "MIDDLE"]);
                push(&mut cmd, w);
                cmd.push(self.element());
                cmd.push(self.element());
            }
            64..=71 => {
                push(&mut cmd, "LREM");
                cmd.push(self.key());
                let count = match self.rng.below(20) {
                    0 => "0".to_string(),
                    1 => self.rng.pick(&["x", "-9223372036854775808"]).to_string(),
                    _ => self.rng.range(-4, 4).to_string(),
                };
                cmd.push(count);
                cmd.push(self.element());
            }
            72..=76 => {
                push(&mut cmd, "LTRIM");
                cmd.push(self.key());
                // Mostly gentle trims, so that the lists keep some length.
                let gentle = self.rng.below(100);
                if gentle < 60 {
                    cmd.push(self.rng.range(0, 3).to_string());
                    cmd.push(self.rng.range(-4, -1).to_string());
                } else if gentle < 85 {
                    cmd.push(self.rng.range(-2, 3).to_string());
                    cmd.push(self.rng.range(-3, 300).to_string());
                } else {
                    cmd.push(self.index());
                    cmd.push(self.index());
                }
            }
            77..=86 => {
                push(&mut cmd, "LPOS");
                cmd.push(self.key());
                cmd.push(self.element());
                for _ in 0..self.rng.below(4) {
                    match self.rng.below(20) {
                        0..=7 => {
                            push(&mut cmd, "RANK");
                            let r = match self.rng.below(30) {
                                0 => "0".to_string(),
                                1 => i64::MIN.to_string(),
                                2 => i64::MAX.to_string(),
                                _ => self.rng.range(-5, 5).to_string(),
                            };
                            cmd.push(r);
                        }
                        8..=13 => {
                            push(&mut cmd, "COUNT");
                            let c = match self.rng.below(30) {
                                0 => "-1".to_string(),
                                _ => self.rng.range(0, 5).to_string(),
                            };
                            cmd.push(c);
                        }
                        14..=18 => {
                            push(&mut cmd, "MAXLEN");
                            let m = match self.rng.below(30) {
                                0 => "-1".to_string(),
                                _ => self.rng.range(0, 40).to_string(),
                            };
                            cmd.push(m);
                        }
                        _ => push(&mut cmd, "BOGUS"),
                    }
                }
            }
            87..=95 => {
                // LMOVE / RPOPLPUSH between two keys of one shard, or on one key.
                let (src, dst) = if !self.pairs.is_empty() && self.rng.chance(60) {
                    let (a, b) = self.rng.pick(&self.pairs);
                    (a.to_string(), b.to_string())
                } else {
                    let k = self.key();
                    (k.clone(), k)
                };
                if self.rng.chance(30) {
                    push(&mut cmd, "RPOPLPUSH");
                    cmd.push(src);
                    cmd.push(dst);
                } else {
                    push(&mut cmd, "LMOVE");
                    cmd.push(src);
                    cmd.push(dst);
                    let a = if self.rng.chance(2) {
                        "UP"
                    } else {
                        self.side()
                    };
                    push(&mut cmd, a);
                    push(&mut cmd, self.side());
                }
            }
            96 if self.rng.chance(30) => {
                push(&mut cmd, "DEL");
                cmd.push(self.key());
            }
            97 => {
                push(&mut cmd, "TYPE");
                cmd.push(self.key());
            }
            _ => {
                push(&mut cmd, "EXISTS");
                cmd.push(self.key());
            }
        }
        cmd
    }
}

/// Sends one command to both servers and requires identical replies.
fn both(
    a: &mut Raw,
    b: &mut Raw,
    cmd: &[String],
    history: &VecDeque<String>,
    context: &str,
) -> Vec<u8> {
    let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
    let expected = a.cmd(&args);
    let got = b.cmd(&args);
    if expected != got {
        let recent: Vec<&str> = history.iter().map(|s| s.as_str()).collect();
        panic!(
            "{context}: `{}`\nredis:   {:?}\nshardis: {:?}\nrecent commands:\n  {}",
            cmd.join(" "),
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(&got),
            recent.join("\n  ")
        );
    }
    expected
}

fn run(seed: u64, ops: usize, redis_port: u16, shardis_port: u16, runtime: &str, resp3: bool) {
    let mut a = Raw::connect(redis_port);
    let mut b = Raw::connect(shardis_port);
    assert_eq!(a.call(&["FLUSHALL"]), "+OK\r\n");
    assert_eq!(b.call(&["FLUSHALL"]), "+OK\r\n");
    if resp3 {
        // The HELLO reply carries the connection id, which differs: only the shape.
        assert!(a.call(&["HELLO", "3"]).starts_with('%'));
        assert!(b.call(&["HELLO", "3"]).starts_with('%'));
    }
    assert_eq!(
        a.call(&["SET", STRING_KEY, "v"]),
        b.call(&["SET", STRING_KEY, "v"])
    );
    let mut gen = Gen::new(seed);
    let mut history: VecDeque<String> = VecDeque::new();
    let proto = if resp3 { "RESP3" } else { "RESP2" };
    for i in 0..ops {
        let cmd = gen.command();
        let context = format!("seed {seed} [{runtime} {proto}] op {i}");
        both(&mut a, &mut b, &cmd, &history, &context);
        if history.len() == 30 {
            history.pop_front();
        }
        history.push_back(cmd.join(" "));
        // Now and then the whole state must agree, not just the replies.
        if i % 250 == 249 {
            for key in KEYS {
                let full = ["LRANGE", key, "0", "-1"].map(String::from);
                both(&mut a, &mut b, &full, &history, &context);
            }
        }
    }
    for key in KEYS {
        let full = ["LRANGE", key, "0", "-1"].map(String::from);
        both(&mut a, &mut b, &full, &history, "final state");
    }
}

/// Like [`run`], but commands go out in pipelined batches of up to 64, so that several
/// land in one storage group (reads must see the group's earlier writes).
fn run_pipelined(seed: u64, ops: usize, redis_port: u16, shardis_port: u16, runtime: &str) {
    let mut a = Raw::connect(redis_port);
    let mut b = Raw::connect(shardis_port);
    assert_eq!(a.call(&["FLUSHALL"]), "+OK\r\n");
    assert_eq!(b.call(&["FLUSHALL"]), "+OK\r\n");
    assert_eq!(
        a.call(&["SET", STRING_KEY, "v"]),
        b.call(&["SET", STRING_KEY, "v"])
    );
    let mut gen = Gen::new(seed);
    let mut done = 0;
    while done < ops {
        let n = (1 + gen.rng.below(64)).min(ops - done);
        let mut batch: Vec<Vec<String>> = (0..n).map(|_| gen.command()).collect();
        for key in KEYS {
            batch.push(["LRANGE", key, "0", "-1"].map(String::from).to_vec());
        }
        let mut wire = Vec::new();
        for cmd in &batch {
            let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
            wire.extend_from_slice(&common::encode(&args));
        }
        a.send(&wire);
        b.send(&wire);
        let expected: Vec<Vec<u8>> = batch.iter().map(|_| a.read_reply()).collect();
        let got: Vec<Vec<u8>> = batch.iter().map(|_| b.read_reply()).collect();
        for (k, cmd) in batch.iter().enumerate() {
            if expected[k] != got[k] {
                let before: Vec<String> = batch[..k].iter().map(|c| c.join(" ")).collect();
                panic!(
                    "seed {seed} [{runtime} pipelined] op {}: `{}`\nredis:   {:?}\nshardis: {:?}\n\
                     earlier in the batch:\n  {}",
                    done + k,
                    cmd.join(" "),
                    String::from_utf8_lossy(&expected[k]),
                    String::from_utf8_lossy(&got[k]),
                    before.join("\n  ")
                );
            }
        }
        done += n;
    }
}

#[test]
fn random_list_operations_match_redis() {
    let Some(redis) = common::start_redis() else {
        return;
    };
    let seed: u64 = std::env::var("SHARDIS_LISTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_1157);
    let ops: usize = std::env::var("SHARDIS_LISTS_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6000);
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        run(seed, ops, redis.port, server.port, runtime, false);
        run(
            seed ^ 0xA5A5,
            ops / 3,
            redis.port,
            server.port,
            runtime,
            true,
        );
        run_pipelined(seed ^ 0x5A5A, ops, redis.port, server.port, runtime);
    }
}

/// Fixed RESP3 shapes (the case files cannot switch protocols: HELLO's reply carries
/// the connection id).
#[test]
fn resp3_replies_match_redis() {
    let Some(redis) = common::start_redis() else {
        return;
    };
    let server = Server::start("dual", &[]);
    let mut a = Raw::connect(redis.port);
    let mut b = Raw::connect(server.port);
    assert!(a.call(&["HELLO", "3"]).starts_with('%'));
    assert!(b.call(&["HELLO", "3"]).starts_with('%'));
    let script = [
        "RPUSH ra a b c",
        "LPOP nolist",
        "LPOP nolist 1",
        "RPOP nolist 0",
        "LPOP ra 0",
        "LPOP ra 1",
        "RPOP ra",
        "LINDEX ra 5",
        "LINDEX nolist 0",
        "LPOS ra zzz",
        "LPOS ra zzz COUNT 0",
        "LPOS nolist zzz",
        "LPOS nolist zzz COUNT 0",
        "LRANGE ra 0 -1",
        "LRANGE nolist 0 -1",
        "RPOPLPUSH nolist nolist",
        "LMOVE ra ra LEFT RIGHT",
        "LMOVE nolist nolist LEFT RIGHT",
        "RPOP ra 5",
        "EXISTS ra",
    ];
    let history = VecDeque::new();
    for line in script {
        let cmd: Vec<String> = line.split(' ').map(String::from).collect();
        both(&mut a, &mut b, &cmd, &history, "RESP3 script");
    }
}
