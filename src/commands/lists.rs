//! List commands. Storage side: each runs on the shard that owns its key.
//!
//! A list is a meta record (with head and tail positions) plus one member record per
//! element (`Space::Member`, suffix = position as u64 BE, value = element).

use bytes::Bytes;

use super::{CommandError, Tx};
use crate::protocol::Reply;

type Result<T> = std::result::Result<T, CommandError>;

/// LPUSH (not implemented yet).
pub fn lpush(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR LPUSH is not implemented yet"))
}

/// RPUSH (not implemented yet).
pub fn rpush(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR RPUSH is not implemented yet"))
}

/// LPUSHX (not implemented yet).
pub fn lpushx(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR LPUSHX is not implemented yet"))
}

/// RPUSHX (not implemented yet).
pub fn rpushx(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR RPUSHX is not implemented yet"))
}

/// LPOP (not implemented yet).
pub fn lpop(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR LPOP is not implemented yet"))
}

/// RPOP (not implemented yet).
pub fn rpop(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR RPOP is not implemented yet"))
}

/// LLEN (not implemented yet).
pub fn llen(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR LLEN is not implemented yet"))
}

/// LRANGE (not implemented yet).
pub fn lrange(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR LRANGE is not implemented yet"))
}

/// LINDEX (not implemented yet).
pub fn lindex(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR LINDEX is not implemented yet"))
}

/// LSET (not implemented yet).
pub fn lset(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR LSET is not implemented yet"))
}

/// LINSERT (not implemented yet).
pub fn linsert(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR LINSERT is not implemented yet"))
}

/// LREM (not implemented yet).
pub fn lrem(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR LREM is not implemented yet"))
}

/// LTRIM (not implemented yet).
pub fn ltrim(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR LTRIM is not implemented yet"))
}

/// LPOS (not implemented yet).
pub fn lpos(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR LPOS is not implemented yet"))
}

/// LMOVE (not implemented yet).
pub fn lmove(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other("ERR LMOVE is not implemented yet"))
}
