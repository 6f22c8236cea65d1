//! The command table: name → Redis metadata and where the command runs.
//!
//! Each family file (`strings.rs`, `keys.rs`, ...) lists its commands and where each
//! runs (`COMMANDS`); the table joins those lists with Redis's own metadata
//! ([`REDIS_SPECS`]: arity, flags, key positions) once, and is the only place the
//! connection learns anything about a command. Lookup is one case-folding copy of the
//! name into a stack buffer and one hash-map probe.
//!
//! Routing rule, for every keyed command: a key belongs to shard
//! `shard_of(key_hash(key), S)` (see `storage::encoding`). A command with one key goes
//! to that shard ([`Kind::Single`]); a command with several keys is split by shard and
//! merged in argument order ([`Kind::Multi`]); a command over the whole key space runs
//! on every shard ([`Kind::All`]); a command that needs several shards at one instant
//! holds them ([`Kind::Coordinated`]).

use std::sync::OnceLock;

use ahash::AHashMap;
use bytes::Bytes;

use super::{
    bitmaps, blocking, connection, geo, hashes, hyperloglog, keys, lists, pubsub, server, sets,
    shard::dump, sort, strings, zsets, ExecFn,
};
use crate::error::CommandError;
use crate::protocol::Reply;
use crate::spec::redis_spec::REDIS_SPECS;
use crate::spec::RedisSpec;
use crate::state::Session;

/// A network-side handler: connection and server state only.
pub type LocalFn = fn(&mut Session, &[Bytes]) -> Result<Reply, CommandError>;

/// How partial replies of a split command are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Add the integers (DEL, EXISTS, DBSIZE).
    Sum,
    /// Put the array elements back in key order (MGET).
    Gather,
    /// Every part said OK (MSET, FLUSHDB).
    AllOk,
    /// Concatenate the arrays (KEYS).
    Concat,
    /// Any one non-nil part (RANDOMKEY).
    Pick,
}

/// Commands that need several steps or several shards at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coord {
    /// RENAME / RENAMENX across shards.
    Rename,
    /// COPY across shards.
    Copy,
    /// MSETNX across shards.
    MsetNx,
    /// INFO (needs the key counts of every shard).
    Info,
    /// SHUTDOWN.
    Shutdown,
    /// LMOVE / RPOPLPUSH across shards.
    Move,
    /// SMOVE across shards.
    SMove,
    /// LMPOP / ZMPOP: pop from the first non-empty of several keys.
    MultiPop,
    /// Set algebra (SINTER, SUNION, SDIFF, their STORE forms, SINTERCARD).
    SetAlgebra,
    /// Sorted set algebra (ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD).
    ZSetAlgebra,
    /// ZRANGESTORE.
    ZRangeStore,
    /// BITOP across shards: the sources are read, the result stored on the
    /// destination's shard.
    BitOp,
    /// LCS of two strings on different shards.
    Lcs,
    /// SWAPDB: every shard held, each swaps its records of the two databases.
    SwapDb,
    /// MEMORY: USAGE on the key's shard, the others from the server's figures.
    Memory,
    /// PFCOUNT and PFMERGE over keys of several shards: registers gathered from each.
    Hll,
    /// GEORADIUS ... STORE and GEOSEARCHSTORE with the destination on another shard:
    /// the search runs on the source's shard, the store on the destination's.
    GeoStore,
    /// SORT and SORT_RO whose key and STORE destination are on different shards, or
    /// whose BY or GET patterns name keys (then every shard is held).
    Sort,
    /// BLPOP, BLMOVE, BZPOPMIN ...: the connection waits for data
    /// (`network::blocking`); inside MULTI they run at once.
    Block,
    /// DEBUG: compaction, record counts and fault injection.
    Debug,
    /// SAVE / BGSAVE: a RocksDB checkpoint.
    Save,
    /// EXEC: the queued transaction.
    Exec,
    /// WATCH: registers keys with their shards.
    Watch,
    /// EVAL, EVALSHA, FCALL and their read-only forms: a Lua script on the shards
    /// of its keys.
    Script,
    /// SCRIPT LOAD and FUNCTION LOAD | DELETE | FLUSH | RESTORE: they compile Lua on
    /// a script worker or write the libraries to storage.
    ScriptAdmin,
}

/// Where a command runs.
#[derive(Clone, Copy)]
pub enum Kind {
    /// On the network thread, in pipeline order.
    Local(LocalFn),
    /// On the network thread, once the replies before it are out: HELLO, which changes
    /// how the replies after it are encoded.
    Barrier(LocalFn),
    /// On the shard of args\[1\].
    Single(ExecFn),
    /// Split by the shards of its keys, then merged.
    Multi(ExecFn, Merge),
    /// On every shard, then merged.
    All(ExecFn, Merge),
    /// On the shard that owns the cursor (SCAN).
    Scan(ExecFn),
    /// By the connection, holding the shards it needs; when every key lives on one
    /// shard and the command has a one-shard handler, as a plain [`Kind::Single`].
    Coordinated(Coord, Option<ExecFn>),
}

/// What the connection needs to know of a command beyond where it runs, from
/// Redis's own flags (and, for subscribed mode, Redis's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    /// Runs before AUTH (`no_auth`).
    pub no_auth: bool,
    /// May change the data (`write`).
    pub write: bool,
    /// May block the client (`blocking`).
    pub may_block: bool,
    /// May be queued inside MULTI (not `no_multi`).
    pub in_multi: bool,
    /// May be called from a script (not `noscript`).
    pub in_script: bool,
    /// Allowed on a RESP2 connection in subscribed mode.
    pub in_subscribed: bool,
    /// Runs at once after MULTI instead of being queued (EXEC, DISCARD, ...).
    pub controls_multi: bool,
    /// Shown to MONITOR (neither `skip_monitor` nor `admin`).
    pub monitored: bool,
}

/// Commands that run at once inside MULTI (Redis's list in `processCommand`).
const MULTI_CONTROL: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// Commands Redis accepts from a RESP2 client in subscribed mode.
const SUBSCRIBED_MODE: &[&str] = &[
    "ping",
    "quit",
    "reset",
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ssubscribe",
    "sunsubscribe",
];

impl Flags {
    fn of(spec: &RedisSpec) -> Flags {
        let has = |f: &str| spec.flags.contains(&f);
        Flags {
            no_auth: has("no_auth"),
            write: has("write"),
            may_block: has("blocking"),
            in_multi: !has("no_multi"),
            in_script: !has("noscript"),
            in_subscribed: SUBSCRIBED_MODE.contains(&spec.name),
            controls_multi: MULTI_CONTROL.contains(&spec.name),
            monitored: !has("skip_monitor") && !has("admin"),
        }
    }
}

/// One entry of the command table.
pub struct Command {
    /// Redis's metadata (arity, flags, key positions, docs).
    pub spec: &'static RedisSpec,
    /// Where it runs.
    pub kind: Kind,
    /// What the connection checks before running it.
    pub flags: Flags,
}

impl Command {
    /// MSET and MSETNX need whole key/value pairs (Redis checks this beyond arity).
    pub fn pairs_complete(&self, argc: usize) -> bool {
        let spec = self.spec;
        spec.step <= 1
            || spec.last_key >= 0
            || (argc - spec.first_key as usize).is_multiple_of(spec.step as usize)
    }

    /// The argument whose hash picks a one-key command's shard: its key, which is
    /// `args[2]` for a container command whose subcommand names it (OBJECT ENCODING
    /// key), else `args[1]`.
    pub fn route_key<'a>(&self, args: &'a [Bytes]) -> &'a [u8] {
        let at = if self.spec.first_key == 0 && !self.spec.subcommands.is_empty() {
            2
        } else {
            // PFDEBUG's key comes after its subcommand.
            self.spec.first_key.max(1) as usize
        };
        args.get(at).or(args.get(1)).map_or(&[], |a| a)
    }

    /// Whether the command may read keys that its arguments do not name, on any shard
    /// (SORT's BY and GET patterns, SWAPDB): it then runs holding every shard.
    pub fn reads_any_key(&self, args: &[Bytes]) -> bool {
        match self.kind {
            Kind::Coordinated(Coord::Sort, _) => sort::reads_patterns(args),
            Kind::Coordinated(Coord::SwapDb, _) => true,
            _ => false,
        }
    }

    /// The keys of a command, including those that a key count argument announces
    /// (LMPOP, SINTERCARD, ZUNIONSTORE, EVAL ...), which Redis's first/last/step omit.
    pub fn keys<'a>(&self, args: &'a [Bytes]) -> Vec<&'a Bytes> {
        let counted = |at: usize| -> Vec<&'a Bytes> {
            let n = args
                .get(at)
                .and_then(|a| crate::commands::arg_i64(a).ok())
                .unwrap_or(0)
                .clamp(0, args.len() as i64) as usize;
            args.iter().skip(at + 1).take(n).collect()
        };
        let name = self.spec.name;
        match self.kind {
            Kind::Coordinated(Coord::MultiPop, _) => counted(1),
            Kind::Coordinated(Coord::SetAlgebra, _) if name == "sintercard" => counted(1),
            Kind::Coordinated(Coord::ZSetAlgebra, _) if name.ends_with("store") => {
                let mut keys = counted(2);
                keys.extend(args.get(1));
                keys
            }
            Kind::Coordinated(Coord::ZSetAlgebra, _) => counted(1),
            Kind::Coordinated(Coord::Script, _) => counted(2),
            Kind::Coordinated(Coord::GeoStore, _) if name.starts_with("georadius") => {
                let mut keys: Vec<&'a Bytes> = args.get(1).into_iter().collect();
                keys.extend(geo::store_key(args));
                keys
            }
            Kind::Coordinated(Coord::Sort, _) => {
                let mut keys: Vec<&'a Bytes> = args.get(1).into_iter().collect();
                keys.extend(sort::store_key(args));
                keys
            }
            Kind::Coordinated(Coord::Block, _) if name.ends_with("mpop") => counted(2),
            _ => self
                .spec
                .key_positions(args.len())
                .map(|p| &args[p])
                .collect(),
        }
    }
}

/// Every family's commands: each family file lists its own, beside their handlers.
const FAMILIES: &[&[(&str, Kind)]] = &[
    strings::COMMANDS,
    bitmaps::COMMANDS,
    sort::COMMANDS,
    dump::COMMANDS,
    geo::COMMANDS,
    hyperloglog::COMMANDS,
    keys::COMMANDS,
    hashes::COMMANDS,
    lists::COMMANDS,
    sets::COMMANDS,
    zsets::COMMANDS,
    blocking::COMMANDS,
    connection::COMMANDS,
    pubsub::COMMANDS,
    server::COMMANDS,
];

fn registered() -> impl Iterator<Item = &'static (&'static str, Kind)> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

fn table() -> &'static AHashMap<&'static [u8], Command> {
    static TABLE: OnceLock<AHashMap<&'static [u8], Command>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let specs: AHashMap<&str, &'static RedisSpec> =
            REDIS_SPECS.iter().map(|s| (s.name, s)).collect();
        registered()
            .filter_map(|&(name, kind)| {
                let spec = *specs.get(name)?;
                let flags = Flags::of(spec);
                Some((spec.name.as_bytes(), Command { spec, kind, flags }))
            })
            .collect()
    })
}

/// Every command in the table (for `COMMAND`).
pub fn all() -> impl Iterator<Item = &'static Command> {
    table().values()
}

/// Finds a command by name, in any letter case.
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    table().get(&*lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_has_a_handler_and_every_handler_a_spec() {
        let names: Vec<&str> = registered().map(|(n, _)| *n).collect();
        for spec in REDIS_SPECS {
            assert!(names.contains(&spec.name), "{} has no handler", spec.name);
        }
        for name in &names {
            assert!(
                REDIS_SPECS.iter().any(|s| s.name == *name),
                "{name} is registered but has no Redis spec"
            );
        }
        assert_eq!(
            names.len(),
            REDIS_SPECS.len(),
            "a command is registered twice"
        );
        assert_eq!(table().len(), REDIS_SPECS.len());
    }

    #[test]
    fn flags_come_from_redis() {
        let f = |n: &[u8]| lookup(n).unwrap().flags;
        assert!(f(b"auth").no_auth && f(b"hello").no_auth && f(b"quit").no_auth);
        assert!(!f(b"get").no_auth && !f(b"get").write && f(b"set").write);
        assert!(f(b"ping").in_subscribed && !f(b"get").in_subscribed);
        assert!(f(b"get").in_multi && f(b"get").in_script);
        assert!(!f(b"auth").in_script);
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(lookup(b"GeT").unwrap().spec.name, "get");
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
    }

    #[test]
    fn key_positions() {
        let mset = lookup(b"mset").unwrap().spec;
        assert_eq!(mset.key_positions(5).collect::<Vec<_>>(), vec![1, 3]);
        let del = lookup(b"del").unwrap().spec;
        assert_eq!(del.key_positions(4).collect::<Vec<_>>(), vec![1, 2, 3]);
        let ping = lookup(b"ping").unwrap().spec;
        assert_eq!(ping.key_positions(1).count(), 0);
    }
}
