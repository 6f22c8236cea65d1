//! Commands: what each Redis command means, and where it runs.
//!
//! * [`table`] is the command table: for every command its Redis metadata (arity,
//!   flags, key positions, from [`redis_spec`]) and its [`Kind`], which says where it
//!   runs. The connection looks a command up there, checks arity and routes it.
//! * Storage-side handlers ([`strings`], [`keys`]) are [`ExecFn`]s: they run on the
//!   shard that owns the key, read through a [`Tx`] and put their writes into the
//!   shard's group-commit batch. They never see a socket.
//! * Network-side handlers ([`connection`], [`server`]) answer from connection and
//!   server state on the network thread, and never touch storage.
//!
//! ## Multi-key commands
//! A command whose keys live on several shards is split by shard: every shard gets
//! the same command with only its own keys, in argument order, and the connection
//! merges the partial replies ([`Merge`]). A command that must see several shards at
//! one instant (`RENAME` across shards, `MSETNX`) is [`Kind::Coordinated`]: the
//! connection holds every shard involved (in ascending shard order, so two
//! coordinators cannot deadlock), runs its steps, and releases them. `MULTI`/`EXEC`
//! will use the same hold.

pub mod algebra;
pub mod connection;
pub mod hashes;
pub mod keys;
pub mod lists;
pub mod redis_spec;
pub mod server;
pub mod sets;
pub mod spec;
pub mod strings;
pub mod table;
pub mod zsets;

use std::borrow::Cow;

use bytes::Bytes;

use crate::protocol::Reply;
pub use crate::storage::Tx;
pub use table::{lookup, Command, Kind, Merge};

/// A storage-side command handler: runs on the owning shard, args\[0\] is the name.
pub type ExecFn = fn(&mut Tx<'_>, &[Bytes]) -> Result<Reply, CommandError>;

/// Why a command failed; each variant is exactly the error reply Redis gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The key holds another type.
    WrongType,
    /// An argument or value is not a 64-bit integer.
    NotInteger,
    /// An argument or value is not a float.
    NotFloat,
    /// Options that do not parse.
    Syntax,
    /// INCR-family overflow.
    Overflow,
    /// RENAME of a missing key.
    NoSuchKey,
    /// A bad expire time in the named command.
    InvalidExpire(&'static str),
    /// RocksDB failed.
    Storage(String),
    /// Any other error, full text including the code.
    Other(Cow<'static, str>),
}

impl CommandError {
    /// The error text as sent to the client (after the `-`).
    pub fn text(&self) -> Cow<'static, str> {
        match self {
            CommandError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            CommandError::NotInteger => "ERR value is not an integer or out of range".into(),
            CommandError::NotFloat => "ERR value is not a valid float".into(),
            CommandError::Syntax => "ERR syntax error".into(),
            CommandError::Overflow => "ERR increment or decrement would overflow".into(),
            CommandError::NoSuchKey => "ERR no such key".into(),
            CommandError::InvalidExpire(cmd) => {
                format!("ERR invalid expire time in '{cmd}' command").into()
            }
            CommandError::Storage(e) => format!("ERR storage error: {e}").into(),
            CommandError::Other(text) => text.clone(),
        }
    }

    /// An error with a full text.
    pub fn other(text: impl Into<Cow<'static, str>>) -> Self {
        CommandError::Other(text.into())
    }
}

impl From<crate::storage::StorageError> for CommandError {
    fn from(e: crate::storage::StorageError) -> Self {
        CommandError::Storage(e.0)
    }
}

/// The reply for a wrong number of arguments to `name` (lowercase, as Redis prints it).
pub fn arity_error(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
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
