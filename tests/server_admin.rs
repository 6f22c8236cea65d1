//! The admin HTTP server: health checks per side, and Prometheus metrics, reachable
//! while the storage side is stalled.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
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
