//! Bitmaps and bit fields on strings (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD, BITFIELD_RO) and LCS. Storage side: each runs on the shard of its key;
//! BITOP and LCS across shards read their sources through the coordinator and use the
//! pure parts here ([`bitop`], [`lcs`]).
//!
//! A bit command reads and writes only the bytes it touches ([`Tx::string_range`],
//! [`Tx::string_write`]): on a chunked string (`storage::chunks`) SETBIT rewrites one
//! 4 KB chunk whatever the string's length. Bits are numbered from the most
//! significant bit of byte 0, as in Redis.

use bytes::Bytes;

use crate::commands::table::{Coord, Kind};
use crate::commands::{arg_i64, is, CommandError, Tx};
use crate::config::notify;
use crate::error::text;
use crate::protocol::parser::parse_i64;
use crate::protocol::Reply;
use crate::storage::chunks::StrRef;
use crate::storage::encoding::ValueType;

type Result<T> = std::result::Result<T, CommandError>;

/// A bit offset argument (`#N` counts in units of `bits` when `bits > 0`), checked
/// against proto-max-bulk-len as Redis's `getBitOffsetFromArgument`.
fn bit_offset(tx: &Tx<'_>, arg: &[u8], bits: u64) -> Result<u64> {
    let err = || CommandError::other(text::BIT_OFFSET);
    let (hash, digits) = match arg.first() {
        Some(b'#') if bits > 0 => (true, &arg[1..]),
        _ => (false, arg),
    };
    let mut offset = parse_i64(digits).ok_or_else(err)?;
    if hash {
        offset = offset.wrapping_mul(bits as i64);
    }
    if offset < 0 || (offset as u64 >> 3) >= tx.live().proto_max_bulk_len() {
        return Err(err());
    }
    Ok(offset as u64)
}

/// The byte at `index` of string `s` (0 past its end).
fn byte_at(tx: &mut Tx<'_>, key: &[u8], s: Option<&StrRef>, index: u64) -> Result<u8> {
    Ok(match s {
        Some(s) if index < s.len() => tx.string_range(key, s, index, index + 1)?[0],
        _ => 0,
    })
}

/// SETBIT key offset value
pub fn setbit(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let offset = bit_offset(tx, &args[2], 0)?;
    let on = match parse_i64(&args[3]) {
        Some(v @ (0 | 1)) => v as u8,
        _ => return Err(CommandError::other(text::BIT_VALUE)),
    };
    let key = &args[1];
    let s = tx.string_ref(key)?;
    let index = offset >> 3;
    let byte = byte_at(tx, key, s.as_ref(), index)?;
    let shift = 7 - (offset & 7) as u8;
    let old = (byte >> shift) & 1;
    let grows = s.as_ref().is_none_or(|s| index >= s.len());
    if grows || old != on {
        let new = (byte & !(1 << shift)) | (on << shift);
        tx.string_write(key, s, index, &[new])?;
        tx.notify(notify::STRING, "setbit", key);
    }
    Ok(Reply::Int(old as i64))
}

/// GETBIT key offset
pub fn getbit(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let offset = bit_offset(tx, &args[2], 0)?;
    let s = tx.string_ref(&args[1])?;
    let byte = byte_at(tx, &args[1], s.as_ref(), offset >> 3)?;
    Ok(Reply::Int(((byte >> (7 - (offset & 7))) & 1) as i64))
}

/// A BYTE|BIT unit argument.
fn unit_is_bit(arg: &[u8]) -> Result<bool> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(CommandError::Syntax)
    }
}

/// Clamps `start..=end` (negative: from the end) to `0..total`, as Redis does for
/// BITCOUNT and BITPOS. `None` when the range is empty.
fn clamp(mut start: i64, mut end: i64, total: i64) -> Option<(u64, u64)> {
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    (start <= end).then_some((start as u64, end as u64))
}

/// BITCOUNT key [start end [BYTE|BIT]]
pub fn bitcount(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    let Some(s) = tx.string_ref(key)? else {
        return Ok(Reply::Int(0));
    };
    let len = s.len() as i64;
    let (first_bit, last_bit) = match args.len() {
        2 => (0, (len * 8).max(1) as u64 - 1),
        4 | 5 => {
            let (start, end) = (arg_i64(&args[2])?, arg_i64(&args[3])?);
            let bit = args.len() == 5 && unit_is_bit(&args[4])?;
            if start < 0 && end < 0 && start > end {
                return Ok(Reply::Int(0));
            }
            let total = if bit { len * 8 } else { len };
            let Some((a, b)) = clamp(start, end, total) else {
                return Ok(Reply::Int(0));
            };
            if bit {
                (a, b)
            } else {
                (a * 8, b * 8 + 7)
            }
        }
        _ => return Err(CommandError::Syntax),
    };
    if len == 0 {
        return Ok(Reply::Int(0));
    }
    let bytes = tx.string_range(key, &s, first_bit >> 3, (last_bit >> 3) + 1)?;
    Ok(Reply::Int(
        count_bits(&bytes, first_bit & 7, last_bit & 7) as i64
    ))
}

/// The set bits of `bytes`, leaving out the first `skip_head` bits of the first byte
/// and the bits after bit `last` (0-7) of the last.
fn count_bits(bytes: &[u8], skip_head: u64, last: u64) -> u64 {
    let Some((&tail, _)) = bytes.split_last() else {
        return 0;
    };
    let total: u64 = bytes.iter().map(|b| b.count_ones() as u64).sum();
    let head_mask = !(0xffu8 >> skip_head);
    let tail_mask = 0xffu8.checked_shr(last as u32 + 1).unwrap_or(0);
    total - (bytes[0] & head_mask).count_ones() as u64 - (tail & tail_mask).count_ones() as u64
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
pub fn bitpos(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let bit = match arg_i64(&args[2])? {
        b @ (0 | 1) => b as u8,
        _ => return Err(CommandError::other(text::BITPOS_BIT)),
    };
    let key = &args[1];
    let Some(s) = tx.string_ref(key)? else {
        return Ok(Reply::Int(if bit == 1 { -1 } else { 0 }));
    };
    let len = s.len() as i64;
    let (start, end, in_bits, end_given) = match args.len() {
        3 => (0, len - 1, false, false),
        4..=6 => {
            let start = arg_i64(&args[3])?;
            let in_bits = args.len() == 6 && unit_is_bit(&args[5])?;
            let end = match args.get(4) {
                Some(e) => arg_i64(e)?,
                None => len - 1,
            };
            (start, end, in_bits, args.len() >= 5)
        }
        _ => return Err(CommandError::Syntax),
    };
    let total = if in_bits { len * 8 } else { len };
    let Some((a, b)) = clamp(start, end, total) else {
        return Ok(Reply::Int(-1));
    };
    let (first, last) = if in_bits { (a, b) } else { (a * 8, b * 8 + 7) };
    let bytes = tx.string_range(key, &s, first >> 3, (last >> 3) + 1)?;
    let base = (first >> 3) * 8;
    let found = bytes.iter().enumerate().find_map(|(i, &b)| {
        // Bits of this byte outside [first, last] never match.
        let lo = (base + i as u64 * 8).max(first) - (base + i as u64 * 8);
        let hi = (last - (base + i as u64 * 8)).min(7);
        let want = if bit == 1 { b } else { !b };
        let mask = (0xffu8 >> lo) & !(0x7fu8 >> hi);
        let hits = want & mask;
        (hits != 0).then(|| base + i as u64 * 8 + hits.leading_zeros() as u64)
    });
    Ok(Reply::Int(match found {
        Some(pos) => pos as i64,
        None if bit == 0 && !end_given => last as i64 + 1,
        None => -1,
    }))
}

/// A BITOP operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    /// AND
    And,
    /// OR
    Or,
    /// XOR
    Xor,
    /// NOT
    Not,
}

/// Parses BITOP's operation and checks NOT's single key.
pub fn bitop_parse(args: &[Bytes]) -> Result<BitOp> {
    let op = [
        ("and", BitOp::And),
        ("or", BitOp::Or),
        ("xor", BitOp::Xor),
        ("not", BitOp::Not),
    ]
    .into_iter()
    .find(|(name, _)| is(&args[1], name))
    .map(|(_, op)| op)
    .ok_or(CommandError::Syntax)?;
    if op == BitOp::Not && args.len() != 4 {
        return Err(CommandError::other(text::BITOP_NOT_ONE_KEY));
    }
    Ok(op)
}

/// The result of BITOP `op` over `sources` (a missing key is an empty string):
/// as long as the longest source, shorter ones padded with zeros.
pub fn bitop(op: BitOp, sources: &[Bytes]) -> Vec<u8> {
    let len = sources.iter().map(Bytes::len).max().unwrap_or(0);
    let mut out = vec![0u8; len];
    let Some((first, rest)) = sources.split_first() else {
        return out;
    };
    out[..first.len()].copy_from_slice(first);
    match op {
        BitOp::Not => out.iter_mut().for_each(|b| *b = !*b),
        BitOp::And => {
            for s in rest {
                out[s.len()..].fill(0);
                out.iter_mut().zip(s.iter()).for_each(|(o, b)| *o &= b);
            }
        }
        BitOp::Or => rest.iter().for_each(|s| {
            out.iter_mut().zip(s.iter()).for_each(|(o, b)| *o |= b);
        }),
        BitOp::Xor => rest.iter().for_each(|s| {
            out.iter_mut().zip(s.iter()).for_each(|(o, b)| *o ^= b);
        }),
    }
    out
}

/// Stores BITOP's result at `dest` (an empty result deletes it) and returns its length.
pub fn bitop_store(tx: &mut Tx<'_>, dest: &[u8], result: &[u8]) -> Result<i64> {
    if result.is_empty() {
        if tx.delete(dest)? {
            tx.notify(notify::GENERIC, "del", dest);
        }
    } else {
        tx.put(dest, ValueType::String, 0, result);
        tx.notify(notify::STRING, "set", dest);
    }
    Ok(result.len() as i64)
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...], when every key is on this shard.
pub fn bitop_here(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let op = bitop_parse(args)?;
    let mut sources = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        sources.push(tx.get_string(key)?.map(|v| v.payload).unwrap_or_default());
    }
    let result = bitop(op, &sources);
    Ok(Reply::Int(bitop_store(tx, &args[2], &result)?))
}

/// How BITFIELD handles overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

#[derive(Clone, Copy, Debug)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// A field type: `i1`..`i64` or `u1`..`u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32)> {
    let err = || CommandError::other(text::BITFIELD_TYPE);
    let signed = match arg.first() {
        Some(b'i' | b'I') => true,
        Some(b'u' | b'U') => false,
        _ => return Err(err()),
    };
    let bits = parse_i64(&arg[1..]).ok_or_else(err)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

fn parse_fields(tx: &Tx<'_>, args: &[Bytes]) -> Result<Vec<Field>> {
    let mut out = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let more = args.len() - j - 1;
        let sub = &args[j];
        let write = if is(sub, "get") && more >= 2 {
            false
        } else if (is(sub, "set") || is(sub, "incrby")) && more >= 3 {
            true
        } else if is(sub, "overflow") && more >= 1 {
            let kind = &args[j + 1];
            overflow = if is(kind, "wrap") {
                Overflow::Wrap
            } else if is(kind, "sat") {
                Overflow::Sat
            } else if is(kind, "fail") {
                Overflow::Fail
            } else {
                return Err(CommandError::other(text::BITFIELD_OVERFLOW));
            };
            j += 2;
            continue;
        } else {
            return Err(CommandError::Syntax);
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(tx, &args[j + 2], bits as u64)?;
        let op = if !write {
            FieldOp::Get
        } else {
            let v = arg_i64(&args[j + 3])?;
            if is(sub, "set") {
                FieldOp::Set(v)
            } else {
                FieldOp::IncrBy(v)
            }
        };
        out.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if write { 4 } else { 3 };
    }
    Ok(out)
}

/// Reads `bits` bits at bit `offset` of `buf` (whose bit 0 is bit `base` of the
/// string), most significant first.
fn get_field(buf: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..bits as u64 {
        let at = offset + i;
        let bit = (buf[(at >> 3) as usize] >> (7 - (at & 7))) & 1;
        v = (v << 1) | bit as u64;
    }
    v
}

fn set_field(buf: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..bits as u64 {
        let at = offset + i;
        let bit = ((value >> (bits as u64 - 1 - i)) & 1) as u8;
        let byte = &mut buf[(at >> 3) as usize];
        let shift = 7 - (at & 7);
        *byte = (*byte & !(1 << shift)) | (bit << shift);
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits == 64 {
        v as i64
    } else {
        let shift = 64 - bits;
        ((v << shift) as i64) >> shift
    }
}

/// `value + incr` in a signed field of `bits`: the result, or `None` on overflow with
/// FAIL (Redis's `checkSignedBitfieldOverflow`).
fn signed_add(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let (sum, wrapped) = (value as i128 + incr as i128, value.wrapping_add(incr));
    let over = sum > max as i128;
    let under = sum < min as i128;
    if !over && !under {
        return Some(sum as i64);
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(if over { max } else { min }),
        Overflow::Wrap => Some(sign_extend(wrapped as u64, bits)),
    }
}

/// The unsigned counterpart (`checkUnsignedBitfieldOverflow`).
fn unsigned_add(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1;
    let sum = value as i128 + incr as i128;
    if (0..=max as i128).contains(&sum) {
        return Some(sum as u64);
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(if sum > max as i128 { max } else { 0 }),
        Overflow::Wrap => Some(value.wrapping_add(incr as u64) & max),
    }
}

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset incr]
/// [OVERFLOW WRAP|SAT|FAIL] ...
pub fn bitfield(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    run_bitfield(tx, args, false)
}

/// BITFIELD_RO key [GET type offset ...]
pub fn bitfield_ro(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    run_bitfield(tx, args, true)
}

fn run_bitfield(tx: &mut Tx<'_>, args: &[Bytes], read_only: bool) -> Result<Reply> {
    let fields = parse_fields(tx, args)?;
    let key = &args[1];
    let writes = fields.iter().any(|f| f.op != FieldOp::Get);
    if writes && read_only {
        return Err(CommandError::other(text::BITFIELD_RO_GET));
    }
    let mut s = tx.string_ref(key)?;
    if writes {
        // Redis makes room for the farthest field written before running any.
        let end = fields
            .iter()
            .filter(|f| f.op != FieldOp::Get)
            .map(|f| ((f.offset + f.bits as u64 - 1) >> 3) + 1)
            .max()
            .unwrap_or(0);
        if s.as_ref().is_none_or(|s| s.len() < end) {
            tx.string_write(key, s, end, &[])?;
            s = tx.string_ref(key)?;
        }
    }
    let mut out = Vec::with_capacity(fields.len());
    let mut changes = 0;
    for f in fields {
        let (lo, hi) = (f.offset >> 3, ((f.offset + f.bits as u64 - 1) >> 3) + 1);
        let mut buf = match &s {
            Some(s) => tx.string_range(key, s, lo, hi)?.to_vec(),
            None => Vec::new(),
        };
        buf.resize((hi - lo) as usize, 0);
        let at = f.offset & 7;
        let raw = get_field(&buf, at, f.bits);
        let old = if f.signed {
            sign_extend(raw, f.bits)
        } else {
            raw as i64
        };
        let (new, reply) = match f.op {
            FieldOp::Get => {
                out.push(Reply::Int(old));
                continue;
            }
            FieldOp::Set(v) if f.signed => {
                let new = signed_add(v, 0, f.bits, f.overflow);
                (new.map(|n| n as u64), new.map(|_| old))
            }
            FieldOp::Set(v) => {
                // A negative value is a huge unsigned one: it overflows.
                let new = unsigned_add(v as u64, 0, f.bits, f.overflow);
                (new, new.map(|_| old))
            }
            FieldOp::IncrBy(by) if f.signed => {
                let new = signed_add(old, by, f.bits, f.overflow);
                (new.map(|n| n as u64), new)
            }
            FieldOp::IncrBy(by) => {
                let new = unsigned_add(raw, by, f.bits, f.overflow);
                (new, new.map(|n| n as i64))
            }
        };
        match (new, reply) {
            (Some(new), Some(reply)) => {
                // A write that FAIL refused is no change (Redis sends no event).
                changes += 1;
                let mask = if f.bits == 64 {
                    u64::MAX
                } else {
                    (1u64 << f.bits) - 1
                };
                set_field(&mut buf, at, f.bits, new & mask);
                tx.string_write(key, s.take(), lo, &buf)?;
                s = tx.string_ref(key)?;
                out.push(Reply::Int(reply));
            }
            _ => out.push(Reply::Nil),
        }
    }
    if changes > 0 {
        tx.notify(notify::STRING, "setbit", key);
    }
    Ok(Reply::Array(out))
}

/// LCS's options.
#[derive(Clone, Copy, Debug, Default)]
pub struct LcsOptions {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: u64,
}

/// Parses LCS's options (after the two keys).
pub fn lcs_options(args: &[Bytes]) -> Result<LcsOptions> {
    let mut o = LcsOptions::default();
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        if is(opt, "idx") {
            o.idx = true;
        } else if is(opt, "len") {
            o.len = true;
        } else if is(opt, "withmatchlen") {
            o.with_match_len = true;
        } else if is(opt, "minmatchlen") && j + 1 < args.len() {
            o.min_match_len = arg_i64(&args[j + 1])?.max(0) as u64;
            j += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    if o.idx && o.len {
        return Err(CommandError::other(text::LCS_LEN_AND_IDX));
    }
    Ok(o)
}

/// LCS's reply for the strings `a` and `b` (Redis's dynamic programming table, and
/// its walk back from the end for IDX); `max_table` bounds the table's bytes.
pub fn lcs(a: &[u8], b: &[u8], o: LcsOptions, max_table: u64) -> Result<Reply> {
    let (n, m) = (a.len(), b.len());
    let cells = (n as u64 + 1) * (m as u64 + 1);
    if cells.saturating_mul(4) > max_table {
        return Err(CommandError::other(text::LCS_TOO_BIG));
    }
    let width = m + 1;
    let mut dp = vec![0u32; cells as usize];
    for i in 1..=n {
        for j in 1..=m {
            dp[i * width + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * width + j - 1] + 1
            } else {
                dp[(i - 1) * width + j].max(dp[i * width + j - 1])
            };
        }
    }
    let total = dp[n * width + m] as usize;
    if o.len {
        return Ok(Reply::Int(total as i64));
    }
    let mut result = vec![0u8; total];
    let mut matches = Vec::new();
    let (mut i, mut j, mut k) = (n, m, total);
    // The current range, walking backwards; `None` until a match starts one.
    let mut range: Option<(usize, usize, usize, usize)> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[k - 1] = a[i - 1];
            range = Some(match range {
                None => (i - 1, i - 1, j - 1, j - 1),
                Some((a0, a1, b0, b1)) if a0 == i && b0 == j => (a0 - 1, a1, b0 - 1, b1),
                Some(r) => {
                    emit = true;
                    r
                }
            });
            if range.is_some_and(|(a0, _, b0, _)| a0 == 0 || b0 == 0) {
                emit = true;
            }
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if dp[(i - 1) * width + j] > dp[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            if let Some((a0, a1, b0, b1)) = range.take() {
                let len = (a1 - a0 + 1) as u64;
                if o.idx && (o.min_match_len == 0 || len >= o.min_match_len) {
                    let pair = |x: usize, y: usize| {
                        Reply::Array(vec![Reply::Int(x as i64), Reply::Int(y as i64)])
                    };
                    let mut entry = vec![pair(a0, a1), pair(b0, b1)];
                    if o.with_match_len {
                        entry.push(Reply::Int(len as i64));
                    }
                    matches.push(Reply::Array(entry));
                }
            }
        }
    }
    if o.idx {
        return Ok(Reply::Map(vec![
            (Reply::bulk(b"matches"), Reply::Array(matches)),
            (Reply::bulk(b"len"), Reply::Int(total as i64)),
        ]));
    }
    Ok(Reply::Bulk(Bytes::from(result)))
}

/// A string operand of LCS: a missing key is empty, another type is LCS's own error.
pub fn lcs_operand(tx: &mut Tx<'_>, key: &[u8]) -> Result<Bytes> {
    match tx.get_string(key) {
        Ok(v) => Ok(v.map(|v| v.payload).unwrap_or_default()),
        Err(CommandError::WrongType) => Err(CommandError::other(text::LCS_NOT_STRINGS)),
        Err(e) => Err(e),
    }
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN], both keys on this shard.
pub fn lcs_here(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let a = lcs_operand(tx, &args[1])?;
    let b = lcs_operand(tx, &args[2])?;
    let o = lcs_options(args)?;
    lcs(&a, &b, o, tx.live().proto_max_bulk_len())
}

/// The bitmap commands and where each runs, for the command table.
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("setbit", Kind::Single(setbit)),
    ("getbit", Kind::Single(getbit)),
    ("bitcount", Kind::Single(bitcount)),
    ("bitpos", Kind::Single(bitpos)),
    ("bitfield", Kind::Single(bitfield)),
    ("bitfield_ro", Kind::Single(bitfield_ro)),
    ("bitop", Kind::Coordinated(Coord::BitOp, Some(bitop_here))),
    ("lcs", Kind::Coordinated(Coord::Lcs, Some(lcs_here))),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_with_edges() {
        assert_eq!(count_bits(&[0xff, 0xff], 0, 7), 16);
        assert_eq!(count_bits(&[0xff, 0xff], 3, 7), 13);
        assert_eq!(count_bits(&[0xff, 0xff], 3, 0), 6);
        assert_eq!(count_bits(&[0xff], 2, 4), 3);
        assert_eq!(count_bits(&[], 0, 7), 0);
    }

    #[test]
    fn fields_read_and_write_msb_first() {
        let mut buf = [0u8; 3];
        set_field(&mut buf, 4, 8, 0xab);
        assert_eq!(buf, [0x0a, 0xb0, 0]);
        assert_eq!(get_field(&buf, 4, 8), 0xab);
        assert_eq!(sign_extend(0xff, 8), -1);
        assert_eq!(sign_extend(0x7f, 8), 127);
    }

    #[test]
    fn overflow_rules() {
        assert_eq!(signed_add(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(signed_add(127, 1, 8, Overflow::Sat), Some(127));
        assert_eq!(signed_add(-128, -1, 8, Overflow::Sat), Some(-128));
        assert_eq!(signed_add(127, 1, 8, Overflow::Fail), None);
        assert_eq!(signed_add(i64::MAX, 1, 64, Overflow::Wrap), Some(i64::MIN));
        assert_eq!(unsigned_add(255, 1, 8, Overflow::Wrap), Some(0));
        assert_eq!(unsigned_add(0, -1, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_add(0, -1, 8, Overflow::Wrap), Some(255));
        assert_eq!(unsigned_add(250, 10, 8, Overflow::Sat), Some(255));
    }

    #[test]
    fn bitop_pads_with_zeros() {
        let a = Bytes::from_static(b"\xff\x0f");
        let b = Bytes::from_static(b"\x0f");
        assert_eq!(bitop(BitOp::And, &[a.clone(), b.clone()]), vec![0x0f, 0]);
        assert_eq!(bitop(BitOp::Or, &[b.clone(), a.clone()]), vec![0xff, 0x0f]);
        assert_eq!(bitop(BitOp::Xor, &[a.clone(), b]), vec![0xf0, 0x0f]);
        assert_eq!(bitop(BitOp::Not, &[a]), vec![0x00, 0xf0]);
    }

    #[test]
    fn lcs_of_redis_example() {
        let o = LcsOptions::default();
        let r = lcs(b"ohmytext", b"mynewtext", o, 1 << 20).unwrap();
        assert_eq!(r, Reply::Bulk(Bytes::from_static(b"mytext")));
        let o = LcsOptions { len: true, ..o };
        assert_eq!(
            lcs(b"ohmytext", b"mynewtext", o, 1 << 20).unwrap(),
            Reply::Int(6)
        );
    }
}
