//! Sorted set commands. Storage side: each runs on the shard that owns its key.
//!
//! A sorted set is a meta record, one member record per member (`Space::Member`,
//! suffix = member, value = score as `score_bytes`) and one score record per member
//! (`Space::Score`, suffix = `score_bytes(score)` + member, value empty).

use bytes::Bytes;

use super::{CommandError, Tx};
use crate::protocol::Reply;

type Result<T> = std::result::Result<T, CommandError>;

/// ZADD (not implemented yet).
pub fn zadd(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZADD is not implemented yet"))
}

/// ZINCRBY (not implemented yet).
pub fn zincrby(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZINCRBY is not implemented yet"))
}

/// ZREM (not implemented yet).
pub fn zrem(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZREM is not implemented yet"))
}

/// ZCARD (not implemented yet).
pub fn zcard(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZCARD is not implemented yet"))
}

/// ZSCORE (not implemented yet).
pub fn zscore(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZSCORE is not implemented yet"))
}

/// ZMSCORE (not implemented yet).
pub fn zmscore(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZMSCORE is not implemented yet"))
}

/// ZRANK (not implemented yet).
pub fn zrank(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZRANK is not implemented yet"))
}

/// ZREVRANK (not implemented yet).
pub fn zrevrank(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZREVRANK is not implemented yet"))
}

/// ZRANGE (not implemented yet).
pub fn zrange(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZRANGE is not implemented yet"))
}

/// ZRANGEBYSCORE (not implemented yet).
pub fn zrangebyscore(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other(
        "ERR ZRANGEBYSCORE is not implemented yet",
    ))
}

/// ZREVRANGEBYSCORE (not implemented yet).
pub fn zrevrangebyscore(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other(
        "ERR ZREVRANGEBYSCORE is not implemented yet",
    ))
}

/// ZRANGEBYLEX (not implemented yet).
pub fn zrangebylex(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other(
        "ERR ZRANGEBYLEX is not implemented yet",
    ))
}

/// ZREVRANGEBYLEX (not implemented yet).
pub fn zrevrangebylex(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other(
        "ERR ZREVRANGEBYLEX is not implemented yet",
    ))
}

/// ZREVRANGE (not implemented yet).
pub fn zrevrange(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZREVRANGE is not implemented yet"))
}

/// ZCOUNT (not implemented yet).
pub fn zcount(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZCOUNT is not implemented yet"))
}

/// ZLEXCOUNT (not implemented yet).
pub fn zlexcount(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZLEXCOUNT is not implemented yet"))
}

/// ZPOPMIN (not implemented yet).
pub fn zpopmin(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZPOPMIN is not implemented yet"))
}

/// ZPOPMAX (not implemented yet).
pub fn zpopmax(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZPOPMAX is not implemented yet"))
}

/// ZRANDMEMBER (not implemented yet).
pub fn zrandmember(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other(
        "ERR ZRANDMEMBER is not implemented yet",
    ))
}

/// ZREMRANGEBYSCORE (not implemented yet).
pub fn zremrangebyscore(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other(
        "ERR ZREMRANGEBYSCORE is not implemented yet",
    ))
}

/// ZREMRANGEBYRANK (not implemented yet).
pub fn zremrangebyrank(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other(
        "ERR ZREMRANGEBYRANK is not implemented yet",
    ))
}

/// ZREMRANGEBYLEX (not implemented yet).
pub fn zremrangebylex(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other(
        "ERR ZREMRANGEBYLEX is not implemented yet",
    ))
}

/// ZSCAN (not implemented yet).
pub fn zscan(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR ZSCAN is not implemented yet"))
}

/// STORE (not implemented yet).
pub fn store(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR STORE is not implemented yet"))
}
