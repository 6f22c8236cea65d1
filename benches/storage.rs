//! Hot parts of the storage side: key encoding, the shard channel round trip through
//! the real dual-runtime backend, and a group commit of N writes against N single
//! commits on a real RocksDB.

use std::sync::Arc;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shardis::commands::strings;
use shardis::config::{Config, Live};
use shardis::protocol::Reply;
use shardis::storage::encoding::encode_key;
use shardis::storage::engine::Batch;
use shardis::storage::{self, Engine, EngineOptions, ReplyChannel, ShardReq};

fn key_encoding(c: &mut Criterion) {
    let key = b"user:1000:profile";
    c.bench_function("encode_key", |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            encode_key(&mut out, 0, black_box(key));
            black_box(out.len())
        })
    });
}

fn shard_round_trip(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::load(vec!["shardis".into()]).unwrap();
    let live = Arc::new(Live::new(&cfg));
    let storage_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let engine = Arc::new(Engine::open(dir.path(), &EngineOptions::default()).unwrap());
    let notifier = Default::default();
    let backend = storage::start_dual(
        storage_rt.handle(),
        engine,
        live,
        1,
        10_000,
        64 << 20,
        notifier,
    );
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut chan = ReplyChannel::default();
    let mut g = c.benchmark_group("shard_round_trip");
    for n in [1usize, 16] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("get_batch", n), &n, |b, &n| {
            b.iter(|| {
                client_rt.block_on(async {
                    let mut work = vec![(0..n)
                        .map(|i| ShardReq {
                            db: 0,
                            exec: strings::get,
                            isolated: None,
                            args: vec![Bytes::from_static(b"get"), Bytes::from(format!("k{i}"))],
                            client: 0,
                        })
                        .collect::<Vec<_>>()];
                    let mut results: Vec<Vec<Reply>> = vec![Vec::new()];
                    backend.run(&mut work, &mut results, &mut chan).await;
                    black_box(results[0].len())
                })
            })
        });
    }
    g.finish();
}

fn group_commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), &EngineOptions::default()).unwrap();
    let mut g = c.benchmark_group("commit_64_writes");
    g.throughput(Throughput::Elements(64));
    let value = vec![b'v'; 16];
    let mut key = Vec::new();
    let mut i = 0u64;
    for sync in [false, true] {
        let label = if sync { "fsync" } else { "no_fsync" };
        g.bench_function(BenchmarkId::new("one_batch", label), |b| {
            b.iter(|| {
                let mut batch = Batch::default();
                for _ in 0..64 {
                    i += 1;
                    encode_key(&mut key, 0, &i.to_be_bytes());
                    batch.put(&key, &value);
                }
                engine.write(&mut batch, sync).unwrap();
            })
        });
        g.bench_function(BenchmarkId::new("64_batches", label), |b| {
            b.iter(|| {
                for _ in 0..64 {
                    i += 1;
                    encode_key(&mut key, 0, &i.to_be_bytes());
                    let mut batch = Batch::default();
                    batch.put(&key, &value);
                    engine.write(&mut batch, sync).unwrap();
                }
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = key_encoding, shard_round_trip, group_commit
}
criterion_main!(benches);
