//! Commands: what each Redis command means, and where it runs.
//!
//! * [`table`] is the command table: for every command its Redis metadata (arity,
//!   flags, key positions, from [`crate::spec`]), its [`Kind`], which says where it
//!   runs, and its [`table::Flags`]. Each family file registers its own commands
//!   (`COMMANDS`). The connection looks a command up there, checks arity and flags
//!   and routes it; it never compares a command's name.
//! * [`shard`]: storage-side handlers ([`strings`], [`keys`], ...) are [`ExecFn`]s:
//!   they run on the shard that owns the key (a storage thread), read through a
//!   [`Tx`] and put their writes into the shard's group-commit batch. They never see
//!   a socket.
//! * [`local`]: network-side handlers ([`connection`], [`server`]) answer from
//!   connection and server state on the network thread, and never touch storage.
//!
//! ## Multi-key commands
//! A command whose keys live on several shards is split by shard: every shard gets
//! the same command with only its own keys, in argument order, and the connection
//! merges the partial replies ([`Merge`]). A command that must see several shards at
//! one instant (`RENAME` across shards, `MSETNX`) is [`Kind::Coordinated`]: the
//! connection holds every shard involved ([`crate::storage::Held`], in ascending
//! shard order, so two coordinators cannot deadlock), runs typed steps on them, and
//! commits all their writes as one RocksDB batch. Handlers that such steps call take
//! typed arguments (`lists::pop_elements`, `zsets::select_range`, ...), not argument
//! vectors. A split command across shards is *linked*: it runs under one hold of all
//! its shards, shared with the other linked commands of its round
//! (`storage::linked`). `MULTI`/`EXEC` (`network::transaction`) and scripts
//! (`network::scripting`) run the same handlers on the same holds; blocking commands
//! (`shard::blocking`) run them on one shard's queue, or holding their shards inside
//! MULTI.

pub mod local;
pub mod shard;
pub mod table;

pub use local::{connection, pubsub, server};
pub use shard::{
    algebra, bitmaps, blocking, dump, geo, hashes, hyperloglog, keys, lists, sets, sort, strings,
    zsets,
};

pub use crate::error::CommandError;
use crate::protocol::Reply;
pub use crate::storage::{ExecFn, Tx};
pub use table::{lookup, Command, Kind, Merge};

/// The reply for a wrong number of arguments to `name` (lowercase, as Redis prints it).
pub fn arity_error(name: &str) -> Reply {
    CommandError::arity(name).into()
}

/// Parses an integer argument, Redis-style.
pub fn arg_i64(arg: &[u8]) -> Result<i64, CommandError> {
    crate::protocol::parser::parse_i64(arg).ok_or(CommandError::NotInteger)
}

/// Parses a float argument the way Redis's `strtold`-based parsers accept it.
pub fn arg_f64(arg: &[u8]) -> Result<f64, CommandError> {
    parse_float(arg).ok_or(CommandError::NotFloat)
}

/// Parses a float: decimal or exponent forms, `inf`/`-inf`; no spaces, no NaN.
pub fn parse_float(arg: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse().ok()?,
    };
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}
