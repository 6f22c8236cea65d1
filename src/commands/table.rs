//! The command table: name → Redis metadata and where the command runs.
//!
//! Lookup is one case-folding copy of the name into a stack buffer and one hash-map
//! probe; the map is built once from [`REDIS_SPECS`] and [`kind_of`].
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

use super::redis_spec::REDIS_SPECS;
use super::spec::RedisSpec;
use super::{connection, hashes, keys, lists, server, sets, strings, zsets, ExecFn};
use crate::network::Session;
use crate::protocol::Reply;

/// A network-side handler: connection and server state only.
pub type LocalFn = fn(&mut Session, &[Bytes]) -> Reply;

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
    /// DEBUG: compaction, record counts and fault injection.
    Debug,
    /// SAVE / BGSAVE: a RocksDB checkpoint.
    Save,
}

/// Where a command runs.
#[derive(Clone, Copy)]
pub enum Kind {
    /// On the network thread.
    Local(LocalFn),
    /// On the shard of args\[1\].
    Single(ExecFn),
    /// Split by the shards of its keys, then merged.
    Multi(ExecFn, Merge),
    /// On every shard, then merged.
    All(ExecFn, Merge),
    /// On the shard that owns the cursor (SCAN).
    Scan(ExecFn),
    /// By the connection, holding the shards it needs.
    Coordinated(Coord),
}

/// One entry of the command table.
pub struct Command {
    /// Redis's metadata (arity, flags, key positions, docs).
    pub spec: &'static RedisSpec,
    /// Where it runs.
    pub kind: Kind,
}

/// Where each implemented command runs, by its lowercase name.
fn kind_of(name: &str) -> Option<Kind> {
    use Kind::*;
    Some(match name {
        // strings
        "get" => Single(strings::get),
        "set" => Single(strings::set),
        "setnx" => Single(strings::setnx),
        "setex" => Single(strings::setex),
        "psetex" => Single(strings::psetex),
        "getset" => Single(strings::getset),
        "getdel" => Single(strings::getdel),
        "getex" => Single(strings::getex),
        "incr" => Single(strings::incr),
        "decr" => Single(strings::decr),
        "incrby" => Single(strings::incrby),
        "decrby" => Single(strings::decrby),
        "incrbyfloat" => Single(strings::incrbyfloat),
        "append" => Single(strings::append),
        "strlen" => Single(strings::strlen),
        "getrange" | "substr" => Single(strings::getrange),
        "setrange" => Single(strings::setrange),
        "mget" => Multi(strings::mget, Merge::Gather),
        "mset" => Multi(strings::mset, Merge::AllOk),
        "msetnx" => Coordinated(Coord::MsetNx),
        // keys
        "del" | "unlink" => Multi(keys::del, Merge::Sum),
        "exists" | "touch" => Multi(keys::exists, Merge::Sum),
        "type" => Single(keys::type_),
        "expire" => Single(keys::expire),
        "pexpire" => Single(keys::pexpire),
        "expireat" => Single(keys::expireat),
        "pexpireat" => Single(keys::pexpireat),
        "ttl" => Single(keys::ttl),
        "pttl" => Single(keys::pttl),
        "expiretime" => Single(keys::expiretime),
        "pexpiretime" => Single(keys::pexpiretime),
        "persist" => Single(keys::persist),
        "keys" => All(keys::keys, Merge::Concat),
        "scan" => Scan(keys::scan),
        "randomkey" => All(keys::randomkey, Merge::Pick),
        "rename" | "renamenx" => Coordinated(Coord::Rename),
        "dbsize" => All(keys::dbsize, Merge::Sum),
        "flushdb" => All(keys::flushdb, Merge::AllOk),
        "flushall" => All(keys::flushall, Merge::AllOk),
        // connection and server
        "select" => Local(connection::select),
        "ping" => Local(connection::ping),
        "echo" => Local(connection::echo),
        "quit" => Local(connection::quit),
        "hello" => Local(connection::hello),
        "auth" => Local(connection::auth),
        "client" => Local(connection::client),
        "command" => Local(server::command),
        "config" => Local(server::config),
        "time" => Local(server::time),
        "lastsave" => Local(server::lastsave),
        "latency" => Local(server::latency),
        "slowlog" => Local(server::slowlog),
        "info" => Coordinated(Coord::Info),
        "shutdown" => Coordinated(Coord::Shutdown),
        "debug" => Coordinated(Coord::Debug),
        "save" | "bgsave" => Coordinated(Coord::Save),
        // hashes
        "hset" => Single(hashes::hset),
        "hsetnx" => Single(hashes::hsetnx),
        "hget" => Single(hashes::hget),
        "hmset" => Single(hashes::hmset),
        "hmget" => Single(hashes::hmget),
        "hgetall" => Single(hashes::hgetall),
        "hdel" => Single(hashes::hdel),
        "hlen" => Single(hashes::hlen),
        "hstrlen" => Single(hashes::hstrlen),
        "hexists" => Single(hashes::hexists),
        "hkeys" => Single(hashes::hkeys),
        "hvals" => Single(hashes::hvals),
        "hincrby" => Single(hashes::hincrby),
        "hincrbyfloat" => Single(hashes::hincrbyfloat),
        "hrandfield" => Single(hashes::hrandfield),
        "hscan" => Single(hashes::hscan),
        // lists
        "lpush" => Single(lists::lpush),
        "rpush" => Single(lists::rpush),
        "lpushx" => Single(lists::lpushx),
        "rpushx" => Single(lists::rpushx),
        "lpop" => Single(lists::lpop),
        "rpop" => Single(lists::rpop),
        "llen" => Single(lists::llen),
        "lrange" => Single(lists::lrange),
        "lindex" => Single(lists::lindex),
        "lset" => Single(lists::lset),
        "linsert" => Single(lists::linsert),
        "lrem" => Single(lists::lrem),
        "ltrim" => Single(lists::ltrim),
        "lpos" => Single(lists::lpos),
        "lmove" | "rpoplpush" => Coordinated(Coord::Move),
        "lmpop" | "zmpop" => Coordinated(Coord::MultiPop),
        // sets
        "sadd" => Single(sets::sadd),
        "srem" => Single(sets::srem),
        "smembers" => Single(sets::smembers),
        "sismember" => Single(sets::sismember),
        "smismember" => Single(sets::smismember),
        "scard" => Single(sets::scard),
        "spop" => Single(sets::spop),
        "srandmember" => Single(sets::srandmember),
        "sscan" => Single(sets::sscan),
        "smove" => Coordinated(Coord::SMove),
        "sinter" | "sunion" | "sdiff" | "sintercard" | "sinterstore" | "sunionstore"
        | "sdiffstore" => Coordinated(Coord::SetAlgebra),
        // sorted sets
        "zadd" => Single(zsets::zadd),
        "zincrby" => Single(zsets::zincrby),
        "zrem" => Single(zsets::zrem),
        "zcard" => Single(zsets::zcard),
        "zscore" => Single(zsets::zscore),
        "zmscore" => Single(zsets::zmscore),
        "zrank" => Single(zsets::zrank),
        "zrevrank" => Single(zsets::zrevrank),
        "zrange" => Single(zsets::zrange),
        "zrangebyscore" => Single(zsets::zrangebyscore),
        "zrevrangebyscore" => Single(zsets::zrevrangebyscore),
        "zrangebylex" => Single(zsets::zrangebylex),
        "zrevrangebylex" => Single(zsets::zrevrangebylex),
        "zrevrange" => Single(zsets::zrevrange),
        "zcount" => Single(zsets::zcount),
        "zlexcount" => Single(zsets::zlexcount),
        "zpopmin" => Single(zsets::zpopmin),
        "zpopmax" => Single(zsets::zpopmax),
        "zrandmember" => Single(zsets::zrandmember),
        "zremrangebyscore" => Single(zsets::zremrangebyscore),
        "zremrangebyrank" => Single(zsets::zremrangebyrank),
        "zremrangebylex" => Single(zsets::zremrangebylex),
        "zscan" => Single(zsets::zscan),
        "zrangestore" => Coordinated(Coord::ZRangeStore),
        "zunion" | "zinter" | "zdiff" | "zintercard" | "zunionstore" | "zinterstore"
        | "zdiffstore" => Coordinated(Coord::ZSetAlgebra),
        _ => return None,
    })
}

fn table() -> &'static AHashMap<&'static [u8], Command> {
    static TABLE: OnceLock<AHashMap<&'static [u8], Command>> = OnceLock::new();
    TABLE.get_or_init(|| {
        REDIS_SPECS
            .iter()
            .filter_map(|spec| {
                let kind = kind_of(spec.name)?;
                Some((spec.name.as_bytes(), Command { spec, kind }))
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
    fn every_spec_has_a_handler() {
        for spec in REDIS_SPECS {
            assert!(kind_of(spec.name).is_some(), "{} has no handler", spec.name);
        }
        assert_eq!(table().len(), REDIS_SPECS.len());
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
