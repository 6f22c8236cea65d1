//! Randomized differential test of the sorted set commands: a seeded generator
//! produces thousands of random operations over a few keys and ~20 members, sends
//! each to a real redis-server and to shardis (both runtimes), and requires
//! byte-identical replies, one by one.
//!
//! Sets stay small (under 128 short members), so Redis keeps them in a listpack,
//! whose behaviour shardis reproduces exactly (ZSCAN order, lex ranges over mixed
//! scores). `SHARDIS_ZSET_SEED=n` replays one seed; `SHARDIS_ZSET_OPS=n` changes the
//! number of operations.
//!
//! The test needs `redis-server` on the PATH; it is skipped with a note if missing,
//! unless `SHARDIS_REQUIRE_REDIS=1`.

mod common;

use common::{Raw, Rng, Server, RUNTIMES};

const KEYS: [&str; 3] = ["rz:a", "rz:b", "rz:c"];
const STRING_KEY: &str = "rz:str";

/// Scores: duplicates are likely (few distinct values), negatives, infinities,
/// fractions, one that prints with 17 digits and a negative zero.
const SCORES: [&str; 22] = [
    "0",
    "1",
    "2",
    "3",
    "-1",
    "-2",
    "5",
    "1.5",
    "-0.5",
    "0.1",
    "2.5",
    "10",
    "-10",
    "1e20",
    "-1e20",
    "-inf",
    "+inf",
    "inf",
    "-0",
    "0.30000000000000004",
    "3",
    "1",
];

/// Score range bounds, before an optional `(`.
const BOUNDS: [&str; 14] = [
    "-inf", "+inf", "0", "1", "2", "3", "-1", "1.5", "-0.5", "10", "-10", "1e20", "inf", "0.1",
];

fn member(rng: &mut Rng) -> String {
    format!("m{:02}", rng.below(20))
}

fn key(rng: &mut Rng) -> &'static str {
    if rng.chance(2) {
        STRING_KEY
    } else {
        KEYS[rng.below(KEYS.len())]
    }
}

fn score(rng: &mut Rng) -> String {
    if rng.chance(10) {
        // Any small integer or half, to spread scores out.
        format!("{}", rng.range(-40, 40) as f64 / 2.0)
    } else {
        rng.pick(&SCORES).to_owned()
    }
}

fn bound(rng: &mut Rng) -> String {
    let b = if rng.chance(15) {
        format!("{}", rng.range(-20, 20) as f64 / 2.0)
    } else {
        rng.pick(&BOUNDS).to_owned()
    };
    if rng.chance(30) {
        format!("({b}")
    } else {
        b
    }
}

fn lex_bound(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => "-".into(),
        1 => "+".into(),
        2 => "[".into(),
        3 => "(".into(),
        n => {
            let open = if n % 2 == 0 { "[" } else { "(" };
            // Members are m00..m19; also probe between and around them.
            let s = match rng.below(4) {
                0 => format!("m{}", rng.below(3)),
                1 => "m".to_owned(),
                _ => member(rng),
            };
            format!("{open}{s}")
        }
    }
}

fn rank(rng: &mut Rng) -> String {
    rng.range(-25, 25).to_string()
}

fn limit(rng: &mut Rng, cmd: &mut Vec<String>) {
    if rng.chance(40) {
        cmd.push("LIMIT".into());
        cmd.push(rng.range(-1, 8).to_string());
        cmd.push(rng.range(-2, 8).to_string());
    }
}

/// One random command.
fn random_command(rng: &mut Rng) -> Vec<String> {
    let k = key(rng).to_owned();
    let mut c: Vec<String> = Vec::new();
    let s = |v: &str| v.to_owned();
    match rng.below(100) {
        0..=24 => {
            c.push(s("ZADD"));
            c.push(k);
            let mut incr = false;
            for flag in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
                if rng.chance(12) {
                    c.push(s(flag));
                    incr |= flag == "INCR";
                }
            }
            let pairs = if incr && rng.chance(90) {
                1
            } else {
                1 + rng.below(4)
            };
            for _ in 0..pairs {
                c.push(score(rng));
                c.push(member(rng));
            }
            if rng.chance(2) {
                c.pop();
            }
        }
        25..=31 => {
            c.extend([s("ZINCRBY"), k, score(rng), member(rng)]);
        }
        32..=37 => {
            c.extend([s("ZREM"), k]);
            for _ in 0..1 + rng.below(3) {
                c.push(member(rng));
            }
        }
        38..=41 => c.extend([s("ZSCORE"), k, member(rng)]),
        42..=43 => {
            c.extend([s("ZMSCORE"), k, member(rng), member(rng)]);
        }
        44..=47 => {
            let cmd = if rng.chance(50) { "ZRANK" } else { "ZREVRANK" };
            c.extend([s(cmd), k, member(rng)]);
        }
        48..=53 => {
            let cmd = if rng.chance(70) {
                "ZRANGE"
            } else {
                "ZREVRANGE"
            };
            c.extend([s(cmd), k, rank(rng), rank(rng)]);
            if cmd == "ZRANGE" && rng.chance(30) {
                c.push(s("REV"));
            }
            if rng.chance(50) {
                c.push(s("WITHSCORES"));
            }
        }
        54..=61 => {
            let cmd = rng.pick(&["ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZRANGE"]);
            c.extend([s(cmd), k, bound(rng), bound(rng)]);
            if cmd == "ZRANGE" {
                c.push(s("BYSCORE"));
                if rng.chance(50) {
                    c.push(s("REV"));
                }
            }
            if rng.chance(50) {
                c.push(s("WITHSCORES"));
            }
            limit(rng, &mut c);
        }
        62..=66 => {
            let cmd = rng.pick(&["ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZRANGE"]);
            c.extend([s(cmd), k, lex_bound(rng), lex_bound(rng)]);
            if cmd == "ZRANGE" {
                c.push(s("BYLEX"));
                if rng.chance(50) {
                    c.push(s("REV"));
                }
            }
            limit(rng, &mut c);
        }
        67..=70 => c.extend([s("ZCOUNT"), k, bound(rng), bound(rng)]),
        71..=72 => c.extend([s("ZLEXCOUNT"), k, lex_bound(rng), lex_bound(rng)]),
        73..=79 => {
            let cmd = if rng.chance(50) { "ZPOPMIN" } else { "ZPOPMAX" };
            c.extend([s(cmd), k]);
            if rng.chance(60) {
                c.push(rng.range(-1, 5).to_string());
            }
        }
        80..=83 => c.extend([s("ZREMRANGEBYSCORE"), k, bound(rng), bound(rng)]),
        84..=86 => c.extend([s("ZREMRANGEBYRANK"), k, rank(rng), rank(rng)]),
        87..=88 => c.extend([s("ZREMRANGEBYLEX"), k, lex_bound(rng), lex_bound(rng)]),
        89..=92 => c.extend([s("ZCARD"), k]),
        93..=94 => {
            c.extend([s("ZSCAN"), k, s("0")]);
            if rng.chance(50) {
                c.extend([s("MATCH"), s(rng.pick(&["*1*", "m0?", "*", "m1[0-4]"]))]);
            }
        }
        95..=96 => {
            // The whole set (count >= size) is deterministic: highest score first.
            c.extend([s("ZRANDMEMBER"), k, s("100")]);
            if rng.chance(50) {
                c.push(s("WITHSCORES"));
            }
        }
        97 => c.extend([s("TYPE"), k]),
        98 => c.extend([s("EXISTS"), k]),
        _ => c.extend([s("ZRANDMEMBER"), k, s("0")]),
    }
    c
}

fn send(conn: &mut Raw, cmd: &[String]) -> Vec<u8> {
    let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
    conn.cmd(&args)
}

fn run(seed: u64, ops: usize, redis: &mut Raw, shardis: &mut Raw, runtime: &str) {
    for conn in [&mut *redis, &mut *shardis] {
        assert_eq!(conn.call(&["FLUSHALL"]), "+OK\r\n");
        assert_eq!(conn.call(&["SET", STRING_KEY, "text"]), "+OK\r\n");
    }
    let mut rng = Rng::new(seed);
    let (mut errors, mut nonempty) = (0, 0);
    let mut check = |i: usize, cmd: &[String], redis: &mut Raw, shardis: &mut Raw| {
        let expected = send(redis, cmd);
        let got = send(shardis, cmd);
        assert_eq!(
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(&got),
            "seed {seed} op {i} [{runtime}]: {}",
            cmd.join(" ")
        );
        match expected.first() {
            Some(b'-') => errors += 1,
            Some(b'*') if !expected.starts_with(b"*0\r\n") => nonempty += 1,
            _ => {}
        }
    };
    for i in 0..ops {
        let cmd = random_command(&mut rng);
        check(i, &cmd, redis, shardis);
        if i % 250 == 249 {
            for k in KEYS {
                let all: Vec<String> = ["ZRANGE", k, "0", "-1", "WITHSCORES"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                check(i, &all, redis, shardis);
            }
        }
    }
    let mut sizes = Vec::new();
    for k in KEYS {
        sizes.push(redis.call(&["ZCARD", k]).trim().to_owned());
    }
    eprintln!(
        "seed {seed} [{runtime}]: {ops} ops, {errors} errors, {nonempty} non-empty arrays, final sizes {sizes:?}"
    );
}

#[test]
fn random_zset_operations_match_redis() {
    let Some(redis) = common::start_redis() else {
        return;
    };
    let ops: usize = std::env::var("SHARDIS_ZSET_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6000);
    let seeds: Vec<u64> = match std::env::var("SHARDIS_ZSET_SEED") {
        Ok(v) => vec![v.parse().expect("SHARDIS_ZSET_SEED is a number")],
        Err(_) => vec![1, 2],
    };
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        let mut a = Raw::connect(redis.port);
        let mut b = server.raw();
        for &seed in &seeds {
            run(seed, ops, &mut a, &mut b, runtime);
        }
    }
}
