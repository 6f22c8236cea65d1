//! HDR latency dumps: SIGUSR1 and shutdown write a `.hgrm` percentile distribution per
//! command and append to the run's HdrHistogram interval log.

mod common;

use std::time::{Duration, Instant};

use common::Server;

fn files(dir: &std::path::Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == ext));
    v.sort();
    v
}

/// Checks the HdrHistogram percentile distribution format and returns the total count.
fn parse_hgrm(text: &str) -> u64 {
    let mut last_pct = -1.0;
    let mut rows = 0;
    for line in text.lines().skip(2) {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<f64> = line
            .split_whitespace()
            .filter_map(|c| c.parse().ok())
            .collect();
        assert!(cols.len() >= 3, "bad row: {line}");
        assert!(
            cols[1] >= last_pct && cols[1] <= 1.0,
            "percentiles must grow: {line}"
        );
        last_pct = cols[1];
        rows += 1;
    }
    assert!(rows > 0, "no rows:\n{text}");
    assert_eq!(last_pct, 1.0, "the distribution ends at 100%");
    let footer = text
        .lines()
        .find(|l| l.starts_with("#[Max"))
        .expect("max footer");
    footer
        .rsplit('=')
        .next()
        .unwrap()
        .trim()
        .trim_end_matches(']')
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn sigusr1_and_shutdown_write_hgrm_files_and_an_interval_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dumps = tmp.path().join("dumps");
    let server = Server::start("dual", &["--latency-dump", dumps.to_str().unwrap()]);
    let mut c = server.raw();
    for i in 0..200 {
        assert_eq!(c.call(&["SET", &format!("k{i}"), "v"]), "+OK\r\n");
    }
    assert_eq!(c.call(&["GET", "k1"]), "$1\r\nv\r\n");
    server.signal(libc::SIGUSR1);
    let deadline = Instant::now() + Duration::from_secs(10);
    // The stage files of a command are written after its own file, and each file
    // appears whole (renamed into place).
    let dumped = |suffix: &str| {
        files(&dumps, "hgrm")
            .iter()
            .any(|p| p.to_string_lossy().ends_with(suffix))
    };
    while !dumped("-set-commit.hgrm") {
        assert!(Instant::now() < deadline, "no dump after SIGUSR1");
        std::thread::sleep(Duration::from_millis(50));
    }
    let set = files(&dumps, "hgrm")
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with("-set.hgrm"))
        .unwrap();
    assert_eq!(parse_hgrm(&std::fs::read_to_string(&set).unwrap()), 200);
    for stage in ["network", "queue", "storage", "commit"] {
        let path = set
            .to_string_lossy()
            .replace("-set.hgrm", &format!("-set-{stage}.hgrm"));
        assert_eq!(
            parse_hgrm(&std::fs::read_to_string(&path).unwrap()),
            200,
            "{stage}"
        );
    }
    assert_eq!(c.call(&["SET", "after", "v"]), "+OK\r\n");
    drop(c);
    server.stop();
    // The shutdown dump is the second of the run.
    let second: Vec<_> = files(&dumps, "hgrm")
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with("-0002-set.hgrm"))
        .collect();
    assert_eq!(second.len(), 1);
    assert_eq!(
        parse_hgrm(&std::fs::read_to_string(&second[0]).unwrap()),
        201
    );
    let logs = files(&dumps, "hlog");
    assert_eq!(logs.len(), 1);
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(log.contains("#[StartTime: "), "{log}");
    assert!(log.contains("Tag=set,"), "{log}");
    assert!(log.contains("Tag=get,"), "{log}");
}

#[test]
fn latency_dump_interval_changes_live() {
    let tmp = tempfile::tempdir().unwrap();
    let dumps = tmp.path().join("dumps");
    let server = Server::start("dual", &["--latency-dump", dumps.to_str().unwrap()]);
    let mut c = server.raw();
    assert_eq!(c.call(&["SET", "k", "v"]), "+OK\r\n");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        files(&dumps, "hgrm").is_empty(),
        "interval 0: no periodic dumps"
    );
    assert_eq!(
        c.call(&["CONFIG", "SET", "latency-dump-interval", "1"]),
        "+OK\r\n"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while files(&dumps, "hgrm").is_empty() {
        assert!(
            Instant::now() < deadline,
            "no periodic dump after CONFIG SET"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
