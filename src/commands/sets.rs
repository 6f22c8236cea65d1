//! Set commands. Storage side: each runs on the shard that owns its key.
//!
//! A set is a meta record plus one member record per member (`Space::Member`,
//! suffix = member, value empty).

use bytes::Bytes;

use super::{CommandError, Tx};
use crate::protocol::Reply;

type Result<T> = std::result::Result<T, CommandError>;

/// SADD (not implemented yet).
pub fn sadd(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR SADD is not implemented yet"))
}

/// SREM (not implemented yet).
pub fn srem(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR SREM is not implemented yet"))
}

/// SMEMBERS (not implemented yet).
pub fn smembers(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR SMEMBERS is not implemented yet"))
}

/// SISMEMBER (not implemented yet).
pub fn sismember(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR SISMEMBER is not implemented yet"))
}

/// SMISMEMBER (not implemented yet).
pub fn smismember(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR SMISMEMBER is not implemented yet"))
}

/// SCARD (not implemented yet).
pub fn scard(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR SCARD is not implemented yet"))
}

/// SPOP (not implemented yet).
pub fn spop(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR SPOP is not implemented yet"))
}

/// SRANDMEMBER (not implemented yet).
pub fn srandmember(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other(
        "ERR SRANDMEMBER is not implemented yet",
    ))
}

/// SSCAN (not implemented yet).
pub fn sscan(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR SSCAN is not implemented yet"))
}

/// SMOVE (not implemented yet).
pub fn smove(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR SMOVE is not implemented yet"))
}

/// STORE (not implemented yet).
pub fn store(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR STORE is not implemented yet"))
}
