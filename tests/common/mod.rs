//! Test harness: starts the real `shardis` binary on a free port with a temporary data
//! directory, and talks to it over TCP, raw (exact bytes) or through the `redis` crate.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Shards the harness starts shardis with.
pub const SHARDS: usize = 4;

/// The first key `tag:<n>` that lives on `shard` (of [`SHARDS`]).
pub fn key_on(shard: usize, tag: &str) -> String {
    use shardis::storage::encoding::{key_hash, shard_of};
    (0..)
        .map(|i| format!("{tag}:{i}"))
        .find(|k| shard_of(key_hash(k.as_bytes()), SHARDS) == shard)
        .unwrap()
}

/// Both runtime modes: every behaviour test runs in each.
pub const RUNTIMES: [&str; 2] = ["dual", "single"];

/// A running server, killed when dropped.
pub struct Server {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
    _tmp: Option<tempfile::TempDir>,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts shardis in `runtime` mode with extra flags, on a fresh data directory.
    pub fn start(runtime: &str, extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let mut s = Server::start_in(&dir, runtime, extra);
        s._tmp = Some(tmp);
        s
    }

    /// Starts shardis on an existing data directory (for restart tests).
    pub fn start_in(dir: &Path, runtime: &str, extra: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardis"));
        cmd.args(["--port", &port.to_string(), "--dir"])
            .arg(dir)
            .args([
                "--runtime",
                runtime,
                "--shards",
                &SHARDS.to_string(),
                "--loglevel",
                "warning",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().expect("start shardis");
        let server = Server {
            port,
            dir: dir.to_path_buf(),
            child,
            _tmp: None,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) {
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                if c.write_all(b"PING\r\n").is_ok() {
                    let mut line = String::new();
                    let _ = BufReader::new(c).read_line(&mut line);
                    // A server with requirepass answers NOAUTH: it is up all the same.
                    if line == "+PONG\r\n" || line.starts_with("-NOAUTH") {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("shardis did not start on port {}", self.port);
    }

    /// A raw connection.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// A `redis` crate connection.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Sends a signal to the server process.
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub fn stop(mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "shardis exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("shardis did not stop on SIGTERM");
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw RESP connection: sends bytes, reads whole replies as their exact bytes.
pub struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).unwrap();
        Raw {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Sends a command as a multibulk request.
    pub fn send_cmd(&mut self, args: &[&[u8]]) {
        self.send(&encode(args));
    }

    /// Sends a command and returns the exact bytes of its reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send_cmd(args);
        self.read_reply()
    }

    /// Like [`Raw::cmd`] with string arguments, the reply as (lossy) text.
    pub fn call(&mut self, args: &[&str]) -> String {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        String::from_utf8_lossy(&self.cmd(&a)).into_owned()
    }

    /// Reads one whole reply (any RESP2/RESP3 type) and returns its bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.read_into(&mut out);
        out
    }

    fn read_line(&mut self, out: &mut Vec<u8>) -> Vec<u8> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).unwrap();
        assert!(
            line.ends_with(b"\r\n"),
            "truncated reply line: {:?}",
            String::from_utf8_lossy(&line)
        );
        out.extend_from_slice(&line);
        line.truncate(line.len() - 2);
        line
    }

    fn read_into(&mut self, out: &mut Vec<u8>) {
        let line = self.read_line(out);
        let n = || -> i64 { std::str::from_utf8(&line[1..]).unwrap().parse().unwrap() };
        match line[0] {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {}
            b'$' | b'=' | b'!' => {
                if n() >= 0 {
                    let mut body = vec![0u8; n() as usize + 2];
                    self.reader.read_exact(&mut body).unwrap();
                    out.extend_from_slice(&body);
                }
            }
            b'*' | b'~' | b'>' => {
                for _ in 0..n().max(0) {
                    self.read_into(out);
                }
            }
            b'%' => {
                for _ in 0..n() * 2 {
                    self.read_into(out);
                }
            }
            other => panic!("unexpected reply type {:?}", other as char),
        }
    }

    /// Sends bytes; false if the connection is gone (the server was killed).
    pub fn try_send(&mut self, bytes: &[u8]) -> bool {
        self.writer.write_all(bytes).is_ok()
    }

    /// Reads a one-line reply (`+OK`, `-ERR ...`, `:1`); `None` if the connection
    /// is gone.
    pub fn try_read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(n) if n > 0 && line.ends_with("\r\n") => Some(line),
            _ => None,
        }
    }

    /// True if the server closed the connection (reads EOF).
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }
}

/// The network thread a connection is served by (CLIENT INFO's `net-thread`).
pub fn net_thread(c: &mut Raw) -> String {
    let info = c.call(&["CLIENT", "INFO"]);
    let at = info.find("net-thread=").expect("net-thread in CLIENT INFO") + 11;
    info[at..]
        .split(|ch: char| ch.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

/// `n` connections on one network thread and one on another (the kernel spreads
/// connections over the threads' listeners); in the single runtime there is one
/// thread, and they simply share it.
pub fn on_two_threads(server: &Server, n: usize) -> (Vec<Raw>, Raw) {
    let mut conns: Vec<(String, Raw)> = Vec::new();
    for _ in 0..400 {
        let mut c = server.raw();
        conns.push((net_thread(&mut c), c));
        let count = |t: &str| conns.iter().filter(|(u, _)| u == t).count();
        let full = conns.iter().map(|(t, _)| t.clone()).find(|t| count(t) >= n);
        let Some(full) = full else { continue };
        if conns.iter().any(|(t, _)| *t != full) {
            let (mine, others): (Vec<_>, Vec<_>) = conns.into_iter().partition(|(t, _)| *t == full);
            let waiters = mine.into_iter().take(n).map(|(_, c)| c).collect();
            return (waiters, others.into_iter().next().unwrap().1);
        }
        if conns.len() > 3 * n && conns.iter().all(|(t, _)| *t == full) {
            break; // one network thread only
        }
    }
    let mut all: Vec<Raw> = conns.into_iter().map(|(_, c)| c).collect();
    let writer = all.pop().unwrap();
    all.truncate(n);
    (all, writer)
}

/// Encodes a command as a RESP multibulk request.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A redis-server on a free port with a temporary directory, killed when dropped: the
/// oracle of the differential tests.
pub struct Redis {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts redis-server, or returns `None` (the caller skips) when it is not installed.
/// With `SHARDIS_REQUIRE_REDIS=1` (set by scripts/test.sh) a missing redis-server fails.
pub fn start_redis() -> Option<Redis> {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("SHARDIS_REQUIRE_REDIS").as_deref() != Ok("1"),
            "redis-server is not installed (scripts/test.sh installs it)"
        );
        eprintln!("SKIPPED: redis-server not installed; this differential test did not run");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let redis = Redis {
        port,
        child,
        _dir: dir,
    };
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(redis);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not start");
}

/// The seeded generator of the randomized tests: shardis's own splitmix64
/// ([`shardis::rng::Rng`]) with the helpers the tests pick operations with.
pub struct Rng(shardis::rng::Rng);

impl Rng {
    /// A generator whose sequence depends only on `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(shardis::rng::Rng::seeded(seed))
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// An integer in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.0.below((hi - lo + 1) as u64) as i64
    }
}

/// Runs `tests/py/<script>` with redis-py against a server on `port`; it must print
/// "ok". `false` if redis-py is not installed (a failure under
/// `SHARDIS_REQUIRE_REDIS=1`, as `scripts/test.sh` sets it).
#[allow(dead_code)] // not every test file runs Python
pub fn redis_py(script: &str, port: u16, what: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", "import redis"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("SHARDIS_REQUIRE_REDIS").as_deref() != Ok("1"),
            "python3 with redis-py is not installed (scripts/setup.sh installs it)"
        );
        eprintln!("SKIPPED: redis-py not installed");
        return false;
    }
    let path = format!("{}/tests/py/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(path)
        .arg(port.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{what}: redis-py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}
