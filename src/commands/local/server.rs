//! Server commands answered on the network thread: COMMAND, CONFIG, INFO, TIME,
//! LASTSAVE. INFO's key counts are gathered from the shards by the connection first;
//! every other figure INFO prints comes from one [`Snapshot`] taken for the call by
//! [`snapshot`] (the same struct the admin server's /metrics renders).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::connection::REDIS_VERSION;
use crate::commands::table::{Coord, Kind};
use crate::commands::{is, lookup, table};
use crate::error::{text, CommandError};
use crate::metrics::{Parts, Snapshot};
use crate::protocol::Reply;
use crate::spec::KeyAt;
use crate::state::ServerCtx;
use crate::state::Session;
use crate::storage::now_ms;

type Result<T> = std::result::Result<T, CommandError>;

/// The subcommand `args[1]` of container command `name`, arity-checked.
fn subcommand(name: &'static str, args: &[Bytes]) -> Result<&'static crate::spec::RedisSpec> {
    let spec = lookup(name.as_bytes()).map(|c| c.spec);
    let Some(sub) = spec.and_then(|c| c.subcommand(&args[1])) else {
        let sub = String::from_utf8_lossy(&args[1]);
        return Err(CommandError::unknown_subcommand(&sub, &name.to_uppercase()));
    };
    if !sub.arity_ok(args.len()) {
        return Err(CommandError::arity(sub.name));
    }
    Ok(sub)
}

/// The error for a subcommand shardis does not implement.
fn unsupported(name: &str) -> CommandError {
    CommandError::unsupported(&name.replace('|', " ").to_uppercase())
}

/// COMMAND [COUNT | INFO name... | DOCS name... | LIST | GETKEYS cmd args...]
pub fn command(_s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    if args.len() == 1 {
        return Ok(Reply::Array(
            table::all().map(|c| c.spec.info_reply()).collect(),
        ));
    }
    let sub = subcommand("command", args)?;
    Ok(match sub.name {
        "command|count" => Reply::Int(table::all().count() as i64),
        "command|list" => command_list(args)?,
        "command|info" => {
            if args.len() == 2 {
                return Ok(Reply::Array(
                    table::all().map(|c| c.spec.info_reply()).collect(),
                ));
            }
            Reply::Array(
                args[2..]
                    .iter()
                    .map(|n| full_spec(n).map_or(Reply::Nil, |s| s.info_reply()))
                    .collect(),
            )
        }
        "command|docs" => {
            let specs: Vec<_> = if args.len() == 2 {
                table::all().map(|c| c.spec).collect()
            } else {
                args[2..].iter().filter_map(|n| full_spec(n)).collect()
            };
            Reply::Map(
                specs
                    .into_iter()
                    .map(|s| (Reply::bulk(s.name.as_bytes()), s.docs_reply()))
                    .collect(),
            )
        }
        "command|getkeys" => getkeys(&args[2..], false)?,
        "command|getkeysandflags" => getkeys(&args[2..], true)?,
        _ => return Err(unsupported(sub.name)),
    })
}

/// The spec of a command or, as `container|sub`, of a subcommand (Redis's
/// `lookupCommandBySds`: COMMAND INFO and COMMAND DOCS take either).
fn full_spec(name: &[u8]) -> Option<&'static crate::spec::RedisSpec> {
    let mut parts = name.split(|&b| b == b'|');
    let base = lookup(parts.next()?)?.spec;
    match (parts.next(), parts.next()) {
        (None, _) => Some(base),
        (Some(sub), None) => base.subcommand(sub),
        _ => None,
    }
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS of `inner` (a command and its arguments), as
/// Redis's `getKeysSubcommandImpl` answers: the keys (with their flags, a set of
/// statuses each) or why there are none.
fn getkeys(inner: &[Bytes], with_flags: bool) -> Result<Reply> {
    let spec = lookup(&inner[0]).and_then(|c| {
        if inner.len() == 1 || c.spec.subcommands.is_empty() {
            Some(c.spec)
        } else {
            c.spec.subcommand(&inner[1])
        }
    });
    let Some(spec) = spec else {
        return Err(CommandError::other(text::INVALID_COMMAND));
    };
    let has_keyspec = spec.key_specs.iter().any(|k| !k.flags.contains(&"not_key"));
    let proc = GetKeysProc::of(spec.name);
    if !has_keyspec && proc.is_none() {
        return Err(CommandError::other(text::NO_KEY_ARGUMENTS));
    }
    if !spec.arity_ok(inner.len()) {
        return Err(CommandError::other(text::INVALID_ARG_COUNT));
    }
    // Redis prefers the key specs when their flags are reliable, and falls back to the
    // command's procedure when a spec cannot be applied.
    let variable = spec
        .key_specs
        .iter()
        .any(|k| k.flags.contains(&"variable_flags"));
    let from_specs = (has_keyspec && !variable)
        .then(|| spec.keys_from_specs(inner))
        .flatten();
    let keys = match (from_specs, proc) {
        (Some(keys), _) => keys,
        (None, Some(proc)) => proc.keys(inner),
        (None, None) => Vec::new(),
    };
    if keys.is_empty() {
        if spec.has_flag("no_mandatory_keys") {
            return Ok(Reply::Array(Vec::new()));
        }
        return Err(CommandError::other(text::INVALID_ARGUMENTS));
    }
    Ok(Reply::Array(
        keys.into_iter()
            .map(|k| {
                let key = Reply::Bulk(inner[k.pos].clone());
                if with_flags {
                    Reply::Array(vec![key, crate::spec::status_set(k.flags)])
                } else {
                    key
                }
            })
            .collect(),
    ))
}

const RO_ACCESS: &[&str] = &["RO", "access"];
const OW_UPDATE: &[&str] = &["OW", "update"];
const RW_ACCESS_UPDATE: &[&str] = &["RW", "access", "update"];

/// Redis's getkeys procedure of a command (`getkeys_proc`), for the commands shardis
/// implements that have one; it answers when the key specs cannot, or when their
/// flags vary with the arguments (SET, BITFIELD).
#[derive(Clone, Copy)]
enum GetKeysProc {
    /// `genericGetKeys`: a count at `count`, keys from `first`, then the destination
    /// at `store` (0: none); no flags.
    Counted {
        store: usize,
        count: usize,
        first: usize,
    },
    /// `sortGetKeys`: the key, then the last STORE destination.
    Sort,
    /// `sortROGetKeys`: the key.
    SortRo,
    /// `setGetKeys`: the key, read and written with GET, overwritten without.
    Set,
    /// `bitfieldGetKeys`: the key, read-only unless a SET/INCRBY (or bad syntax).
    Bitfield,
}

impl GetKeysProc {
    fn of(name: &str) -> Option<GetKeysProc> {
        let counted = |store, count, first| GetKeysProc::Counted {
            store,
            count,
            first,
        };
        Some(match name {
            "zunionstore" | "zinterstore" | "zdiffstore" => counted(1, 2, 3),
            "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
                counted(0, 1, 2)
            }
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" | "blmpop"
            | "bzmpop" => counted(0, 2, 3),
            // GEORADIUS and GEORADIUSBYMEMBER have one too, but their key specs
            // always apply.
            "georadius" | "georadiusbymember" => return None,
            "sort" => GetKeysProc::Sort,
            "sort_ro" => GetKeysProc::SortRo,
            "set" => GetKeysProc::Set,
            "bitfield" => GetKeysProc::Bitfield,
            _ => return None,
        })
    }

    /// The keys the procedure finds in `args` (name included; arity already checked).
    fn keys(self, args: &[Bytes]) -> Vec<KeyAt> {
        let at = |pos, flags| KeyAt { pos, flags };
        match self {
            GetKeysProc::Counted {
                store,
                count,
                first,
            } => {
                let num = c_atoi(&args[count]);
                if num < 1 || num as usize > (args.len() - first) {
                    return Vec::new();
                }
                let mut keys: Vec<KeyAt> = (first..first + num as usize)
                    .map(|p| at(p, &[][..]))
                    .collect();
                if store > 0 {
                    keys.push(at(store, &[]));
                }
                keys
            }
            GetKeysProc::Sort => {
                let store = crate::commands::sort::store_position(args);
                let mut keys = vec![at(1, RO_ACCESS)];
                keys.extend(store.map(|p| at(p, OW_UPDATE)));
                keys
            }
            GetKeysProc::SortRo => vec![at(1, RO_ACCESS)],
            GetKeysProc::Set => {
                let get = args.iter().skip(3).any(|a| is(a, "get"));
                vec![at(1, if get { RW_ACCESS_UPDATE } else { OW_UPDATE })]
            }
            GetKeysProc::Bitfield => {
                let mut readonly = true;
                let mut i = 2;
                while i < args.len() {
                    let remaining = args.len() - i - 1;
                    let a = &args[i];
                    if is(a, "get") && remaining >= 2 {
                        i += 2;
                    } else if (is(a, "set") || is(a, "incrby")) && remaining >= 3 {
                        readonly = false;
                        break;
                    } else if is(a, "overflow") && remaining >= 1 {
                        i += 1;
                    } else {
                        // A syntax error: Redis assumes the worst.
                        readonly = false;
                        break;
                    }
                    i += 1;
                }
                vec![at(
                    1,
                    if readonly {
                        RO_ACCESS
                    } else {
                        RW_ACCESS_UPDATE
                    },
                )]
            }
        }
    }
}

/// C's `atoi` (via `strtol`): leading spaces, a sign, the digits up to the first
/// other byte; saturated to a long, then truncated to an int.
fn c_atoi(s: &[u8]) -> i32 {
    let mut i = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .unwrap_or(s.len());
    let neg = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let mut v: i64 = 0;
    for &b in s[i..].iter().take_while(|b| b.is_ascii_digit()) {
        let d = (b - b'0') as i64;
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    v as i32
}

/// CONFIG GET pattern... | SET name value... | RESETSTAT | REWRITE
pub fn config(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let sub = subcommand("config", args)?;
    Ok(match sub.name {
        "config|get" => {
            let patterns: Vec<&[u8]> = args[2..].iter().map(|a| a.as_ref()).collect();
            Reply::Map(
                s.ctx
                    .live
                    .get(&patterns)
                    .into_iter()
                    .map(|(k, v)| (Reply::bulk(k.as_bytes()), Reply::bulk(v.as_bytes())))
                    .collect(),
            )
        }
        "config|set" => {
            if !(args.len() - 2).is_multiple_of(2) {
                return Err(CommandError::arity("config|set"));
            }
            let pairs: Vec<(String, String)> = args[2..]
                .chunks_exact(2)
                .map(|p| {
                    (
                        String::from_utf8_lossy(&p[0]).to_ascii_lowercase(),
                        String::from_utf8_lossy(&p[1]).into_owned(),
                    )
                })
                .collect();
            s.ctx.live.set(&pairs).map_err(CommandError::other)?;
            Reply::Ok
        }
        "config|resetstat" => {
            let st = &s.ctx.stats;
            for c in [
                &st.commands,
                &st.errors,
                &st.connections,
                &st.net_in,
                &st.net_out,
            ] {
                c.store(0, Ordering::Relaxed);
            }
            crate::metrics::reset();
            Reply::Ok
        }
        "config|rewrite" => {
            let Some(path) = &s.ctx.config.config else {
                return Err(CommandError::other(text::NO_CONFIG_FILE));
            };
            s.ctx
                .live
                .rewrite(path)
                .map_err(|e| CommandError::rewrite_failed(&e.to_string()))?;
            Reply::Ok
        }
        _ => return Err(unsupported(sub.name)),
    })
}

/// LOLWUT [VERSION v]: a drawing of shardis's request path, then the version line
/// Redis ends with. Redis draws computer art for versions 5 and 6; shardis draws the
/// same picture for every version.
pub fn lolwut(_s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let mut j = 1;
    while j < args.len() {
        if is(&args[j], "version") && j + 1 < args.len() {
            crate::commands::arg_i64(&args[j + 1])?;
            j += 1;
        }
        j += 1;
    }
    let art = format!(
        "  clients ==> [ network threads ] ==> [ shard 0 ] ... [ shard S ] ==> RocksDB\n\
         \x20            parse, PING, pub/sub      group commit, one batch each\n\
         \n\
         Two runtimes that never wait for each other. Redis ver. {REDIS_VERSION}\n"
    );
    Ok(Reply::Verbatim(art))
}

/// TIME
pub fn time(_s: &mut Session, _args: &[Bytes]) -> Result<Reply> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Reply::Array(vec![
        Reply::bulk(now.as_secs().to_string().as_bytes()),
        Reply::bulk(now.subsec_micros().to_string().as_bytes()),
    ]))
}

/// LASTSAVE: Unix time of the last successful SAVE or BGSAVE (start time before any).
pub fn lastsave(s: &mut Session, _args: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Int(s.ctx.last_save.load(Ordering::Relaxed) as i64))
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
    "threads",
    "network",
    "storage",
    "rocksdb",
];

/// INFO [section ...]; `keyspace` holds `(keys, expires)` per database.
pub fn info(s: &mut Session, sections: &[Bytes], keyspace: &[(i64, i64)]) -> Reply {
    let wanted: Vec<&str> = if sections.is_empty() {
        DEFAULT_SECTIONS.to_vec()
    } else if sections.iter().any(|a| is(a, "all") || is(a, "everything")) {
        ALL_SECTIONS.to_vec()
    } else {
        ALL_SECTIONS
            .iter()
            .copied()
            .filter(|name| {
                sections
                    .iter()
                    .any(|a| is(a, name) || (is(a, "default") && DEFAULT_SECTIONS.contains(name)))
            })
            .collect()
    };
    // One snapshot for every section, with the costly parts only if a section prints them.
    let parts = Parts {
        commands: wanted
            .iter()
            .any(|n| matches!(*n, "commandstats" | "latencystats" | "errorstats")),
        threads: wanted
            .iter()
            .any(|n| matches!(*n, "threads" | "network" | "storage")),
    };
    let snap = snapshot(&s.ctx, parts);
    let mut out = String::new();
    for (i, name) in wanted.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        section(&mut out, &s.ctx, &snap, name, keyspace);
    }
    Reply::Verbatim(out)
}

fn section(
    out: &mut String,
    ctx: &ServerCtx,
    snap: &Snapshot,
    name: &str,
    keyspace: &[(i64, i64)],
) {
    let shape = &ctx.shape;
    let up = snap.uptime_secs;
    // `w("#", name)` starts a section; anything else is a `key:value` line.
    let mut w = |k: &str, v: &dyn std::fmt::Display| {
        let _ = if k == "#" {
            write!(out, "# {v}\r\n")
        } else {
            write!(out, "{k}:{v}\r\n")
        };
    };
    match name {
        "server" => {
            w("#", &"Server");
            w("redis_version", &REDIS_VERSION);
            w("shardis_version", &env!("CARGO_PKG_VERSION"));
            w("redis_mode", &"standalone");
            w("os", &std::env::consts::OS);
            w("arch_bits", &64);
            w("process_id", &std::process::id());
            w("tcp_port", &ctx.config.port);
            w("server_time_usec", &(now_ms() * 1000));
            w("uptime_in_seconds", &up);
            w("uptime_in_days", &(up / 86400));
            w(
                "executable",
                &std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            w(
                "config_file",
                &ctx.config
                    .config
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            w("runtime_mode", &shape.runtime_mode);
            w("network_threads", &snap.network_threads);
            w("network_cores", &shape.network_cores);
            w("storage_threads", &shape.storage_threads);
            w("storage_cores", &shape.storage_cores);
            w("shards", &shape.shards);
            w("channel_capacity", &shape.channel_capacity);
            w("batch_max", &snap.batch_max);
        }
        "clients" => {
            w("#", &"Clients");
            w("connected_clients", &snap.connected_clients);
            w("maxclients", &snap.maxclients);
            w(
                "blocked_clients",
                &ctx.stats.blocked_clients.load(Ordering::Relaxed),
            );
        }
        "memory" => {
            w("#", &"Memory");
            w("used_memory", &snap.rss_bytes);
            w("used_memory_rss", &snap.rss_bytes);
            w("maxmemory", &0);
            w("maxmemory_policy", &"noeviction");
        }
        "persistence" => {
            w("#", &"Persistence");
            w("loading", &0);
            w("aof_enabled", &1);
            w("rdb_bgsave_in_progress", &(snap.bgsave_in_progress as u8));
            w("rdb_last_save_time", &snap.last_save_unix);
            w("shardis_last_checkpoint", &snap.last_checkpoint);
        }
        "stats" => {
            w("#", &"Stats");
            w("total_connections_received", &snap.connections_received);
            w("total_commands_processed", &snap.commands_processed);
            w("total_net_input_bytes", &snap.net_input_bytes);
            w("total_net_output_bytes", &snap.net_output_bytes);
            w("total_error_replies", &snap.error_replies);
            let total = |f: fn(&crate::metrics::snapshot::ShardFigures) -> u64| -> u64 {
                snap.shards.iter().map(f).sum()
            };
            w("expired_keys", &total(|c| c.expired));
            w("storage_groups_committed", &total(|c| c.groups));
            w("storage_requests", &total(|c| c.requests));
            use crate::state::pubsub::Kind as Sub;
            w(
                "pubsub_channels",
                &ctx.pubsub.names(Sub::Channel, None).len(),
            );
            w("pubsub_patterns", &ctx.pubsub.patterns());
            w(
                "pubsubshard_channels",
                &ctx.pubsub.names(Sub::Shard, None).len(),
            );
        }
        "replication" => {
            w("#", &"Replication");
            w("role", &"master");
            w("connected_slaves", &0);
        }
        "cpu" => {
            w("#", &"CPU");
            w("used_cpu_sys", &format!("{:.6}", snap.cpu_sys_secs));
            w("used_cpu_user", &format!("{:.6}", snap.cpu_user_secs));
        }
        // No modules; the section is there (empty) as in Redis.
        "modules" => w("#", &"Modules"),
        // Client libraries read `cluster_enabled` to choose their cluster mode.
        "cluster" => {
            w("#", &"Cluster");
            w("cluster_enabled", &0);
        }
        "keyspace" => {
            w("#", &"Keyspace");
            for (db, (keys, expires)) in keyspace.iter().enumerate() {
                if *keys > 0 {
                    w(
                        &format!("db{db}"),
                        &format!("keys={keys},expires={expires},avg_ttl=0"),
                    );
                }
            }
        }
        "threads" => {
            w("#", &"Threads");
            for (i, t) in snap.threads.iter().enumerate() {
                w(
                    &format!("thread_{i}"),
                    &format!("name={},cpu_usec={}", t.name, t.cpu_usec),
                );
            }
        }
        "commandstats" => {
            w("#", &"Commandstats");
            for (i, c) in snap.commands.commands.iter().enumerate() {
                if c.calls + c.rejected == 0 {
                    continue;
                }
                let per_call = if c.calls > 0 {
                    c.usec as f64 / c.calls as f64
                } else {
                    0.0
                };
                w(
                    &format!("cmdstat_{}", crate::spec::redis_spec::REDIS_SPECS[i].name),
                    &format!(
                        "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                        c.calls, c.usec, c.rejected, c.failed
                    ),
                );
            }
        }
        "latencystats" => {
            w("#", &"Latencystats");
            for (i, h) in snap.commands.latency.iter().enumerate() {
                let Some(h) = h.as_ref().filter(|h| !h.is_empty()) else {
                    continue;
                };
                let q = |p: f64| h.value_at_quantile(p) as f64;
                w(
                    &format!(
                        "latency_percentiles_usec_{}",
                        crate::spec::redis_spec::REDIS_SPECS[i].name
                    ),
                    &format!("p50={:.3},p99={:.3},p99.9={:.3}", q(0.5), q(0.99), q(0.999)),
                );
            }
            for (i, stages) in snap.commands.stages.iter().enumerate() {
                let Some(stages) = stages else { continue };
                let mut parts = Vec::new();
                for (stage, h) in crate::metrics::STAGES.iter().zip(stages.iter()) {
                    let q = |p: f64| h.value_at_quantile(p);
                    parts.push(format!("{stage}_p50={},{stage}_p99={}", q(0.5), q(0.99)));
                }
                let name = crate::spec::redis_spec::REDIS_SPECS[i].name;
                w(&format!("latency_stages_usec_{name}"), &parts.join(","));
            }
        }
        "errorstats" => {
            w("#", &"Errorstats");
            let mut codes: Vec<_> = snap.commands.errors.iter().collect();
            codes.sort();
            for (code, n) in codes {
                w(&format!("errorstat_{code}"), &format!("count={n}"));
            }
        }
        "rocksdb" => {
            w("#", &"RocksDB");
            let e = &snap.engine;
            w("rocksdb_memtable_bytes", &e.memtable_bytes);
            w("rocksdb_memtable_entries", &e.memtable_entries);
            w("rocksdb_l0_files", &e.l0_files);
            w(
                "rocksdb_pending_compaction_bytes",
                &e.pending_compaction_bytes,
            );
            w("rocksdb_running_flushes", &e.running_flushes);
            w("rocksdb_running_compactions", &e.running_compactions);
            w("rocksdb_write_stopped", &e.write_stopped);
            w("rocksdb_delayed_write_rate", &e.delayed_write_rate);
            w("rocksdb_stall_micros", &e.stall_micros);
            w("rocksdb_stall_delays", &e.stall_delays);
            w("rocksdb_stall_stops", &e.stall_stops);
            w("rocksdb_compactions", &e.compactions);
            w("rocksdb_flushed_bytes", &e.flushed_bytes);
            w("rocksdb_bytes_written", &e.bytes_written);
            w("rocksdb_block_cache_bytes", &e.block_cache_bytes);
            w("rocksdb_live_sst_bytes", &e.live_sst_bytes);
        }
        "network" => {
            w("#", &"Network");
            for (i, t) in snap.network.iter().enumerate() {
                let (p50, p99, p999) = t.response.as_ref().map_or((0, 0, 0), tail);
                w(
                    &format!("network_thread_{i}"),
                    &format!(
                        "name={},core={},connections={},commands={},bytes_in={},bytes_out={},\
                         response_p50_usec={p50},response_p99_usec={p99},response_p999_usec={p999},cpu_usec={}",
                        t.name, t.core, t.connections, t.commands, t.bytes_in, t.bytes_out, t.cpu_usec,
                    ),
                );
            }
        }
        "storage" => {
            w("#", &"Storage");
            let total = |f: fn(&crate::metrics::snapshot::ShardFigures) -> u64| -> u64 {
                snap.shards.iter().map(f).sum()
            };
            w("storage_errors", &total(|c| c.errors));
            w("storage_timeouts", &total(|c| c.timeouts));
            w("storage_restarts", &total(|c| c.restarts));
            w("storage_backpressure_waits", &total(|c| c.backpressure));
            for (i, c) in snap.shards.iter().enumerate() {
                let (groups, requests) = (c.groups, c.requests);
                let mean = if groups > 0 {
                    requests as f64 / groups as f64
                } else {
                    0.0
                };
                let (p50, p99, p999) = c.op_latency.as_ref().map_or((0, 0, 0), tail);
                w(
                    &format!("shard_{i}"),
                    &format!(
                        "queue_depth={},queue_peak={},groups={groups},requests={requests},mean_group={mean:.2},\
                         max_group={},op_p50_usec={p50},op_p99_usec={p99},op_p999_usec={p999},errors={},\
                         timeouts={},restarts={},backpressure={},expired={}",
                        c.queue_depth, c.queue_peak, c.max_group, c.errors, c.timeouts, c.restarts,
                        c.backpressure, c.expired,
                    ),
                );
            }
            let storage_threads = snap
                .threads
                .iter()
                .filter(|t| t.name.starts_with("shardis-storag") || t.name.starts_with("rocksdb"));
            for (i, t) in storage_threads.enumerate() {
                w(
                    &format!("storage_thread_{i}"),
                    &format!("name={},cpu_usec={}", t.name, t.cpu_usec),
                );
            }
        }
        _ => {}
    }
}

/// Takes a [`Snapshot`] of the server's figures, with the optional `parts`. It reads
/// counters and histograms only: it never calls RocksDB nor waits for a shard, so the
/// admin server calls it while the storage side is stalled.
pub fn snapshot(ctx: &ServerCtx, parts: Parts) -> Snapshot {
    use crate::metrics::snapshot::{
        process_cpu, rss_bytes, thread_cpu, EngineFigures, NetworkThread, ShardFigures,
    };
    let v = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let st = &ctx.stats;
    let (cpu_user_secs, cpu_sys_secs) = process_cpu();
    let threads = if parts.threads {
        thread_cpu()
    } else {
        Vec::new()
    };
    let net = ctx
        .net_threads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let network = net
        .iter()
        .map(|t| NetworkThread {
            name: t.name.clone(),
            core: t.core.clone(),
            connections: v(&t.connections),
            commands: v(&t.commands),
            bytes_in: v(&t.bytes_in),
            bytes_out: v(&t.bytes_out),
            response: t.latency.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            cpu_usec: threads
                .iter()
                .filter(|c| c.name == t.name)
                .map(|c| c.cpu_usec)
                .sum(),
        })
        .collect();
    let depths = ctx.backend.queue_depths();
    let shards = ctx
        .backend
        .counters()
        .iter()
        .enumerate()
        .map(|(i, c)| ShardFigures {
            queue_depth: depths.get(i).copied().unwrap_or(0) as u64,
            queue_peak: v(&c.queue_peak),
            groups: v(&c.groups),
            requests: v(&c.requests),
            max_group: v(&c.max_group),
            errors: v(&c.errors),
            timeouts: v(&c.timeouts),
            restarts: v(&c.restarts),
            backpressure: v(&c.backpressure),
            expired: v(&c.expired),
            op_latency: c
                .op_latency
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        })
        .collect();
    let e = ctx.backend.engine_stats();
    let engine = EngineFigures {
        memtable_bytes: v(&e.memtable_bytes),
        memtable_entries: v(&e.memtable_entries),
        l0_files: v(&e.l0_files),
        pending_compaction_bytes: v(&e.pending_compaction_bytes),
        running_flushes: v(&e.running_flushes),
        running_compactions: v(&e.running_compactions),
        write_stopped: v(&e.write_stopped),
        delayed_write_rate: v(&e.delayed_write_rate),
        stall_micros: v(&e.stall_micros),
        stall_delays: v(&e.stall_delays),
        stall_stops: v(&e.stall_stops),
        compactions: v(&e.compactions),
        flushed_bytes: v(&e.flushed_bytes),
        bytes_written: v(&e.bytes_written),
        block_cache_bytes: v(&e.block_cache_bytes),
        live_sst_bytes: v(&e.live_sst_bytes),
    };
    Snapshot {
        redis_version: REDIS_VERSION,
        runtime_mode: ctx.shape.runtime_mode,
        uptime_secs: ctx.started.elapsed().as_secs(),
        connections_received: v(&st.connections),
        commands_processed: v(&st.commands),
        net_input_bytes: v(&st.net_in),
        net_output_bytes: v(&st.net_out),
        error_replies: v(&st.errors),
        connected_clients: ctx.clients.lock().unwrap_or_else(|e| e.into_inner()).len(),
        maxclients: ctx
            .live
            .param_u64("maxclients")
            .unwrap_or(ctx.config.maxclients),
        rss_bytes: rss_bytes(),
        cpu_user_secs,
        cpu_sys_secs,
        bgsave_in_progress: ctx.bgsave_running.load(Ordering::Relaxed),
        last_save_unix: ctx.last_save.load(Ordering::Relaxed),
        last_checkpoint: ctx
            .last_save_path
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        network_threads: if ctx.shape.runtime_mode == "dual" {
            ctx.active_network_threads()
        } else {
            0
        },
        batch_max: ctx.live.batch_max(),
        threads,
        network,
        shards,
        engine,
        commands: if parts.commands {
            crate::metrics::snapshot()
        } else {
            crate::metrics::Recorder::default()
        },
    }
}

/// LATENCY HISTOGRAM [command ...] | LATEST | RESET | HELP. The histograms are the
/// per-command latencies INFO latencystats summarises, in Redis 7's reply shape.
pub fn latency(_s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let sub = subcommand("latency", args)?;
    Ok(match sub.name {
        "latency|histogram" => {
            let snap = crate::metrics::snapshot();
            let wanted = |name: &str| {
                args.len() == 2 || args[2..].iter().any(|a| a.eq_ignore_ascii_case(name.as_bytes()))
            };
            let b = |t: &str| Reply::bulk(t.as_bytes());
            let mut out = Vec::new();
            for (i, h) in snap.latency.iter().enumerate() {
                let name = crate::spec::redis_spec::REDIS_SPECS[i].name;
                let Some(h) = h.as_ref().filter(|h| !h.is_empty() && wanted(name)) else {
                    continue;
                };
                let buckets = crate::metrics::power_of_two_buckets(h)
                    .into_iter()
                    .map(|(bound, n)| (Reply::Int(bound as i64), Reply::Int(n as i64)))
                    .collect();
                out.push((
                    b(name),
                    Reply::Map(vec![
                        (b("calls"), Reply::Int(h.len() as i64)),
                        (b("histogram_usec"), Reply::Map(buckets)),
                    ]),
                ));
            }
            Reply::Map(out)
        }
        "latency|latest" | "latency|history" => Reply::Array(Vec::new()),
        "latency|reset" => Reply::Int(0),
        "latency|help" => Reply::Array(
            [
                "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "HISTOGRAM [COMMAND ...]",
                "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
                "    If no commands are specified then all histograms are replied.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::Status((*l).into()))
            .collect(),
        ),
        other => return Err(unsupported(other)),
    })
}

/// SLOWLOG GET \[count\] | LEN | RESET | HELP: commands whose execution took at least
/// slowlog-log-slower-than µs (on the shard for keyed commands), newest first.
pub fn slowlog(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let sub = subcommand("slowlog", args)?;
    Ok(match sub.name {
        "slowlog|get" => {
            let count = match args.get(2).map(|a| crate::commands::arg_i64(a)) {
                None => Some(10),
                Some(Ok(-1)) => None,
                Some(Ok(n)) if n >= 0 => Some(n as usize),
                _ => return Err(CommandError::other(text::COUNT_BELOW_MINUS_ONE)),
            };
            let clients = s.ctx.clients.lock().unwrap_or_else(|e| e.into_inner());
            let entries = crate::metrics::slowlog_get(count)
                .into_iter()
                .map(|e| {
                    let (addr, name) = clients
                        .get(&e.client)
                        .map(|c| (c.addr.to_string(), c.name()))
                        .unwrap_or_default();
                    Reply::Array(vec![
                        Reply::Int(e.id as i64),
                        Reply::Int(e.time as i64),
                        Reply::Int(e.usec as i64),
                        Reply::Array(e.args.into_iter().map(Reply::Bulk).collect()),
                        Reply::bulk(addr.as_bytes()),
                        Reply::Bulk(name),
                    ])
                })
                .collect();
            Reply::Array(entries)
        }
        "slowlog|len" => Reply::Int(crate::metrics::slowlog_len() as i64),
        "slowlog|reset" => {
            crate::metrics::slowlog_reset();
            Reply::Ok
        }
        _ => Reply::Array(
            [
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::Status((*l).into()))
            .collect(),
        ),
    })
}

/// p50, p99 and p99.9 of a histogram.
fn tail(h: &hdrhistogram::Histogram<u64>) -> (u64, u64, u64) {
    (
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
    )
}

/// The server commands and where each runs, for the command table ([`crate::commands::table`]).
/// ROLE: a master without replicas.
pub fn role(_s: &mut Session, _args: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Array(vec![
        Reply::bulk_static("master"),
        Reply::Int(0),
        Reply::Array(Vec::new()),
    ]))
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: every
/// command's name and its subcommands' (`client|kill`), as Redis lists them.
fn command_list(args: &[Bytes]) -> Result<Reply> {
    let names = table::all().flat_map(|c| std::iter::once(c.spec).chain(c.spec.subcommands));
    let keep: Box<dyn Fn(&crate::spec::RedisSpec) -> bool> = match args.len() {
        2 => Box::new(|_| true),
        5 if is(&args[2], "filterby") => {
            let value = args[4].clone();
            if is(&args[3], "module") {
                // No modules.
                Box::new(|_| false)
            } else if is(&args[3], "aclcat") {
                Box::new(move |spec| {
                    spec.acl.iter().any(|a| {
                        a.strip_prefix('@')
                            .is_some_and(|cat| cat.as_bytes().eq_ignore_ascii_case(&value))
                    })
                })
            } else if is(&args[3], "pattern") {
                Box::new(move |spec| crate::glob::matches(&value, spec.name.as_bytes(), true))
            } else {
                return Err(CommandError::Syntax);
            }
        }
        _ => return Err(CommandError::Syntax),
    };
    Ok(Reply::Array(
        names
            .filter(|spec| keep(spec))
            .map(|spec| Reply::bulk(spec.name.as_bytes()))
            .collect(),
    ))
}

pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("command", Kind::Local(command)),
    ("role", Kind::Local(role)),
    ("config", Kind::Local(config)),
    ("time", Kind::Local(time)),
    ("lolwut", Kind::Local(lolwut)),
    ("memory", Kind::Coordinated(Coord::Memory, None)),
    ("lastsave", Kind::Local(lastsave)),
    ("latency", Kind::Local(latency)),
    ("slowlog", Kind::Local(slowlog)),
    ("info", Kind::Coordinated(Coord::Info, None)),
    ("shutdown", Kind::Coordinated(Coord::Shutdown, None)),
    ("debug", Kind::Coordinated(Coord::Debug, None)),
    ("save", Kind::Coordinated(Coord::Save, None)),
    ("bgsave", Kind::Coordinated(Coord::Save, None)),
    // Scripts and functions: `network::scripting`, Lua in `crate::script`.
    ("eval", Kind::Coordinated(Coord::Script, None)),
    ("evalsha", Kind::Coordinated(Coord::Script, None)),
    ("eval_ro", Kind::Coordinated(Coord::Script, None)),
    ("evalsha_ro", Kind::Coordinated(Coord::Script, None)),
    ("fcall", Kind::Coordinated(Coord::Script, None)),
    ("fcall_ro", Kind::Coordinated(Coord::Script, None)),
    ("script", Kind::Coordinated(Coord::ScriptAdmin, None)),
    ("function", Kind::Coordinated(Coord::ScriptAdmin, None)),
];
