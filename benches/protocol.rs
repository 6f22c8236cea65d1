//! Hot pure parts of the network side: RESP parsing of a pipelined buffer, reply
//! encoding, and command lookup.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use shardis::commands::lookup;
use shardis::protocol::{parse, Parsed, Reply};

fn pipelined(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let key = format!("key:{i:08}");
        out.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$16\r\nxxxxxxxxxxxxxxxx\r\n",
                key.len()
            )
            .as_bytes(),
        );
    }
    out
}

fn parse_pipeline(c: &mut Criterion) {
    let buf = pipelined(16);
    let mut g = c.benchmark_group("resp_parse");
    g.throughput(Throughput::Elements(16));
    g.bench_function("set_x16_pipeline", |b| {
        b.iter(|| {
            let mut rbuf = BytesMut::from(&buf[..]);
            let mut n = 0;
            while let Ok(Parsed::Command(args)) = parse(&mut rbuf, 512 << 20) {
                n += args.len();
            }
            black_box(n)
        })
    });
    let inline = b"SET key:00000001 value\r\n".repeat(16);
    g.bench_function("inline_x16", |b| {
        b.iter(|| {
            let mut rbuf = BytesMut::from(&inline[..]);
            let mut n = 0;
            while let Ok(Parsed::Command(args)) = parse(&mut rbuf, 512 << 20) {
                n += args.len();
            }
            black_box(n)
        })
    });
    g.finish();
}

fn encode_replies(c: &mut Criterion) {
    let mut g = c.benchmark_group("reply_encode");
    let bulk = Reply::Bulk(Bytes::from(vec![b'x'; 16]));
    g.bench_function("bulk_16b", |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            out.clear();
            black_box(&bulk).encode(&mut out, false);
            black_box(out.len())
        })
    });
    let array = Reply::Array(
        (0..100)
            .map(|i| Reply::bulk(format!("element:{i}").as_bytes()))
            .collect(),
    );
    g.bench_function("array_100", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            out.clear();
            black_box(&array).encode(&mut out, false);
            black_box(out.len())
        })
    });
    g.bench_function("int_and_ok", |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            out.clear();
            Reply::Int(black_box(123_456)).encode(&mut out, false);
            Reply::Ok.encode(&mut out, false);
            black_box(out.len())
        })
    });
    g.finish();
}

fn command_lookup(c: &mut Criterion) {
    let names: [&[u8]; 6] = [
        b"GET",
        b"set",
        b"ZrangeByScore",
        b"INCR",
        b"hset",
        b"NOSUCH",
    ];
    c.bench_function("command_lookup_x6", |b| {
        b.iter(|| {
            let mut found = 0;
            for n in names {
                found += lookup(black_box(n)).is_some() as usize;
            }
            black_box(found)
        })
    });
}

criterion_group!(benches, parse_pipeline, encode_replies, command_lookup);
criterion_main!(benches);
