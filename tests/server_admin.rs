//! The admin HTTP server: health checks per side, and Prometheus metrics, reachable
//! while the storage side is stalled. The metrics test parses /metrics with the Python
//! Prometheus client's parser (`tests/parse_metrics.py`); scripts/test.sh installs it
//! and sets SHARDIS_REQUIRE_REDIS=1, which turns a missing one into a failure.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, Server, RUNTIMES};

/// `(status, head, body)` of a GET.
fn http(port: u16, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    (status, head.to_string(), body.to_string())
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let (status, _, body) = http(port, path);
    (status, body)
}

#[test]
fn health_and_metrics() {
    for rt in RUNTIMES {
        let admin = free_port();
        let server = Server::start(
            rt,
            &[
                "--admin-port",
                &admin.to_string(),
                "--storage-threads",
                "4",
                "--enable-debug-command",
                "yes",
            ],
        );
        let (code, body) = http_get(admin, "/health/network");
        assert_eq!(code, 200, "{rt}: {body}");
        assert!(body.contains("\"status\":\"ok\""), "{body}");
        // Connections that send nothing do not hold up the others.
        let idle: Vec<TcpStream> = (0..3)
            .map(|_| TcpStream::connect(("127.0.0.1", admin)).unwrap())
            .collect();
        let t = Instant::now();
        assert_eq!(http_get(admin, "/health/network").0, 200);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        drop(idle);
        let (code, body) = http_get(admin, "/health/storage");
        assert_eq!(code, 200, "{rt}: {body}");
        assert!(body.contains("\"checked\":4"), "{body}");

        let mut c = server.raw();
        assert_eq!(c.call(&["SET", "k", "v"]), "+OK\r\n");
        // The harness's readiness probe may still be closing: let the count settle.
        let deadline = Instant::now() + Duration::from_secs(2);
        let metrics = loop {
            let (code, metrics) = http_get(admin, "/metrics");
            assert_eq!(code, 200);
            let settled = metrics.lines().any(|l| l == "shardis_connected_clients 1");
            if settled || Instant::now() > deadline {
                break metrics;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let has = |line: &str| metrics.lines().any(|l| l.starts_with(line));
        assert!(has("shardis_connected_clients 1"), "{metrics}");
        assert!(
            has("shardis_command_duration_seconds_count{command=\"set\"} 1"),
            "{metrics}"
        );
        assert!(has("shardis_rocksdb_l0_files "), "{metrics}");
        assert_eq!(http_get(admin, "/nope").0, 404);
        assert_eq!(http_get(admin, "/metricsx").0, 404);

        // A stalled shard: storage is unhealthy, the network side and the admin server are not.
        assert_eq!(c.call(&["DEBUG", "STORAGE-STALL", "1500", "1"]), "+OK\r\n");
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        let (code, body) = http_get(admin, "/health/storage");
        assert_eq!(code, 503, "{rt}: {body}");
        assert!(body.contains("shard 1"), "{body}");
        assert!(
            t.elapsed() < Duration::from_millis(1200),
            "{:?}",
            t.elapsed()
        );
        let (code, body) = http_get(admin, "/health/network");
        assert_eq!(code, 200, "{rt}: {body}");
        let t = Instant::now();
        let (code, metrics) = http_get(admin, "/metrics");
        assert_eq!(code, 200, "{rt}: /metrics while a shard is stalled");
        assert!(
            metrics.contains("shardis_storage_requests_total"),
            "{metrics}"
        );
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(1600));
        assert_eq!(http_get(admin, "/health/storage").0, 200);
    }
}

/// One family as the Python parser understood it.
#[derive(Debug, Default)]
struct Family {
    kind: String,
    help: String,
    /// `(sample name, labels, value)`.
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

/// Parses `text` with `prometheus_client.parser.text_string_to_metric_families`, or
/// `None` (the caller skips) when the Python client is not installed.
fn parse_with_python(text: &str) -> Option<BTreeMap<String, Family>> {
    let found = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("SHARDIS_REQUIRE_REDIS").as_deref() != Ok("1"),
            "python3 with prometheus_client is not installed (scripts/setup.sh installs it)"
        );
        eprintln!("SKIPPED: python3 prometheus_client not installed");
        return None;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/parse_metrics.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser rejected /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "family" => {
                let fam = families.entry(f[1].to_string()).or_default();
                fam.kind = f[2].to_string();
                fam.help = f[3].to_string();
            }
            "sample" => {
                let labels = f[3]
                    .split(',')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap();
                        (k.to_string(), v.to_string())
                    })
                    .collect();
                let value = f[4].parse().unwrap();
                families
                    .get_mut(f[1])
                    .unwrap()
                    .samples
                    .push((f[2].to_string(), labels, value));
            }
            other => panic!("unexpected parser output {other:?}"),
        }
    }
    Some(families)
}

/// Per-command calls from INFO commandstats.
fn info_calls(c: &mut common::Raw) -> HashMap<String, u64> {
    let info = c.call(&["INFO", "commandstats"]);
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

#[test]
fn metrics_are_typed_prometheus_families() {
    for rt in RUNTIMES {
        let admin = free_port();
        let server = Server::start(rt, &["--admin-port", &admin.to_string()]);
        let mut c = server.raw();
        const SETS: usize = 40;
        const GETS: usize = 25;
        for i in 0..SETS {
            assert_eq!(c.call(&["SET", &format!("key:{i}"), "v"]), "+OK\r\n");
        }
        for i in 0..GETS {
            assert_eq!(c.call(&["GET", &format!("key:{i}")]), "$1\r\nv\r\n");
        }
        assert!(c.call(&["INCR", "key:0"]).starts_with("-ERR"));

        let (code, head, text) = http(admin, "/metrics");
        assert_eq!(code, 200, "{rt}: {text}");
        let content_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type:")
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let Some(families) = parse_with_python(&text) else {
            return;
        };

        // Every family is typed and documented, and no series appears twice.
        for (name, f) in &families {
            assert!(
                matches!(f.kind.as_str(), "counter" | "gauge" | "histogram"),
                "{rt}: {name} is {}",
                f.kind
            );
            assert!(!f.help.is_empty(), "{rt}: {name} has no HELP");
            let mut seen = std::collections::HashSet::new();
            for (sample, labels, _) in &f.samples {
                assert!(
                    seen.insert((sample, labels)),
                    "{rt}: {sample}{labels:?} twice"
                );
                if f.kind == "counter" {
                    assert!(sample.ends_with("_total"), "{rt}: counter sample {sample}");
                }
            }
        }
        for gone in ["uptime_in_days", "process_id", "tcp_port", "cmdstat"] {
            assert!(
                !families.keys().any(|n| n.contains(gone)),
                "{rt}: {gone} is not a metric"
            );
        }
        let family = |name: &str| {
            families
                .get(name)
                .unwrap_or_else(|| panic!("{rt}: no family {name} in\n{text}"))
        };
        let value = |f: &Family, sample: &str, want: &[(&str, &str)]| -> f64 {
            f.samples
                .iter()
                .find(|(n, l, _)| {
                    n == sample
                        && l.len() == want.len()
                        && want
                            .iter()
                            .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
                })
                .unwrap_or_else(|| panic!("{rt}: no {sample}{want:?}"))
                .2
        };

        // A counter with one series per shard, which together executed every keyed command.
        let requests = family("shardis_storage_requests");
        assert_eq!(requests.kind, "counter");
        let shards: Vec<&str> = requests
            .samples
            .iter()
            .map(|(_, l, _)| l["shard"].as_str())
            .collect();
        assert_eq!(shards, ["0", "1", "2", "3"], "{rt}");
        let executed: f64 = requests.samples.iter().map(|s| s.2).sum();
        assert!(executed >= (SETS + GETS + 1) as f64, "{rt}: {executed}");
        assert!(
            requests.samples.iter().filter(|s| s.2 > 0.0).count() >= 2,
            "{rt}: {:?}",
            requests.samples
        );

        // Per-thread series: the network threads' commands, and CPU time per thread.
        let net = family("shardis_network_commands");
        assert_eq!(net.kind, "counter");
        let threads: Vec<&str> = net
            .samples
            .iter()
            .map(|(_, l, _)| l["thread"].as_str())
            .collect();
        let expected_thread = if rt == "dual" {
            "shardis-net-"
        } else {
            "shardis-single"
        };
        assert!(
            !threads.is_empty() && threads.iter().all(|t| t.starts_with(expected_thread)),
            "{rt}: {threads:?}"
        );
        let answered: f64 = net.samples.iter().map(|s| s.2).sum();
        assert!(answered >= (SETS + GETS + 1) as f64, "{rt}: {answered}");
        let cpu = family("shardis_thread_cpu_seconds");
        assert_eq!(cpu.kind, "counter");
        assert!(
            cpu.samples
                .iter()
                .any(|(_, l, _)| l["thread"] == "shardis-admin" && l.contains_key("tid")),
            "{rt}: {:?}",
            cpu.samples
        );

        // Command latency: a histogram per command whose count is the calls made.
        let latency = family("shardis_command_duration_seconds");
        assert_eq!(latency.kind, "histogram");
        for (command, calls) in [("set", SETS), ("get", GETS), ("incr", 1)] {
            let count = value(
                latency,
                "shardis_command_duration_seconds_count",
                &[("command", command)],
            );
            assert_eq!(count, calls as f64, "{rt}: {command}");
            let inf = value(
                latency,
                "shardis_command_duration_seconds_bucket",
                &[("command", command), ("le", "+Inf")],
            );
            assert_eq!(inf, count, "{rt}: {command}");
            let sum = value(
                latency,
                "shardis_command_duration_seconds_sum",
                &[("command", command)],
            );
            assert!(sum > 0.0 && sum < 60.0, "{rt}: {command} {sum}");
            // Buckets are cumulative: never decreasing with `le`.
            let mut buckets: Vec<(f64, f64)> = latency
                .samples
                .iter()
                .filter(|(n, l, _)| {
                    n == "shardis_command_duration_seconds_bucket" && l["command"] == command
                })
                .map(|(_, l, v)| (l["le"].parse::<f64>().unwrap(), *v))
                .collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(buckets.len() > 10, "{rt}: {buckets:?}");
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "{rt}: {buckets:?}"
            );
        }
        let failed = family("shardis_command_failed_calls");
        assert_eq!(
            value(
                failed,
                "shardis_command_failed_calls_total",
                &[("command", "incr")]
            ),
            1.0,
            "{rt}"
        );

        // INFO reads the same figures.
        let calls = info_calls(&mut c);
        assert_eq!(calls["set"], SETS as u64, "{rt}");
        assert_eq!(calls["get"], GETS as u64, "{rt}");
    }
}
