//! `shardis-probe`: an open-loop latency probe for Redis-protocol servers.
//!
//! Each of `--connections` connections sends `--command` at a fixed `--rate` per
//! second for `--duration` seconds. Latency is measured from the time a request was
//! *meant* to be sent, not from when it was sent: if the server stalls, the requests
//! that should have gone out meanwhile count their whole wait (no coordinated
//! omission). The writer of a connection never waits for replies; its reader matches
//! replies to intended send times in order.
//!
//! `--command connect` measures connection set-up instead: at each tick a new TCP
//! connection is opened, sends PING and waits for +PONG, then closes.
//!
//! `--closed` measures throughput instead: each connection sends its next request as
//! soon as the last one is answered, for `--duration` seconds, and the rate printed is
//! requests answered per second. Its requests can be transactions: `multi-one` is
//! MULTI, SET, SET, EXEC with both keys on shard `--on-shard` (of `--shards`, as
//! shardis places keys), `multi-two` the same with the second key on the next
//! shard; `set` with `--on-shard` writes only keys of that shard. The transactions
//! also run open loop (without `--closed`), `--rate` of them per connection.
//!
//! Prints p50, p90, p99, p99.9, p99.99 and max in milliseconds, and with `--hgrm FILE`
//! writes the histogram as an HdrHistogram percentile distribution.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Probe {
    /// PING.
    Ping,
    /// GET of a random key.
    Get,
    /// SET of a random key.
    Set,
    /// Connect, PING, close.
    Connect,
    /// MULTI, SET, SET, EXEC, both keys on one shard.
    MultiOne,
    /// MULTI, SET, SET, EXEC, the keys on two shards.
    MultiTwo,
}

#[derive(Debug, Parser)]
#[command(
    name = "shardis-probe",
    about = "Open-loop latency probe (HDR histogram)"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Concurrent connections (or connect loops).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Requests per second per connection.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// What to send.
    #[arg(long, value_enum, default_value_t = Probe::Ping)]
    command: Probe,
    /// Key space for GET and SET.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// SET value size in bytes.
    #[arg(long, default_value_t = 16)]
    value_size: usize,
    /// Write the percentile distribution (.hgrm) here.
    #[arg(long)]
    hgrm: Option<String>,
    /// Name printed with the results.
    #[arg(long, default_value = "probe")]
    label: String,
    /// Closed loop: send each request when the last is answered; report the rate.
    #[arg(long)]
    closed: bool,
    /// Only keys of this shard (SET, MULTI-*); none: any key.
    #[arg(long)]
    on_shard: Option<usize>,
    /// The server's shard count, for --on-shard.
    #[arg(long, default_value_t = 4)]
    shards: usize,
}

/// Up to 4096 key names of `--keys` on `shard` (all of them with no shard given).
fn key_pool(args: &Args, shard: Option<usize>) -> Vec<String> {
    use shardis::storage::encoding::{key_hash, shard_of};
    (0..args.keys.max(1))
        .map(|n| format!("key:{n:012}"))
        .filter(|k| shard.is_none_or(|s| shard_of(key_hash(k.as_bytes()), args.shards) == s))
        .take(4096)
        .collect()
}

/// The key pools of a connection: keys of `--on-shard` and of the shard after it
/// (the second key of `multi-two`); any keys without `--on-shard`.
fn key_pools(args: &Args) -> [Vec<String>; 2] {
    let first = args.on_shard;
    let second = first.map(|s| (s + 1) % args.shards.max(1));
    [key_pool(args, first), key_pool(args, second)]
}

/// One closed-loop request: its bytes and how many replies it gets.
fn closed_request(
    args: &Args,
    pools: &[Vec<String>; 2],
    rng: &mut Rng,
    value: &[u8],
) -> (Vec<u8>, usize) {
    let pick = |pool: &Vec<String>, r: u64| pool[(r % pool.len() as u64) as usize].clone();
    let k1 = pick(&pools[0], rng.next());
    match args.command {
        Probe::MultiOne | Probe::MultiTwo => {
            let other = if args.command == Probe::MultiOne {
                0
            } else {
                1
            };
            let k2 = pick(&pools[other], rng.next());
            let mut req = encode(&[b"MULTI"]);
            req.extend(encode(&[b"SET", k1.as_bytes(), value]));
            req.extend(encode(&[b"SET", k2.as_bytes(), value]));
            req.extend(encode(&[b"EXEC"]));
            (req, 4)
        }
        Probe::Get => (encode(&[b"GET", k1.as_bytes()]), 1),
        Probe::Set => (encode(&[b"SET", k1.as_bytes(), value]), 1),
        _ => (b"PING\r\n".to_vec(), 1),
    }
}

async fn closed_loop(
    args: Arc<Args>,
    id: usize,
    results: Arc<Mutex<(Hist, u64)>>,
) -> std::io::Result<()> {
    let stream = TcpStream::connect((args.host.as_str(), args.port)).await?;
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let mut reader = BufReader::new(rd);
    let pools = key_pools(&args);
    if pools.iter().any(Vec::is_empty) {
        return Err(std::io::Error::other(
            "no key of --keys lives on that shard",
        ));
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1));
    let value = vec![b'v'; args.value_size];
    let (mut hist, mut errors, mut line) = (new_hist(), 0, Vec::new());
    let end = Instant::now() + Duration::from_secs_f64(args.duration);
    while Instant::now() < end {
        let (req, replies) = closed_request(&args, &pools, &mut rng, &value);
        let t = Instant::now();
        wr.write_all(&req).await?;
        for _ in 0..replies {
            errors += read_reply(&mut reader, &mut line).await? as u64;
        }
        hist.saturating_record((t.elapsed().as_micros() as u64).max(1));
    }
    let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
    r.0.add(&hist).ok();
    r.1 += errors;
    Ok(())
}

type Hist = Histogram<u64>;

fn new_hist() -> Hist {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one whole RESP reply; true if it was an error reply.
async fn read_reply<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<bool> {
    let mut pending = 1i64;
    let mut error = false;
    while pending > 0 {
        pending -= 1;
        line.clear();
        if r.read_until(b'\n', line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let body = &line[1..line.len().saturating_sub(2)];
        let n: i64 = std::str::from_utf8(body)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1);
        match line.first() {
            Some(b'-') => error = true,
            Some(b'$') if n >= 0 => {
                let mut skip = vec![0u8; n as usize + 2];
                r.read_exact(&mut skip).await?;
            }
            Some(b'*') if n > 0 => pending += n,
            _ => {}
        }
    }
    Ok(error)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

async fn request_loop(
    args: Arc<Args>,
    id: usize,
    results: Arc<Mutex<(Hist, u64)>>,
) -> std::io::Result<()> {
    let stream = TcpStream::connect((args.host.as_str(), args.port)).await?;
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let period = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let total = (args.duration * args.rate as f64) as u64;
    let a = args.clone();
    let transactions = matches!(args.command, Probe::MultiOne | Probe::MultiTwo);
    let replies = if transactions { 4 } else { 1 };
    let pools = if transactions {
        key_pools(&args)
    } else {
        [Vec::new(), Vec::new()]
    };
    if transactions && pools.iter().any(Vec::is_empty) {
        return Err(std::io::Error::other(
            "no key of --keys lives on that shard",
        ));
    }
    let writer = tokio::spawn(async move {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1));
        let value = vec![b'v'; a.value_size];
        let start = Instant::now() + period.mul_f64(id as f64 / a.connections.max(1) as f64);
        let mut buf = Vec::new();
        let mut blocked = false;
        for i in 0..total {
            let intended = start + period * i as u32;
            tokio::time::sleep_until(intended).await;
            let stamp = forgive_timer(intended, blocked);
            buf.clear();
            // The key names redis-benchmark -r writes, so GETs find data.
            let key = format!("key:{:012}", rng.next() % a.keys.max(1));
            buf.extend(match a.command {
                Probe::Get => encode(&[b"GET", key.as_bytes()]),
                Probe::Set => encode(&[b"SET", key.as_bytes(), &value]),
                Probe::MultiOne | Probe::MultiTwo => closed_request(&a, &pools, &mut rng, &value).0,
                _ => b"PING\r\n".to_vec(),
            });
            let t = Instant::now();
            if wr.write_all(&buf).await.is_err() || tx.send(stamp).is_err() {
                break;
            }
            blocked = t.elapsed() > Duration::from_millis(1);
        }
    });
    let mut reader = BufReader::new(rd);
    let mut hist = new_hist();
    let mut errors = 0;
    let mut line = Vec::new();
    let mut seen = 0;
    let mut queue = VecDeque::new();
    while seen < total {
        let intended = match queue.pop_front() {
            Some(t) => t,
            None => match rx.recv().await {
                Some(t) => t,
                None => break,
            },
        };
        let mut error = false;
        for _ in 0..replies {
            error |= read_reply(&mut reader, &mut line).await?;
        }
        let us = Instant::now()
            .saturating_duration_since(intended)
            .as_micros() as u64;
        hist.saturating_record(us.max(1));
        errors += error as u64;
        seen += 1;
        while let Ok(t) = rx.try_recv() {
            queue.push_back(t);
        }
    }
    let _ = writer.await;
    let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
    r.0.add(&hist).ok();
    r.1 += errors;
    Ok(())
}

async fn connect_loop(
    args: Arc<Args>,
    id: usize,
    results: Arc<Mutex<(Hist, u64)>>,
) -> std::io::Result<()> {
    let period = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let total = (args.duration * args.rate as f64) as u64;
    let start = Instant::now() + period.mul_f64(id as f64 / args.connections.max(1) as f64);
    let mut hist = new_hist();
    let mut errors = 0;
    let mut line = Vec::new();
    let mut blocked = false;
    for i in 0..total {
        let intended = start + period * i as u32;
        tokio::time::sleep_until(intended).await;
        let stamp = forgive_timer(intended, blocked);
        let ok = async {
            let mut s = TcpStream::connect((args.host.as_str(), args.port)).await?;
            s.set_nodelay(true)?;
            s.write_all(b"PING\r\n").await?;
            let mut r = BufReader::new(s);
            read_reply(&mut r, &mut line).await
        }
        .await;
        let done = Instant::now();
        blocked = done.saturating_duration_since(stamp) > period;
        let us = done.saturating_duration_since(stamp).as_micros() as u64;
        hist.saturating_record(us.max(1));
        errors += !matches!(ok, Ok(false)) as u64;
    }
    let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
    r.0.add(&hist).ok();
    r.1 += errors;
    Ok(())
}

/// The time a request counts from. Tokio's timer wakes up to about a millisecond late;
/// that lateness is the probe's own, so up to 2 ms of it is forgiven. If the previous
/// request was held up by the server (a blocked write, a late reply), nothing is
/// forgiven: the request counts from when it was meant to be sent.
fn forgive_timer(intended: Instant, blocked: bool) -> Instant {
    if blocked {
        intended
    } else {
        Instant::now().min(intended + Duration::from_millis(2))
    }
}

fn main() {
    let args = Arc::new(Args::parse());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let results = Arc::new(Mutex::new((new_hist(), 0u64)));
    rt.block_on(async {
        let mut tasks = Vec::new();
        for id in 0..args.connections {
            let (a, r) = (args.clone(), results.clone());
            tasks.push(tokio::spawn(async move {
                let res = if a.closed {
                    closed_loop(a, id, r).await
                } else if a.command == Probe::Connect {
                    connect_loop(a, id, r).await
                } else {
                    request_loop(a, id, r).await
                };
                if let Err(e) = res {
                    eprintln!("connection {id}: {e}");
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let (h, errors) = &*results.lock().unwrap_or_else(|e| e.into_inner());
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let rate = if args.closed {
        format!(" rate={:.0}/s", h.len() as f64 / args.duration)
    } else {
        String::new()
    };
    println!(
        "{}: count={}{rate} errors={} p50={:.3} p90={:.3} p99={:.3} p99.9={:.3} p99.99={:.3} max={:.3} (ms)",
        args.label,
        h.len(),
        errors,
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        ms(0.9999),
        h.max() as f64 / 1000.0
    );
    if let Some(path) = &args.hgrm {
        if let Err(e) = std::fs::write(path, shardis::metrics::percentile_distribution(h)) {
            eprintln!("cannot write {path}: {e}");
        }
    }
}
