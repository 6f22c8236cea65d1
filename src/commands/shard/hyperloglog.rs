//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST. Storage side;
//! PFCOUNT and PFMERGE over keys of several shards gather the registers through the
//! coordinator ([`read_hll`], [`merge_into`]).
//!
//! An HLL is a string in Redis's own representation ([`crate::hll`]): the `HYLL`
//! header with the cached count, then sparse or dense registers. So GET, DUMP and
//! SETRANGE see Redis's bytes, and a value written by Redis counts the same here. A
//! PFCOUNT that computes the count stores it in the header, as Redis does; the write
//! keeps the key's time to live and records no event.

use bytes::Bytes;

use crate::commands::table::{Coord, Kind};
use crate::commands::{is, CommandError, Tx};
use crate::config::notify;
use crate::error::text;
use crate::hll::{self, HllError, Registers};
use crate::protocol::Reply;
use crate::storage::encoding::{Value, ValueType};

type Result<T> = std::result::Result<T, CommandError>;

fn hll_error(e: HllError) -> CommandError {
    CommandError::other(match e {
        HllError::NotHll => text::HLL_NOT_HLL,
        HllError::Corrupt => text::HLL_CORRUPT,
    })
}

fn sparse_max(tx: &Tx<'_>) -> usize {
    tx.live()
        .param_u64("hll-sparse-max-bytes")
        .map_or(hll::DEFAULT_SPARSE_MAX_BYTES, |v| v as usize)
}

/// The HLL at `key` (`None`: no such key): WRONGTYPE for another type, Redis's
/// "not a valid HyperLogLog" for a string that is not one.
pub fn read_hll(tx: &mut Tx<'_>, key: &[u8]) -> Result<Option<Value>> {
    let Some(v) = tx.get_string(key)? else {
        return Ok(None);
    };
    hll::validate(&v.payload).map_err(hll_error)?;
    Ok(Some(v))
}

fn write(tx: &mut Tx<'_>, key: &[u8], bytes: &[u8], expire_at: u64) {
    tx.put(key, ValueType::String, expire_at, bytes);
}

/// PFADD key [element ...]
pub fn pfadd(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    let (mut bytes, expire_at, mut updated) = match read_hll(tx, key)? {
        Some(v) => (v.payload.to_vec(), v.expire_at, false),
        None => (hll::new_sparse(), 0, true),
    };
    let result = hll::add_all(&mut bytes, args[2..].iter().map(|e| &e[..]), sparse_max(tx));
    match result {
        Ok(changed) => updated |= changed,
        Err(e) => {
            // Redis keeps what the elements before the bad one changed.
            write(tx, key, &bytes, expire_at);
            return Err(hll_error(e));
        }
    }
    if updated {
        hll::invalidate_cache(&mut bytes);
        write(tx, key, &bytes, expire_at);
        tx.notify(notify::STRING, "pfadd", key);
    }
    Ok(Reply::Int(updated as i64))
}

/// Merges the HLL at `key` (if any) into `regs`; `regs` keeps what it had on error.
pub fn merge_into(tx: &mut Tx<'_>, key: &[u8], regs: &mut Registers) -> Result<()> {
    if let Some(v) = read_hll(tx, key)? {
        regs.merge(&v.payload).map_err(hll_error)?;
    }
    Ok(())
}

/// The cardinality of one HLL, caching it in the header (written back, TTL kept).
fn count_one(tx: &mut Tx<'_>, key: &[u8]) -> Result<i64> {
    let Some(v) = read_hll(tx, key)? else {
        return Ok(0);
    };
    let mut bytes = v.payload.to_vec();
    let (n, changed) = hll::count(&mut bytes).map_err(hll_error)?;
    if changed {
        write(tx, key, &bytes, v.expire_at);
    }
    Ok(n)
}

/// PFCOUNT key [key ...], every key on this shard.
pub fn pfcount_here(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    if args.len() == 2 {
        return Ok(Reply::Int(count_one(tx, &args[1])?));
    }
    let mut regs = Registers::new();
    for key in &args[1..] {
        merge_into(tx, key, &mut regs)?;
    }
    Ok(Reply::Int(regs.count()))
}

/// Writes PFMERGE's result into `dest` (whose current value was merged as a source).
pub fn merge_store(tx: &mut Tx<'_>, dest: &[u8], regs: &Registers) -> Result<Reply> {
    let current = read_hll(tx, dest)?;
    let expire_at = current.as_ref().map_or(0, |v| v.expire_at);
    let out = regs
        .write_to(current.as_ref().map(|v| &v.payload[..]), sparse_max(tx))
        .map_err(hll_error)?;
    write(tx, dest, &out, expire_at);
    tx.notify(notify::STRING, "pfadd", dest);
    Ok(Reply::Ok)
}

/// PFMERGE destkey [sourcekey ...], every key on this shard.
pub fn pfmerge_here(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let mut regs = Registers::new();
    for key in &args[1..] {
        merge_into(tx, key, &mut regs)?;
    }
    merge_store(tx, &args[1], &regs)
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
pub fn pfdebug(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let sub = String::from_utf8_lossy(&args[1]).into_owned();
    let key = &args[2];
    let Some(v) = read_hll(tx, key)? else {
        return Err(CommandError::other(text::PFDEBUG_NO_KEY));
    };
    let mut bytes = v.payload.to_vec();
    if is(&args[1], "getreg") || is(&args[1], "todense") {
        let converted = hll::to_dense(&mut bytes).map_err(hll_error)?;
        if converted {
            write(tx, key, &bytes, v.expire_at);
        }
        if is(&args[1], "todense") {
            return Ok(Reply::Int(converted as i64));
        }
        let regs = hll::registers(&bytes).map_err(hll_error)?;
        return Ok(Reply::Array(
            regs.into_iter().map(|r| Reply::Int(r as i64)).collect(),
        ));
    }
    if is(&args[1], "decode") {
        return match hll::decode_sparse(&bytes).map_err(hll_error)? {
            Some(text) => Ok(Reply::Bulk(Bytes::from(text))),
            None => Err(CommandError::other(text::PFDEBUG_NOT_SPARSE)),
        };
    }
    if is(&args[1], "encoding") {
        let name = hll::encoding_name(&bytes).map_err(hll_error)?;
        return Ok(Reply::Status(name.into()));
    }
    Err(CommandError::pfdebug_subcommand(&sub))
}

/// PFSELFTEST: checks the HLL code on this server: counts of known sets within the
/// error bound, sparse and dense agreeing register by register.
pub fn pfselftest(_tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    let mut sparse = hll::new_sparse();
    let mut dense = hll::new_sparse();
    hll::to_dense(&mut dense).map_err(hll_error)?;
    for i in 0..20_000u32 {
        let e = i.to_le_bytes();
        hll::add(&mut sparse, &e, usize::MAX).map_err(hll_error)?;
        hll::add(&mut dense, &e, usize::MAX).map_err(hll_error)?;
    }
    let same =
        hll::registers(&sparse).map_err(hll_error)? == hll::registers(&dense).map_err(hll_error)?;
    let (n, _) = hll::count(&mut dense).map_err(hll_error)?;
    let error = (n - 20_000).abs() as f64 / 20_000.0;
    if !same || error > 0.05 {
        return Err(CommandError::hll_selftest(same, n, 20_000));
    }
    Ok(Reply::Ok)
}

/// The HyperLogLog commands and where each runs, for the command table.
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("pfadd", Kind::Single(pfadd)),
    ("pfcount", Kind::Coordinated(Coord::Hll, Some(pfcount_here))),
    ("pfmerge", Kind::Coordinated(Coord::Hll, Some(pfmerge_here))),
    ("pfdebug", Kind::Single(pfdebug)),
    ("pfselftest", Kind::Single(pfselftest)),
];
