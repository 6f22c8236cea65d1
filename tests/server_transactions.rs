//! MULTI/EXEC/WATCH and linked multi-key commands, end to end: redis-py's pipelines
//! and transactions, an invariant that concurrent transfers between accounts on
//! different shards keep, readers that must never see part of a write, and the same
//! across a SIGKILL with `appendfsync always`. (Reply-for-reply agreement with Redis
//! is in `tests/cases/transactions.txt`.)

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{encode, key_on, Raw, Server, RUNTIMES, SHARDS};

const ACCOUNTS: usize = 8;
const EACH: i64 = 1000;

/// Accounts spread over every shard.
fn accounts() -> Vec<String> {
    (0..ACCOUNTS)
        .map(|i| key_on(i % SHARDS, &format!("acct{i}")))
        .collect()
}

/// The integers of a RESP2 array of bulk strings or integers (`None` for `*-1`).
fn ints(reply: &str) -> Option<Vec<i64>> {
    if reply.starts_with("*-1") {
        return None;
    }
    let mut out = Vec::new();
    let mut lines = reply.split("\r\n").skip(1);
    while let Some(line) = lines.next() {
        if let Some(n) = line.strip_prefix(':') {
            out.push(n.parse().unwrap());
        } else if line.starts_with('$') {
            out.push(lines.next().unwrap().parse().unwrap());
        }
    }
    Some(out)
}

#[test]
fn redis_py_pipelines_and_transactions() {
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        if !common::redis_py("transactions.py", server.port, runtime) {
            return;
        }
    }
}

/// Moves random amounts between random accounts with WATCH, GET and MULTI/SET/EXEC,
/// retrying when EXEC answers nil, until `stop`. Returns (transfers, aborts); stops early,
/// quietly, if the server goes away.
fn transfer_loop(port: u16, seed: u64, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) -> (u64, u64) {
    let accounts = accounts();
    let mut rng = common::Rng::new(seed);
    let mut c = Raw::connect(port);
    let (mut transfers, mut aborts) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        let a = &accounts[rng.below(ACCOUNTS)];
        let b = &accounts[rng.below(ACCOUNTS)];
        if a == b {
            continue;
        }
        let amount = rng.below(50) as i64 + 1;
        // WATCH and read; then MULTI, write both balances as read minus / plus the
        // amount, EXEC. A change between the read and EXEC that WATCH missed would
        // lose an update and change the sum.
        let mut req = encode(&[b"WATCH", a.as_bytes(), b.as_bytes()]);
        req.extend(encode(&[b"MGET", a.as_bytes(), b.as_bytes()]));
        if !c.try_send(&req) {
            break;
        }
        // Line by line, so that a killed server ends the loop instead of a panic:
        // +OK, then the MGET (five lines).
        let mut lines = Vec::new();
        for _ in 0..6 {
            match c.try_read_line() {
                Some(l) => lines.push(l),
                None => return (transfers, aborts),
            }
        }
        assert_eq!(lines[0], "+OK\r\n", "WATCH");
        let balance = |l: &str| l.trim_end().parse::<i64>().expect("a balance");
        let (va, vb) = (balance(&lines[3]), balance(&lines[5]));
        let (na, nb) = ((va - amount).to_string(), (vb + amount).to_string());
        let mut req = encode(&[b"MULTI"]);
        req.extend(encode(&[b"SET", a.as_bytes(), na.as_bytes()]));
        req.extend(encode(&[b"SET", b.as_bytes(), nb.as_bytes()]));
        req.extend(encode(&[b"EXEC"]));
        if !c.try_send(&req) {
            break;
        }
        let mut lines = Vec::new();
        for _ in 0..4 {
            match c.try_read_line() {
                Some(l) => lines.push(l),
                None => return (transfers, aborts),
            }
        }
        assert_eq!(
            lines[..3],
            ["+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n"],
            "{lines:?}"
        );
        if lines[3] == "*-1\r\n" {
            aborts += 1;
            continue;
        }
        assert_eq!(lines[3], "*2\r\n", "EXEC");
        for _ in 0..2 {
            match c.try_read_line() {
                Some(l) => assert_eq!(l, "+OK\r\n", "EXEC"),
                None => return (transfers, aborts),
            }
        }
        transfers += 1;
        done.fetch_add(1, Ordering::Relaxed);
    }
    (transfers, aborts)
}

/// Reads every account inside MULTI, and with one MGET, and checks the sum each time.
fn check_sums(port: u16, stop: Arc<AtomicBool>) -> u64 {
    let accounts = accounts();
    let mut c = Raw::connect(port);
    let mut observations = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut multi = vec![c.call(&["MULTI"])];
        for a in &accounts {
            multi.push(c.call(&["GET", a]));
        }
        let exec = c.call(&["EXEC"]);
        assert!(
            multi.iter().skip(1).all(|r| r == "+QUEUED\r\n"),
            "{multi:?}"
        );
        let sum: i64 = ints(&exec).expect("no WATCH, no abort").iter().sum();
        assert_eq!(
            sum,
            EACH * ACCOUNTS as i64,
            "a reader inside MULTI saw {exec:?}"
        );
        let mut mget = vec!["MGET"];
        mget.extend(accounts.iter().map(String::as_str));
        let got = c.call(&mget);
        let sum: i64 = ints(&got).unwrap().iter().sum();
        assert_eq!(sum, EACH * ACCOUNTS as i64, "an MGET saw {got:?}");
        observations += 2;
    }
    observations
}

/// Keys on every shard that MSETs write with one value.
fn mset_keys() -> Vec<String> {
    (0..8)
        .map(|i| key_on(i % SHARDS, &format!("ms{i}")))
        .collect()
}

fn seed_accounts(c: &mut Raw) {
    let mut mset = vec!["MSET".to_string()];
    for a in accounts() {
        mset.extend([a, EACH.to_string()]);
    }
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    assert_eq!(c.call(&mset), "+OK\r\n");
}

#[test]
fn concurrent_transfers_keep_the_sum_for_every_reader() {
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        seed_accounts(&mut server.raw());
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let writers: Vec<_> = (0..4)
            .map(|i| {
                let (stop, done, port) = (stop.clone(), done.clone(), server.port);
                std::thread::spawn(move || transfer_loop(port, 11 + i, stop, done))
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (stop, port) = (stop.clone(), server.port);
                std::thread::spawn(move || check_sums(port, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_secs(3));
        stop.store(true, Ordering::Relaxed);
        let (mut transfers, mut aborts) = (0, 0);
        for w in writers {
            let (t, a) = w.join().unwrap();
            transfers += t;
            aborts += a;
        }
        let observations: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert!(transfers > 100, "{runtime}: only {transfers} transfers");
        assert!(
            aborts > 0,
            "{runtime}: no EXEC ever aborted: WATCH saw no conflict"
        );
        assert!(observations > 100, "{runtime}: only {observations} reads");
        let mut c = server.raw();
        let mut mget = vec!["MGET".to_string()];
        mget.extend(accounts());
        let mget: Vec<&str> = mget.iter().map(String::as_str).collect();
        let sum: i64 = ints(&c.call(&mget)).unwrap().iter().sum();
        assert_eq!(sum, EACH * ACCOUNTS as i64);
        eprintln!(
            "{runtime}: {transfers} transfers, {aborts} aborted by WATCH, {observations} sums checked"
        );
    }
}

#[test]
fn mget_never_sees_part_of_an_mset() {
    // Writers MSET one value to keys on every shard, readers MGET them: every MGET
    // must see one MSET's value everywhere.
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        let keys: Vec<String> = (0..12)
            .map(|i| key_on(i % SHARDS, &format!("m{i}")))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let (stop, port, keys) = (stop.clone(), server.port, keys.clone());
                std::thread::spawn(move || {
                    let mut c = Raw::connect(port);
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let v = format!("{w}-{n}");
                        let mut mset = vec!["MSET"];
                        for k in &keys {
                            mset.extend([k.as_str(), v.as_str()]);
                        }
                        assert_eq!(c.call(&mset), "+OK\r\n");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let started = Instant::now();
        let mut c = server.raw();
        let mut reads = 0;
        while started.elapsed() < Duration::from_secs(2) {
            let mut mget = vec!["MGET"];
            mget.extend(keys.iter().map(String::as_str));
            let got = c.call(&mget);
            let values: Vec<&str> = got
                .split("\r\n")
                .filter(|l| !l.is_empty() && !l.starts_with('*') && !l.starts_with('$'))
                .collect();
            assert!(
                values.is_empty()
                    || (values.len() == keys.len() && values.iter().all(|v| *v == values[0])),
                "{runtime}: an MGET saw a mix: {got:?}"
            );
            reads += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let written: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        assert!(
            written > 50 && reads > 50,
            "{runtime}: {written} MSETs, {reads} MGETs"
        );
    }
}

#[test]
fn transfers_survive_sigkill_whole_with_appendfsync_always() {
    for runtime in RUNTIMES {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let args = ["--appendfsync", "always"];
        let mut server = Server::start_in(&dir, runtime, &args);
        seed_accounts(&mut server.raw());
        for kill in 0..3 {
            let stop = Arc::new(AtomicBool::new(false));
            let done = Arc::new(AtomicU64::new(0));
            let writers: Vec<_> = (0..3)
                .map(|i| {
                    let (stop, done, port) = (stop.clone(), done.clone(), server.port);
                    std::thread::spawn(move || transfer_loop(port, 100 * kill + i, stop, done))
                })
                .collect();
            // And MSETs of one value to keys on every shard.
            let msets = {
                let (stop, port) = (stop.clone(), server.port);
                std::thread::spawn(move || {
                    let mut c = Raw::connect(port);
                    for n in 0u64.. {
                        if stop.load(Ordering::Relaxed) {
                            return n;
                        }
                        let v = format!("{kill}-{n}");
                        let mut args: Vec<&[u8]> = vec![b"MSET"];
                        let keys = mset_keys();
                        for k in &keys {
                            args.extend([k.as_bytes(), v.as_bytes()]);
                        }
                        if !c.try_send(&encode(&args)) || c.try_read_line().is_none() {
                            return n;
                        }
                    }
                    unreachable!()
                })
            };
            std::thread::sleep(Duration::from_millis(500 + 200 * kill));
            drop(server); // SIGKILL while transfers and MSETs are in flight
            stop.store(true, Ordering::Relaxed);
            for w in writers {
                w.join().unwrap();
            }
            assert!(
                msets.join().unwrap() > 20,
                "{runtime}: few MSETs before kill {kill}"
            );
            let n = done.load(Ordering::Relaxed);
            assert!(n > 20, "{runtime}: only {n} transfers before kill {kill}");
            server = Server::start_in(&dir, runtime, &args);
            let mut c = server.raw();
            let mut mget = vec!["MGET".to_string()];
            mget.extend(accounts());
            let mget: Vec<&str> = mget.iter().map(String::as_str).collect();
            let got = c.call(&mget);
            let sum: i64 = ints(&got).unwrap().iter().sum();
            assert_eq!(
                sum,
                EACH * ACCOUNTS as i64,
                "{runtime}: after kill {kill} the accounts are {got:?}"
            );
            let mut mget = vec!["MGET".to_string()];
            mget.extend(mset_keys());
            let mget: Vec<&str> = mget.iter().map(String::as_str).collect();
            let got = c.call(&mget);
            let values: Vec<&str> = got.split("\r\n").skip(2).step_by(2).collect();
            assert!(
                values.iter().all(|v| *v == values[0]),
                "{runtime}: after kill {kill} an MSET is partly there: {got:?}"
            );
        }
    }
}

#[test]
fn commandstats_count_the_commands_exec_runs() {
    // As in Redis: a queued command counts when EXEC runs it, with its own failures.
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        let mut c = server.raw();
        let (a, b) = (key_on(0, "cs"), key_on(1, "cs"));
        for cmd in [
            vec!["MULTI"],
            vec!["SET", &a, "1"],
            vec!["SET", &b, "2"],
            vec!["LPUSH", &a, "x"],
        ] {
            c.call(&cmd);
        }
        let exec = c.call(&["EXEC"]);
        assert!(
            exec.starts_with("*3\r\n+OK\r\n+OK\r\n-WRONGTYPE"),
            "{exec:?}"
        );
        let info = c.call(&["INFO", "commandstats"]);
        for want in [
            "cmdstat_set:calls=2,",
            "cmdstat_lpush:calls=1,",
            "cmdstat_exec:calls=1,",
            "cmdstat_multi:calls=1,",
        ] {
            assert!(info.contains(want), "{runtime}: no {want:?} in\n{info}");
        }
        let lpush = info
            .lines()
            .find(|l| l.starts_with("cmdstat_lpush:"))
            .unwrap();
        assert!(lpush.ends_with("failed_calls=1"), "{runtime}: {lpush}");
    }
}
