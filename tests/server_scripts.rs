//! Lua scripts and functions, end to end: redis-py's `Lock`, an invariant that
//! concurrent scripts moving values between keys on different shards (keys the
//! scripts compute from ARGV, undeclared) keep for every reader and across a
//! SIGKILL, a busy script that blocks only its own shards and can be killed, and
//! function libraries that survive a restart. (Reply-for-reply agreement with Redis
//! is in `tests/cases/scripts.txt`.)

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{encode, key_on, Raw, Server, RUNTIMES, SHARDS};

#[test]
fn redis_py_lock_acquires_extends_and_releases() {
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        if !common::redis_py("locks.py", server.port, runtime) {
            return;
        }
    }
}

const ACCOUNTS: usize = 8;
const EACH: i64 = 1000;

/// Account `i`: a key `acct<i>:<n>` on shard `i % SHARDS`; the script is given
/// only the tag and the number and builds the name itself.
fn account(i: usize) -> (String, String) {
    let key = key_on(i % SHARDS, &format!("acct{i}"));
    let (tag, n) = key.split_once(':').unwrap();
    (tag.to_string(), n.to_string())
}

/// Moves ARGV[5] from the account named by ARGV[1]:ARGV[2] to ARGV[3]:ARGV[4], if
/// the first has enough. It declares no keys.
const TRANSFER: &str = "\
local from = ARGV[1] .. ':' .. ARGV[2]
local to = ARGV[3] .. ':' .. ARGV[4]
local amount = tonumber(ARGV[5])
local have = tonumber(redis.call('get', from))
if have < amount then return 0 end
redis.call('set', from, have - amount)
redis.call('incrby', to, amount)
return 1";

/// The sum of every account, read by a read-only script that builds the names.
const TOTAL: &str = "\
local sum = 0
for i = 1, #ARGV, 2 do
  sum = sum + tonumber(redis.call('get', ARGV[i] .. ':' .. ARGV[i + 1]))
end
return sum";

fn seed(c: &mut Raw) {
    let mut mset = vec!["MSET".to_string()];
    for i in 0..ACCOUNTS {
        let (tag, n) = account(i);
        mset.extend([format!("{tag}:{n}"), EACH.to_string()]);
    }
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    assert_eq!(c.call(&mset), "+OK\r\n");
}

/// TOTAL's arguments.
fn total_args() -> Vec<String> {
    let mut args = vec!["EVAL_RO".to_string(), TOTAL.to_string(), "0".to_string()];
    for i in 0..ACCOUNTS {
        let (tag, n) = account(i);
        args.extend([tag, n]);
    }
    args
}

/// Runs TRANSFER between random accounts until `stop`; returns how many moved.
/// Stops early, quietly, if the server goes away.
fn transfers(port: u16, seed: u64, stop: Arc<AtomicBool>) -> u64 {
    let mut rng = common::Rng::new(seed);
    let mut c = Raw::connect(port);
    let mut moved = 0;
    while !stop.load(Ordering::Relaxed) {
        let (a, b) = (rng.below(ACCOUNTS), rng.below(ACCOUNTS));
        if a == b {
            continue;
        }
        let ((ta, na), (tb, nb)) = (account(a), account(b));
        let amount = (rng.below(50) + 1).to_string();
        let args: Vec<&[u8]> = vec![
            b"EVAL",
            TRANSFER.as_bytes(),
            b"0",
            ta.as_bytes(),
            na.as_bytes(),
            tb.as_bytes(),
            nb.as_bytes(),
            amount.as_bytes(),
        ];
        if !c.try_send(&encode(&args)) {
            break;
        }
        match c.try_read_line() {
            Some(l) if l == ":1\r\n" => moved += 1,
            Some(l) => assert_eq!(l, ":0\r\n", "TRANSFER answered {l:?}"),
            None => break,
        }
    }
    moved
}

#[test]
fn undeclared_cross_shard_scripts_keep_the_sum_for_every_reader() {
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        seed(&mut server.raw());
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|i| {
                let (stop, port) = (stop.clone(), server.port);
                std::thread::spawn(move || transfers(port, 7 + i, stop))
            })
            .collect();
        let args = total_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = server.raw();
        let mut mget = vec!["MGET".to_string()];
        mget.extend((0..ACCOUNTS).map(|i| {
            let (t, n) = account(i);
            format!("{t}:{n}")
        }));
        let mget: Vec<&str> = mget.iter().map(String::as_str).collect();
        let started = Instant::now();
        let mut reads = 0;
        while started.elapsed() < Duration::from_secs(3) {
            let total = c.call(&args);
            assert_eq!(
                total,
                format!(":{}\r\n", EACH * ACCOUNTS as i64),
                "{runtime}"
            );
            let got = c.call(&mget);
            let sum: i64 = got
                .split("\r\n")
                .filter(|l| !l.is_empty() && !l.starts_with('*') && !l.starts_with('$'))
                .map(|l| l.parse::<i64>().unwrap())
                .sum();
            assert_eq!(sum, EACH * ACCOUNTS as i64, "{runtime}: MGET saw {got:?}");
            reads += 2;
        }
        stop.store(true, Ordering::Relaxed);
        let moved: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        assert!(moved > 100, "{runtime}: only {moved} transfers");
        assert!(reads > 50, "{runtime}: only {reads} reads");
        eprintln!("{runtime}: {moved} script transfers, {reads} sums checked");
    }
}

#[test]
fn script_transfers_survive_sigkill_whole() {
    for runtime in RUNTIMES {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let flags = ["--appendfsync", "always"];
        let mut server = Server::start_in(&dir, runtime, &flags);
        seed(&mut server.raw());
        for round in 0..3u64 {
            let stop = Arc::new(AtomicBool::new(false));
            let writers: Vec<_> = (0..3)
                .map(|i| {
                    let (stop, port) = (stop.clone(), server.port);
                    std::thread::spawn(move || transfers(port, 50 * round + i, stop))
                })
                .collect();
            std::thread::sleep(Duration::from_millis(700));
            server.signal(libc::SIGKILL);
            stop.store(true, Ordering::Relaxed);
            let moved: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
            assert!(moved > 0, "{runtime}: no transfer before the kill");
            drop(server);
            server = Server::start_in(&dir, runtime, &flags);
            let args = total_args();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let total = server.raw().call(&args);
            assert_eq!(
                total,
                format!(":{}\r\n", EACH * ACCOUNTS as i64),
                "{runtime}: after SIGKILL {round} ({moved} transfers) the sum changed"
            );
        }
    }
}

/// A script that loops for `secs` seconds (checking the clock every 100 000 rounds);
/// with `write`, it first writes KEYS[1].
fn looping(secs: u32, write: bool) -> String {
    let first = if write {
        "redis.call('set', KEYS[1], 'written') "
    } else {
        ""
    };
    format!(
        "{first}local t0 = tonumber(redis.call('time')[1]) local n = 0 \
         while true do n = n + 1 if n % 100000 == 0 and \
         tonumber(redis.call('time')[1]) - t0 >= {secs} then return n end end"
    )
}

#[test]
fn a_busy_script_blocks_only_its_shards_and_can_be_killed() {
    // The dual runtime: scripts run off the network threads. (In the single runtime
    // storage work shares the network threads by design.)
    let server = Server::start("dual", &["--busy-reply-threshold", "300"]);
    let held = key_on(0, "held");
    let other = key_on(1, "other");
    assert_eq!(server.raw().call(&["SET", &other, "v"]), "+OK\r\n");
    let port = server.port;
    let script = looping(5, false);
    let (h, s) = (held.clone(), script.clone());
    let runner = std::thread::spawn(move || Raw::connect(port).call(&["EVAL", &s, "1", &h]));
    std::thread::sleep(Duration::from_millis(100));
    let mut c = server.raw();
    // PING, and a key on a shard the script does not hold, answer at once.
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(c.call(&["PING"]), "+PONG\r\n");
        assert_eq!(c.call(&["GET", &other]), "$1\r\nv\r\n");
        worst = worst.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(25));
    }
    eprintln!("during a busy script: worst PING + GET on another shard {worst:?}");
    assert!(worst < Duration::from_millis(100), "{worst:?}");
    // Past the threshold, the script's shard is busy.
    assert!(c
        .call(&["GET", &held])
        .starts_with("-BUSY Redis is busy running a script. You can only call SCRIPT KILL"));
    assert!(c.call(&["SET", &held, "x"]).starts_with("-BUSY"));
    // SCRIPT KILL stops it: it has not written.
    assert_eq!(c.call(&["SCRIPT", "KILL"]), "+OK\r\n");
    let reply = runner.join().unwrap();
    assert!(
        reply.starts_with("-ERR Script killed by user with SCRIPT KILL... script: "),
        "{reply}"
    );
    assert_eq!(c.call(&["GET", &held]), "$-1\r\n");
    assert_eq!(
        c.call(&["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );

    // A script that wrote cannot be killed; SHUTDOWN NOSAVE still stops the server.
    let writer = looping(30, true);
    let h = held.clone();
    let runner = std::thread::spawn(move || {
        let mut c = Raw::connect(port);
        c.try_send(&encode(&[b"EVAL", writer.as_bytes(), b"1", h.as_bytes()]));
        c.try_read_line()
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(c
        .call(&["SCRIPT", "KILL"])
        .starts_with("-UNKILLABLE Sorry the script already"));
    let mut server = server;
    let t = Instant::now();
    c.try_send(&encode(&[b"SHUTDOWN", b"NOSAVE"]));
    while !server.exited() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "SHUTDOWN NOSAVE did not stop the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "SHUTDOWN NOSAVE during an unkillable script took {:?}",
        t.elapsed()
    );
    let _ = runner.join();
}

#[test]
fn functions_survive_a_restart_and_scripts_run_in_multi() {
    for runtime in RUNTIMES {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let server = Server::start_in(&dir, runtime, &[]);
        let mut c = server.raw();
        let lib = "#!lua name=counters\n\
                   redis.register_function('bump', function(keys, args) \
                   return redis.call('incrby', keys[1], args[1]) end)\n\
                   redis.register_function{function_name='peek', flags={'no-writes'}, \
                   callback=function(keys) return redis.call('get', keys[1]) end}";
        assert_eq!(c.call(&["FUNCTION", "LOAD", lib]), "$8\r\ncounters\r\n");
        assert_eq!(c.call(&["FCALL", "bump", "1", "n", "5"]), ":5\r\n");
        assert_eq!(c.call(&["FCALL_RO", "peek", "1", "n"]), "$1\r\n5\r\n");
        assert_eq!(c.call(&["SCRIPT", "LOAD", "return 1"]).len(), 47);
        server.stop();

        let server = Server::start_in(&dir, runtime, &[]);
        let mut c = server.raw();
        assert_eq!(
            c.call(&["FCALL", "bump", "1", "n", "1"]),
            ":6\r\n",
            "{runtime}"
        );
        // The EVAL cache is not kept, as in Redis.
        assert_eq!(
            c.call(&["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"]),
            "-NOSCRIPT No matching script. Please use EVAL.\r\n"
        );
        // Scripts inside MULTI run in order with the rest, atomically.
        let a = key_on(0, "m");
        let b = key_on(1, "m");
        assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
        assert_eq!(c.call(&["SET", &a, "1"]), "+QUEUED\r\n");
        let move_it = "local v = redis.call('get', KEYS[1]) redis.call('del', KEYS[1]) \
                       redis.call('set', KEYS[2], v) return v";
        assert_eq!(c.call(&["EVAL", move_it, "2", &a, &b]), "+QUEUED\r\n");
        assert_eq!(c.call(&["FCALL", "bump", "1", &b, "10"]), "+QUEUED\r\n");
        assert_eq!(
            c.call(&["EXEC"]),
            "*3\r\n+OK\r\n$1\r\n1\r\n:11\r\n",
            "{runtime}"
        );
        assert_eq!(c.call(&["EXISTS", &a]), ":0\r\n");
        // A script that declares one key but writes another shard's, pipelined: its
        // first run is dropped and run again holding every shard, in order.
        let touch = "redis.call('set', KEYS[1], 'x') return redis.call('incr', ARGV[1])";
        let mut req = Vec::new();
        for _ in 0..3 {
            req.extend(encode(&[
                b"EVAL",
                touch.as_bytes(),
                b"1",
                a.as_bytes(),
                b.as_bytes(),
            ]));
        }
        req.extend(encode(&[b"GET", b.as_bytes()]));
        assert!(c.try_send(&req));
        let replies: Vec<String> = (0..4).map(|_| c.try_read_line().unwrap()).collect();
        assert_eq!(replies[..3], [":12\r\n", ":13\r\n", ":14\r\n"], "{runtime}");
        assert_eq!(replies[3], "$2\r\n");
        assert_eq!(c.try_read_line().unwrap(), "14\r\n");
        assert_eq!(c.call(&["GET", &a]), "$1\r\nx\r\n");
        // A script known to stay on its shard that, for once, leaves it: in the
        // pipeline its writes are cut from the group, the group's earlier writes
        // stay, and it runs again holding every shard, once.
        let (k, x, far) = (key_on(2, "k"), key_on(2, "x"), key_on(3, "far"));
        let maybe = "redis.call('incr', KEYS[1]) if ARGV[1] == 'leave' then \
                     redis.call('incr', ARGV[2]) end return redis.call('get', KEYS[1])";
        assert_eq!(
            c.call(&["EVAL", maybe, "1", &k, "stay", &far]),
            "$1\r\n1\r\n"
        );
        assert_eq!(
            c.call(&["EVAL", maybe, "1", &k, "stay", &far]),
            "$1\r\n2\r\n"
        );
        let mut req = encode(&[b"SET", x.as_bytes(), b"5"]);
        req.extend(encode(&[
            b"EVAL",
            maybe.as_bytes(),
            b"1",
            k.as_bytes(),
            b"leave",
            far.as_bytes(),
        ]));
        req.extend(encode(&[b"INCR", x.as_bytes()]));
        assert!(c.try_send(&req));
        let replies: Vec<String> = (0..4).map(|_| c.try_read_line().unwrap()).collect();
        assert_eq!(
            replies,
            ["+OK\r\n", "$1\r\n", "3\r\n", ":6\r\n"],
            "{runtime}"
        );
        assert_eq!(
            c.call(&["MGET", &k, &x, &far]),
            "*3\r\n$1\r\n3\r\n$1\r\n6\r\n$1\r\n1\r\n"
        );
        assert_eq!(c.call(&["FUNCTION", "DELETE", "counters"]), "+OK\r\n");
        server.stop();
        let server = Server::start_in(&dir, runtime, &[]);
        assert_eq!(
            server.raw().call(&["FCALL", "bump", "1", "n", "1"]),
            "-ERR Function not found\r\n"
        );
    }
}

#[test]
fn hostile_scripts_fail_alone_and_the_server_stays() {
    let server = Server::start("dual", &[]);
    let mut c = server.raw();
    let hostile = [
        // Nesting deeper than the decoder follows.
        "return cmsgpack.unpack(string.rep('\\145', 100000) .. '\\192')",
        // A table that contains itself, returned and encoded.
        "local t = {} t[1] = t return t",
        "local t = {} t[1] = t return cjson.encode(t)",
        "local t = {} t[1] = t return cmsgpack.pack(t)",
        // Unbounded recursion and unbounded memory.
        "local function f(n) return f(n + 1) + 1 end return f(1)",
        // Bytecode is refused.
        "return loadstring(string.dump(function() return 1 end))",
    ];
    for script in hostile {
        let reply = c.call(&["EVAL", script, "0"]);
        assert!(
            reply.starts_with('-') || reply.starts_with('*') || reply.starts_with('$'),
            "{script}: {reply}"
        );
        assert_eq!(c.call(&["PING"]), "+PONG\r\n", "after {script}");
    }
    // The Lua state is still usable.
    assert_eq!(c.call(&["EVAL", "return 1 + 1", "0"]), ":2\r\n");
}
