//! `/metrics`: a [`Snapshot`] in Prometheus's text exposition format (version 0.0.4),
//! encoded by prometheus-client.
//!
//! [`render`] hands the snapshot to a fresh prometheus-client `Registry` (prefix
//! `shardis`) as a `Collector`, and the library's Prometheus text encoder writes each
//! family: its `# HELP` and `# TYPE` lines, then its series. The conventions:
//!
//! * counters (totals since start, or since the last CONFIG RESETSTAT for those it
//!   clears: commands processed, connections, client bytes, error replies, command
//!   statistics; Prometheus reads a drop as a counter reset) end in `_total`, which the
//!   encoder appends; gauges are values now; units end the name (`_seconds`, `_bytes`);
//! * a figure kept per network thread carries `thread="shardis-net-0"`, per shard
//!   `shard="N"`, per command `command="get"` (Redis's lower-case name), per error code
//!   `code="WRONGTYPE"`; the CPU time of the process's threads carries `thread` and
//!   `tid`, since the threads of a pool (`rocksdb:low`, `shardis-storage`) share a name;
//! * latencies are histograms in seconds, folded from the HdrHistograms the server keeps
//!   into fixed buckets: the powers of two from 1 µs to 2^24 µs (about 16.8 s), so a
//!   series has the same `le` values in every scrape. A command histogram's `_count` is
//!   its calls and its `_sum` the exact time they took; the other histograms' `_sum` is
//!   the HdrHistogram's (within its 1% precision);
//! * settings and identity (process id, port, paths, uptime in days) are not metrics;
//!   the version and runtime mode are the labels of `shardis_build_info`.

use std::fmt;

use hdrhistogram::Histogram;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::snapshot::Snapshot;
use super::{REDIS_SPECS, STAGES};

/// The `Content-Type` of what [`render`] returns.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Largest bucket bound, as a power of two of microseconds (2^24 µs ≈ 16.8 s).
const TOP_BUCKET_POW: u32 = 24;

/// The snapshot as Prometheus text.
pub fn render(snapshot: Snapshot) -> String {
    let mut registry = Registry::with_prefix("shardis");
    registry.register_collector(Box::new(Exposition(snapshot)));
    let mut out = String::new();
    // Writing into a String cannot fail, and the collector's only errors are the writer's.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

/// A histogram's figures as the encoder takes them.
struct Buckets {
    sum: f64,
    count: u64,
    /// `(upper bound in seconds, calls in this bucket alone)`; the encoder accumulates
    /// them and adds `+Inf` with `count`.
    buckets: Vec<(f64, u64)>,
}

/// Folds a histogram of microseconds into the power-of-two buckets; `sum_us` is the
/// exact total if known.
fn buckets(h: &Histogram<u64>, sum_us: Option<u64>) -> Buckets {
    let mut per = vec![0u64; TOP_BUCKET_POW as usize + 1];
    for v in h.iter_recorded() {
        // A recorded value stands for every value HdrHistogram treats as equal to it;
        // that range goes into the first bucket whose bound it reaches, as
        // `count_between(0, bound)` counts it.
        let low = h.lowest_equivalent(v.value_iterated_to()).max(1);
        let pow = u64::BITS - (low - 1).leading_zeros();
        if let Some(slot) = per.get_mut(pow as usize) {
            *slot += v.count_at_value();
        }
    }
    Buckets {
        sum: sum_us.map_or(h.mean() * h.len() as f64, |us| us as f64) / 1e6,
        count: h.len(),
        buckets: per
            .into_iter()
            .enumerate()
            .map(|(pow, n)| ((1u64 << pow) as f64 / 1e6, n))
            .collect(),
    }
}

#[derive(Debug)]
struct Exposition(Snapshot);

/// No labels.
const NONE: [(&str, &str); 0] = [];

fn counters<L: EncodeLabelSet, V: EncodeCounterValue>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    series: impl IntoIterator<Item = (L, V)>,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
    for (labels, v) in series {
        m.encode_family(&labels)?
            .encode_counter::<NoLabelSet, V, u64>(&v, None)?;
    }
    Ok(())
}

fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    series: impl IntoIterator<Item = (L, V)>,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
    for (labels, v) in series {
        m.encode_family(&labels)?.encode_gauge(&v)?;
    }
    Ok(())
}

fn histograms<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, Buckets)>,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    for (labels, b) in series {
        m.encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(b.sum, b.count, &b.buckets, None)?;
    }
    Ok(())
}

fn shard(i: usize) -> [(&'static str, String); 1] {
    [("shard", i.to_string())]
}

impl Collector for Exposition {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let s = &self.0;
        let e = &mut e;
        use Unit::{Bytes, Seconds};

        // The server.
        {
            let labels = [
                ("version", env!("CARGO_PKG_VERSION")),
                ("redis_version", s.redis_version),
                ("runtime_mode", s.runtime_mode),
            ];
            let mut m = e.encode_descriptor(
                "build",
                "The shardis version, the Redis version it answers as, and its runtime mode",
                None,
                MetricType::Info,
            )?;
            m.encode_info(&labels)?;
        }
        gauges(
            e,
            "uptime",
            "Time since the server started",
            Some(Seconds),
            [(NONE, s.uptime_secs)],
        )?;
        gauges(
            e,
            "connected_clients",
            "Client connections open now",
            None,
            [(NONE, s.connected_clients as u64)],
        )?;
        gauges(
            e,
            "max_clients",
            "Most client connections allowed (maxclients)",
            None,
            [(NONE, s.maxclients)],
        )?;
        counters(
            e,
            "connections_received",
            "Client connections accepted",
            None,
            [(NONE, s.connections_received)],
        )?;
        counters(
            e,
            "commands_processed",
            "Commands processed",
            None,
            [(NONE, s.commands_processed)],
        )?;
        counters(
            e,
            "error_replies",
            "Error replies sent",
            None,
            [(NONE, s.error_replies)],
        )?;
        counters(
            e,
            "net_input",
            "Bytes read from clients",
            Some(Bytes),
            [(NONE, s.net_input_bytes)],
        )?;
        counters(
            e,
            "net_output",
            "Bytes written to clients",
            Some(Bytes),
            [(NONE, s.net_output_bytes)],
        )?;
        gauges(
            e,
            "resident_memory",
            "Resident memory of the process",
            Some(Bytes),
            [(NONE, s.rss_bytes)],
        )?;
        counters(
            e,
            "cpu",
            "CPU time of the process, by mode",
            Some(Seconds),
            [
                ([("mode", "user")], s.cpu_user_secs),
                ([("mode", "system")], s.cpu_sys_secs),
            ],
        )?;
        gauges(
            e,
            "bgsave_in_progress",
            "1 while a BGSAVE checkpoint is being written",
            None,
            [(NONE, s.bgsave_in_progress as u64)],
        )?;
        gauges(
            e,
            "last_save_timestamp",
            "Unix time of the last successful SAVE or BGSAVE (the start time before any)",
            Some(Seconds),
            [(NONE, s.last_save_unix)],
        )?;
        gauges(
            e,
            "network_threads",
            "Network threads running (dual runtime; 0 in the single runtime)",
            None,
            [(NONE, s.network_threads as u64)],
        )?;
        gauges(
            e,
            "shards",
            "Shards the key space is split into",
            None,
            [(NONE, s.shards.len() as u64)],
        )?;

        // Threads.
        counters(
            e,
            "thread_cpu",
            "CPU time (user and system) of each thread of the process",
            Some(Seconds),
            s.threads.iter().map(|t| {
                (
                    [("thread", t.name.clone()), ("tid", t.tid.to_string())],
                    t.cpu_usec as f64 / 1e6,
                )
            }),
        )?;

        // Network threads.
        let net = |t: &super::snapshot::NetworkThread| [("thread", t.name.clone())];
        gauges(
            e,
            "network_connections",
            "Client connections open now, per network thread",
            None,
            s.network.iter().map(|t| (net(t), t.connections)),
        )?;
        counters(
            e,
            "network_commands",
            "Commands answered, per network thread",
            None,
            s.network.iter().map(|t| (net(t), t.commands)),
        )?;
        counters(
            e,
            "network_received",
            "Bytes read from clients, per network thread",
            Some(Bytes),
            s.network.iter().map(|t| (net(t), t.bytes_in)),
        )?;
        counters(
            e,
            "network_sent",
            "Bytes written to clients, per network thread",
            Some(Bytes),
            s.network.iter().map(|t| (net(t), t.bytes_out)),
        )?;
        histograms(
            e,
            "network_response_duration",
            "Time from parsing a pipeline batch to writing its replies, per network thread",
            s.network
                .iter()
                .filter_map(|t| Some((net(t), buckets(t.response.as_ref()?, None)))),
        )?;

        // Shards.
        let per_shard = |f: fn(&super::snapshot::ShardFigures) -> u64| {
            s.shards
                .iter()
                .enumerate()
                .map(move |(i, c)| (shard(i), f(c)))
        };
        gauges(
            e,
            "storage_queue_depth",
            "Messages waiting in the shard's channel now (0 in the single runtime)",
            None,
            per_shard(|c| c.queue_depth),
        )?;
        gauges(
            e,
            "storage_queue_peak",
            "Most messages seen waiting in the shard's channel",
            None,
            per_shard(|c| c.queue_peak),
        )?;
        counters(
            e,
            "storage_groups",
            "Groups committed (one RocksDB write batch each), per shard",
            None,
            per_shard(|c| c.groups),
        )?;
        counters(
            e,
            "storage_requests",
            "Requests executed, per shard",
            None,
            per_shard(|c| c.requests),
        )?;
        gauges(
            e,
            "storage_max_group",
            "Most requests committed in one group, per shard",
            None,
            per_shard(|c| c.max_group),
        )?;
        counters(
            e,
            "storage_commit_errors",
            "Group commits that failed, per shard",
            None,
            per_shard(|c| c.errors),
        )?;
        counters(
            e,
            "storage_timeouts",
            "Batches whose replies missed storage-timeout-ms, per shard",
            None,
            per_shard(|c| c.timeouts),
        )?;
        counters(
            e,
            "storage_restarts",
            "Times the shard panicked and was restarted",
            None,
            per_shard(|c| c.restarts),
        )?;
        counters(
            e,
            "storage_backpressure_waits",
            "Sends that found the shard's channel full and waited",
            None,
            per_shard(|c| c.backpressure),
        )?;
        counters(
            e,
            "expired_keys",
            "Keys removed because they expired, per shard",
            None,
            per_shard(|c| c.expired),
        )?;
        histograms(
            e,
            "storage_op_duration",
            "Execution time of each request on its shard",
            s.shards
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some((shard(i), buckets(c.op_latency.as_ref()?, None)))),
        )?;

        // RocksDB.
        let g = &s.engine;
        for (name, help, unit, v) in [
            (
                "rocksdb_memtable",
                "Bytes in all memtables",
                Some(Bytes),
                g.memtable_bytes,
            ),
            (
                "rocksdb_memtable_entries",
                "Entries in the active memtable",
                None,
                g.memtable_entries,
            ),
            ("rocksdb_l0_files", "SST files in level 0", None, g.l0_files),
            (
                "rocksdb_pending_compaction",
                "Bytes compaction still has to rewrite",
                Some(Bytes),
                g.pending_compaction_bytes,
            ),
            (
                "rocksdb_running_flushes",
                "Flushes running now",
                None,
                g.running_flushes,
            ),
            (
                "rocksdb_running_compactions",
                "Compactions running now",
                None,
                g.running_compactions,
            ),
            (
                "rocksdb_write_stopped",
                "1 while RocksDB stops writes",
                None,
                g.write_stopped,
            ),
            (
                "rocksdb_delayed_write_rate",
                "Bytes per second writes are slowed to (0: not slowed)",
                None,
                g.delayed_write_rate,
            ),
            (
                "rocksdb_block_cache",
                "Block cache bytes in use",
                Some(Bytes),
                g.block_cache_bytes,
            ),
            (
                "rocksdb_live_sst",
                "Bytes of live SST files",
                Some(Bytes),
                g.live_sst_bytes,
            ),
        ] {
            gauges(e, name, help, unit, [(NONE, v)])?;
        }
        counters(
            e,
            "rocksdb_stall",
            "Time RocksDB held writes back (slowed or stopped)",
            Some(Seconds),
            [(NONE, g.stall_micros as f64 / 1e6)],
        )?;
        for (name, help, unit, v) in [
            (
                "rocksdb_stall_delays",
                "Write stalls that slowed writes",
                None,
                g.stall_delays,
            ),
            (
                "rocksdb_stall_stops",
                "Write stalls that stopped writes",
                None,
                g.stall_stops,
            ),
            (
                "rocksdb_compactions",
                "Flushes and compactions finished",
                None,
                g.compactions,
            ),
            (
                "rocksdb_flushed",
                "Bytes written by flushes",
                Some(Bytes),
                g.flushed_bytes,
            ),
            (
                "rocksdb_written",
                "Bytes of write batches written",
                Some(Bytes),
                g.bytes_written,
            ),
        ] {
            counters(e, name, help, unit, [(NONE, v)])?;
        }

        // Commands.
        let rec = &s.commands;
        let named = |i: usize| [("command", REDIS_SPECS[i].name)];
        histograms(
            e,
            "command_duration",
            "Time from parsing a command to its reply, per command; _count is its calls",
            rec.latency.iter().enumerate().filter_map(|(i, h)| {
                let h = h.as_ref().filter(|h| !h.is_empty())?;
                let usec = rec.commands.get(i).map(|c| c.usec);
                Some((named(i), buckets(h, usec)))
            }),
        )?;
        counters(
            e,
            "command_rejected_calls",
            "Calls refused before running (arity, authentication), per command",
            None,
            rec.commands
                .iter()
                .enumerate()
                .filter(|(_, c)| c.calls + c.rejected > 0)
                .map(|(i, c)| (named(i), c.rejected)),
        )?;
        counters(
            e,
            "command_failed_calls",
            "Calls that ran and replied with an error, per command",
            None,
            rec.commands
                .iter()
                .enumerate()
                .filter(|(_, c)| c.calls + c.rejected > 0)
                .map(|(i, c)| (named(i), c.failed)),
        )?;
        histograms(
            e,
            "command_stage_duration",
            "Where a keyed command's time went, per command and stage: network (parse, \
             route, reply), queue (waiting for its shard), storage (executing), commit \
             (the group's write and WAL sync)",
            rec.stages.iter().enumerate().flat_map(|(i, stages)| {
                stages.iter().flat_map(move |stages| {
                    STAGES.iter().zip(stages.iter()).map(move |(stage, h)| {
                        (
                            [("command", REDIS_SPECS[i].name), ("stage", *stage)],
                            buckets(h, None),
                        )
                    })
                })
            }),
        )?;
        let mut codes: Vec<_> = rec.errors.iter().collect();
        codes.sort();
        counters(
            e,
            "errors",
            "Error replies by error code (ERR, WRONGTYPE, ...)",
            None,
            codes
                .into_iter()
                .map(|(code, n)| ([("code", code.as_str())], *n)),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::snapshot::{NetworkThread, ShardFigures, ThreadCpu};
    use crate::metrics::Recorder;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 2).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn buckets_agree_with_count_between() {
        let values: Vec<u64> = (0..5000u64)
            .map(|i| 1 + (i * 7919 % 100_003) * (i % 13 + 1))
            .chain([1, 2, 3, 4, 255, 256, 257, 1023, 1024, 1025, 40_000_000])
            .collect();
        let h = histogram(&values);
        let b = buckets(&h, None);
        assert_eq!(b.count, values.len() as u64);
        assert_eq!(b.buckets.len(), TOP_BUCKET_POW as usize + 1);
        let mut cumulative = 0;
        for (pow, (bound, n)) in b.buckets.iter().enumerate() {
            cumulative += n;
            assert_eq!(*bound, (1u64 << pow) as f64 / 1e6);
            assert_eq!(cumulative, h.count_between(0, 1 << pow), "2^{pow} µs");
        }
        // 40 s is past the last bound: only +Inf (the count) holds it.
        assert_eq!(cumulative, values.len() as u64 - 1);
        assert_eq!(buckets(&h, Some(1_500_000)).sum, 1.5);
    }

    #[test]
    fn renders_typed_labelled_families() {
        let get = REDIS_SPECS.iter().position(|s| s.name == "get");
        let mut rec = Recorder::default();
        rec.command(get, false, None, 3);
        rec.command(get, false, Some("WRONGTYPE Operation"), 100);
        rec.command(get, true, Some("ERR wrong number of arguments"), 0);
        let snap = Snapshot {
            commands_processed: 7,
            threads: vec![ThreadCpu {
                tid: 42,
                name: "rocksdb:low".into(),
                cpu_usec: 1_500_000,
            }],
            network: vec![NetworkThread {
                name: "shardis-net-0".into(),
                commands: 5,
                response: Some(histogram(&[10, 20])),
                ..Default::default()
            }],
            shards: vec![
                ShardFigures {
                    groups: 3,
                    ..Default::default()
                },
                ShardFigures {
                    groups: 4,
                    ..Default::default()
                },
            ],
            commands: rec,
            ..Default::default()
        };
        let text = render(snap);
        for line in [
            "# HELP shardis_commands_processed_total Commands processed",
            "# TYPE shardis_commands_processed_total counter",
            "shardis_commands_processed_total 7",
            "# TYPE shardis_uptime_seconds gauge",
            "# TYPE shardis_build_info gauge",
            "shardis_storage_groups_total{shard=\"0\"} 3",
            "shardis_storage_groups_total{shard=\"1\"} 4",
            "shardis_thread_cpu_seconds_total{thread=\"rocksdb:low\",tid=\"42\"} 1.5",
            "shardis_network_commands_total{thread=\"shardis-net-0\"} 5",
            "# TYPE shardis_command_duration_seconds histogram",
            "shardis_command_duration_seconds_bucket{command=\"get\",le=\"2e-06\"} 0",
            "shardis_command_duration_seconds_bucket{command=\"get\",le=\"4e-06\"} 1",
            "shardis_command_duration_seconds_bucket{command=\"get\",le=\"0.000128\"} 2",
            "shardis_command_duration_seconds_bucket{command=\"get\",le=\"+Inf\"} 2",
            "shardis_command_duration_seconds_sum{command=\"get\"} 0.000103",
            "shardis_command_duration_seconds_count{command=\"get\"} 2",
            "shardis_command_rejected_calls_total{command=\"get\"} 1",
            "shardis_command_failed_calls_total{command=\"get\"} 1",
            "shardis_errors_total{code=\"ERR\"} 1",
            "shardis_errors_total{code=\"WRONGTYPE\"} 1",
            "shardis_network_response_duration_seconds_count{thread=\"shardis-net-0\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // Every family has HELP and TYPE; no sample without them.
        let mut typed = std::collections::HashSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_string());
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
                    .unwrap_or(name);
                assert!(typed.contains(family), "{l} has no TYPE");
            }
        }
        assert!(!text.contains("uptime_in_days") && !text.contains("process_id"));
    }
}
