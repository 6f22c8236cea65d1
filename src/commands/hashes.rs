//! Hash commands. Storage side: each runs on the shard that owns its key.
//!
//! A hash is a meta record plus one member record per field (`Space::Member`,
//! suffix = field, value = field value); see `storage::encoding`.

use bytes::Bytes;

use super::{CommandError, Tx};
use crate::protocol::Reply;

type Result<T> = std::result::Result<T, CommandError>;

/// HSET (not implemented yet).
pub fn hset(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HSET is not implemented yet"))
}

/// HSETNX (not implemented yet).
pub fn hsetnx(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HSETNX is not implemented yet"))
}

/// HGET (not implemented yet).
pub fn hget(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HGET is not implemented yet"))
}

/// HMSET (not implemented yet).
pub fn hmset(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HMSET is not implemented yet"))
}

/// HMGET (not implemented yet).
pub fn hmget(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HMGET is not implemented yet"))
}

/// HGETALL (not implemented yet).
pub fn hgetall(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HGETALL is not implemented yet"))
}

/// HDEL (not implemented yet).
pub fn hdel(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HDEL is not implemented yet"))
}

/// HLEN (not implemented yet).
pub fn hlen(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HLEN is not implemented yet"))
}

/// HSTRLEN (not implemented yet).
pub fn hstrlen(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HSTRLEN is not implemented yet"))
}

/// HEXISTS (not implemented yet).
pub fn hexists(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HEXISTS is not implemented yet"))
}

/// HKEYS (not implemented yet).
pub fn hkeys(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HKEYS is not implemented yet"))
}

/// HVALS (not implemented yet).
pub fn hvals(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HVALS is not implemented yet"))
}

/// HINCRBY (not implemented yet).
pub fn hincrby(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HINCRBY is not implemented yet"))
}

/// HINCRBYFLOAT (not implemented yet).
pub fn hincrbyfloat(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other(
        "ERR HINCRBYFLOAT is not implemented yet",
    ))
}

/// HRANDFIELD (not implemented yet).
pub fn hrandfield(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HRANDFIELD is not implemented yet"))
}

/// HSCAN (not implemented yet).
pub fn hscan(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR HSCAN is not implemented yet"))
}
