//! Redis's RDB serialization as DUMP-style payloads use it (pure, unit-tested
//! below): a value (or, for FUNCTION DUMP, a sequence of records), then the
//! footer, the RDB version (2 bytes, little-endian) and a CRC64 (Jones, as Redis
//! computes it, little-endian) of everything before it.
//!
//! # Building blocks
//!
//! Lengths take 1, 2, 5 or 9 bytes (the top two bits of the first byte say
//! which). A string is a length and its bytes, or a special form flagged by a
//! first byte `11xxxxxx`: a canonical decimal integer that fits in 8, 16 or 32
//! bits, stored as that integer (little-endian), or an LZF-compressed blob
//! (compressed length, original length, data). Redis writes integers in
//! that form whenever it can and compresses strings over 20 bytes when that
//! saves at least 4 bytes; [`put_redis_string`] does the same, with the same
//! LZF compressor, so its bytes are Redis's.
//!
//! # Values
//!
//! A DUMP payload holds one value: a type byte, then the value in that type's
//! encoding. The types Redis 7.0 writes, and reads back:
//!
//! * string (0): one string;
//! * list as a quicklist (18): a node count, then per node a container kind
//!   (1: one element stored as a plain string, 2: a listpack of elements) and
//!   the node as a string (often LZF-compressed);
//! * set as a hash table (2): a count and the members; a set of integers as an
//!   intset (11), one string holding the packed, sorted integers;
//! * sorted set as a skip list (5): a count, then member and score (an 8-byte
//!   little-endian double) pairs, highest score first; a small one as a
//!   listpack (17) of member, score, member, score... (scores as decimal text,
//!   or integer entries when they are whole numbers), sorted by score;
//! * hash as a hash table (4): a count and field, value pairs; a small one as a
//!   listpack (16) of field, value, field, value...
//!
//! Older forms that 7.0 still loads, and so does [`restore`]: plain linked
//! lists (1, a count and the elements), a list as one ziplist (10), quicklists
//! of ziplists (14), sorted sets with scores as length-prefixed text (3, where
//! the lengths 253, 254 and 255 stand for NaN, +inf and -inf), sorted sets and
//! hashes as ziplists (12, 13) and hashes as zipmaps (9). The packed blobs
//! (listpack, ziplist, intset, zipmap) are read and written by the `packed`
//! submodule. Streams and module values are not supported ([`PayloadError::Type`]).
//!
//! [`dump`] chooses the encodings Redis 7.0 would, with its default limits,
//! for a value built by appending its elements: listpacks for sorted sets of
//! up to 128 and hashes of up to 512 entries of at most 64 bytes, intsets for
//! up to 512 integers, quicklist nodes of up to 8 KB, scores formatted as Redis
//! formats them. Its payloads match Redis's byte for byte (but for the order of
//! hash tables) and always RESTORE there.
//!
//! FUNCTION DUMP writes one `FUNCTION2` record per library (its code as a plain
//! string) and the footer; FUNCTION RESTORE reads payloads from Redis too, whose
//! strings over 20 bytes are usually LZF-compressed.

use std::collections::HashSet;

use crc::{Crc, CRC_64_REDIS};

mod lzf;
mod packed;

pub use lzf::{lzf_compress, lzf_decompress};

/// The RDB version Redis 7.0 writes.
pub const RDB_VERSION: u16 = 10;
/// The opcode of a function library record (Redis 7.0).
pub const OPCODE_FUNCTION2: u8 = 245;
/// The pre-release form of the same record, which Redis 7.0 refuses too.
pub const OPCODE_FUNCTION_PRE_GA: u8 = 246;

const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

// The value types (the first byte of a DUMP payload).
const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_HASH_ZIPMAP: u8 = 9;
const TYPE_LIST_ZIPLIST: u8 = 10;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_ZSET_ZIPLIST: u8 = 12;
const TYPE_HASH_ZIPLIST: u8 = 13;
const TYPE_LIST_QUICKLIST: u8 = 14;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;

/// Quicklist node containers: one element as is, or a listpack of elements.
const NODE_PLAIN: usize = 1;
const NODE_PACKED: usize = 2;

/// Redis 7.0's defaults for the compact encodings (`zset-max-listpack-*`,
/// `hash-max-listpack-*`, `set-max-intset-entries`).
const ZSET_LISTPACK_MAX_ENTRIES: usize = 128;
const HASH_LISTPACK_MAX_ENTRIES: usize = 512;
const LISTPACK_MAX_VALUE: usize = 64;
const INTSET_MAX_ENTRIES: usize = 512;
/// `list-max-listpack-size -2`: a node grows while its listpack, plus the new
/// element and an estimate of its overhead, stays within 8 KB.
const NODE_MAX_BYTES: usize = 8192;
const NODE_ENTRY_OVERHEAD: usize = 8;
/// Elements this large get a node of their own, stored plain.
const NODE_PLAIN_THRESHOLD: usize = 1 << 30;

/// Why a payload does not read.
#[derive(Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Too short, a newer RDB version, or a checksum that does not match.
    Footer,
    /// The body does not parse.
    Body,
    /// A value type this module does not read (a stream, a module's value, or
    /// no type Redis 7.0 knows); Redis 7.0 answers both this and
    /// [`PayloadError::Body`] with "Bad data format".
    Type(u8),
}

type Result<T> = std::result::Result<T, PayloadError>;

/// A value of one of the five basic types, as DUMP and RESTORE carry it.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A string.
    String(Vec<u8>),
    /// A list's elements, head first.
    List(Vec<Vec<u8>>),
    /// A set's members (distinct), in no particular order.
    Set(Vec<Vec<u8>>),
    /// A sorted set's members (distinct) and scores (never NaN). [`dump`]
    /// takes them in any order; [`restore`] gives them in the payload's order,
    /// which is by score for a listpack and highest first for a skip list.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// A hash's fields (distinct) and values.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
}

/// Appends a length in RDB's encoding.
pub fn put_len(out: &mut Vec<u8>, len: usize) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if len <= u32::MAX as usize {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Appends a string as a plain RDB string (length, then bytes).
pub fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len());
    out.extend_from_slice(s);
}

/// Appends a string the way Redis saves one (`rdbSaveRawString` with
/// `rdbcompression yes`): a canonical decimal integer of at most 11 bytes that
/// fits in 32 bits as that integer, a string over 20 bytes that LZF shrinks by
/// at least 4 bytes compressed, anything else plain.
pub fn put_redis_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(v) = packed::canonical_int(s) {
            if let Ok(v) = i8::try_from(v) {
                out.extend_from_slice(&[0xc0, v as u8]);
                return;
            }
            if let Ok(v) = i16::try_from(v) {
                out.push(0xc1);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
            if let Ok(v) = i32::try_from(v) {
                out.push(0xc2);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
        }
    }
    if s.len() > 20 {
        if let Some(compressed) = lzf_compress(s, s.len() - 4) {
            out.push(0xc3);
            put_len(out, compressed.len());
            put_len(out, s.len());
            out.extend_from_slice(&compressed);
            return;
        }
    }
    put_string(out, s);
}

/// Appends the footer: RDB version and CRC64 of everything in `out` so far.
pub fn seal(out: &mut Vec<u8>) {
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Checks a payload's footer and returns its body.
pub fn open(payload: &[u8]) -> Result<&[u8]> {
    if payload.len() < 10 {
        return Err(PayloadError::Footer);
    }
    let (data, crc) = payload.split_at(payload.len() - 8);
    let version = u16::from_le_bytes([data[data.len() - 2], data[data.len() - 1]]);
    if version > RDB_VERSION {
        return Err(PayloadError::Footer);
    }
    let crc = u64::from_le_bytes(crc.try_into().map_err(|_| PayloadError::Footer)?);
    if crc != CRC64.checksum(data) {
        return Err(PayloadError::Footer);
    }
    Ok(&data[..data.len() - 2])
}

/// The DUMP payload of `obj`: its type byte, the value ([`put_object`]) and
/// the footer.
pub fn dump(obj: &Object) -> Vec<u8> {
    let mut out = Vec::new();
    put_object(&mut out, obj);
    seal(&mut out);
    out
}

/// The value of a DUMP payload, in any encoding Redis 7.0 reads for the five
/// basic types. Like Redis, it refuses empty collections, duplicate members or
/// fields and NaN scores, and ignores anything after the value.
pub fn restore(payload: &[u8]) -> Result<Object> {
    Reader::new(open(payload)?).object()
}

/// Appends a value's type byte and encoding, choosing the encoding as Redis
/// 7.0 does with its default limits. A collection must not be empty (Redis
/// refuses to load empty ones); duplicate members or fields make a payload
/// Redis refuses too.
pub fn put_object(out: &mut Vec<u8>, obj: &Object) {
    match obj {
        Object::String(s) => {
            out.push(TYPE_STRING);
            put_redis_string(out, s);
        }
        Object::List(items) => put_list(out, items),
        Object::Set(members) => put_set(out, members),
        Object::ZSet(entries) => put_zset(out, entries),
        Object::Hash(pairs) => put_hash(out, pairs),
    }
}

/// A quicklist of listpack nodes, split where Redis splits a list built by
/// RPUSH.
fn put_list(out: &mut Vec<u8>, items: &[Vec<u8>]) {
    enum Node<'a> {
        Plain(&'a [u8]),
        Packed(packed::Listpack),
    }
    let mut nodes: Vec<Node<'_>> = Vec::new();
    for item in items {
        if item.len() >= NODE_PLAIN_THRESHOLD {
            nodes.push(Node::Plain(item));
            continue;
        }
        match nodes.last_mut() {
            Some(Node::Packed(lp))
                if lp.bytes() + item.len() + NODE_ENTRY_OVERHEAD <= NODE_MAX_BYTES =>
            {
                lp.push(item)
            }
            _ => {
                let mut lp = packed::Listpack::new();
                lp.push(item);
                nodes.push(Node::Packed(lp));
            }
        }
    }
    out.push(TYPE_LIST_QUICKLIST_2);
    put_len(out, nodes.len());
    for node in nodes {
        match node {
            Node::Plain(item) => {
                put_len(out, NODE_PLAIN);
                put_redis_string(out, item);
            }
            Node::Packed(lp) => {
                put_len(out, NODE_PACKED);
                put_redis_string(out, &lp.finish());
            }
        }
    }
}

/// An intset when every member is a canonical integer and there are at most
/// 512, else a hash table.
fn put_set(out: &mut Vec<u8>, members: &[Vec<u8>]) {
    let ints: Option<Vec<i64>> = if members.len() <= INTSET_MAX_ENTRIES {
        members.iter().map(|m| packed::canonical_int(m)).collect()
    } else {
        None
    };
    match ints {
        Some(mut ints) => {
            ints.sort_unstable();
            ints.dedup();
            out.push(TYPE_SET_INTSET);
            put_redis_string(out, &packed::intset(&ints));
        }
        None => {
            out.push(TYPE_SET);
            put_len(out, members.len());
            for m in members {
                put_redis_string(out, m);
            }
        }
    }
}

/// A listpack when small, else a skip list written highest score first; both
/// in Redis's order (by score, then member bytes).
fn put_zset(out: &mut Vec<u8>, entries: &[(Vec<u8>, f64)]) {
    // Redis ranks -0 and 0 alike; NaN (which it never stores) goes last.
    let rank = |s: f64| if s == 0.0 { 0.0 } else { s };
    let mut sorted: Vec<&(Vec<u8>, f64)> = entries.iter().collect();
    sorted.sort_by(|a, b| rank(a.1).total_cmp(&rank(b.1)).then_with(|| a.0.cmp(&b.0)));
    if entries.len() <= ZSET_LISTPACK_MAX_ENTRIES
        && entries.iter().all(|(m, _)| m.len() <= LISTPACK_MAX_VALUE)
    {
        let mut lp = packed::Listpack::new();
        for (member, score) in sorted {
            lp.push(member);
            lp.push(&score_text(*score));
        }
        out.push(TYPE_ZSET_LISTPACK);
        put_redis_string(out, &lp.finish());
    } else {
        out.push(TYPE_ZSET_2);
        put_len(out, sorted.len());
        for (member, score) in sorted.into_iter().rev() {
            put_redis_string(out, member);
            out.extend_from_slice(&score.to_le_bytes());
        }
    }
}

/// A listpack when small, else a hash table.
fn put_hash(out: &mut Vec<u8>, pairs: &[(Vec<u8>, Vec<u8>)]) {
    let small = |s: &Vec<u8>| s.len() <= LISTPACK_MAX_VALUE;
    if pairs.len() <= HASH_LISTPACK_MAX_ENTRIES && pairs.iter().all(|(f, v)| small(f) && small(v)) {
        let mut lp = packed::Listpack::new();
        for (field, value) in pairs {
            lp.push(field);
            lp.push(value);
        }
        out.push(TYPE_HASH_LISTPACK);
        put_redis_string(out, &lp.finish());
    } else {
        out.push(TYPE_HASH);
        put_len(out, pairs.len());
        for (field, value) in pairs {
            put_redis_string(out, field);
            put_redis_string(out, value);
        }
    }
}

/// A score as Redis 7.0 writes it into a listpack (`zzlInsertAt`): a whole
/// number within ±2^62 as an integer entry (so -0 becomes 0), infinities as
/// "inf" and "-inf", anything else as C's `%.17g`.
fn score_text(v: f64) -> Vec<u8> {
    const LIMIT: f64 = 4611686018427387904.0;
    if (-LIMIT..=LIMIT).contains(&v) && v.fract() == 0.0 {
        return (v as i64).to_string().into_bytes();
    }
    if v.is_nan() {
        return b"nan".to_vec();
    }
    if v.is_infinite() {
        return if v < 0.0 {
            b"-inf".to_vec()
        } else {
            b"inf".to_vec()
        };
    }
    format_g17(v).into_bytes()
}

/// C's `%.17g` of a finite, nonzero double: 17 significant digits, in fixed
/// notation when the decimal exponent is in -4..17, else in scientific notation
/// with an exponent of at least two digits; trailing zeros dropped.
fn format_g17(v: f64) -> String {
    let sci = format!("{v:.16e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(24);
    if v < 0.0 {
        out.push('-');
    }
    let fraction = |out: &mut String, digits: &str| {
        let digits = digits.trim_end_matches('0');
        if !digits.is_empty() {
            out.push('.');
            out.push_str(digits);
        }
    };
    if (0..17).contains(&exp) {
        let (int, frac) = digits.split_at(exp as usize + 1);
        out.push_str(int);
        fraction(&mut out, frac);
    } else if (-4..0).contains(&exp) {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(digits.trim_end_matches('0'));
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        fraction(&mut out, rest);
        out.push_str(&format!(
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        ));
    }
    out
}

/// A reader over a payload's body.
pub struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

/// A length, or the encoding of a special string.
enum Len {
    Plain(usize),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    /// Reads `data` from its start.
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, at: 0 }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.at >= self.data.len()
    }

    /// The next byte.
    pub fn byte(&mut self) -> Result<u8> {
        let b = *self.data.get(self.at).ok_or(PayloadError::Body)?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or(PayloadError::Body)?;
        let out = self.data.get(self.at..end).ok_or(PayloadError::Body)?;
        self.at = end;
        Ok(out)
    }

    /// How much to reserve for `n` items still to read: each takes at least a
    /// byte, so never more than what is left.
    fn capacity(&self, n: usize) -> usize {
        n.min(self.data.len().saturating_sub(self.at))
    }

    fn len(&mut self) -> Result<Len> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => Len::Plain((b & 0x3f) as usize),
            1 => Len::Plain(((b & 0x3f) as usize) << 8 | self.byte()? as usize),
            2 if b == 0x80 => {
                let raw: [u8; 4] = self.take(4)?.try_into().map_err(|_| PayloadError::Body)?;
                Len::Plain(u32::from_be_bytes(raw) as usize)
            }
            2 if b == 0x81 => {
                let raw: [u8; 8] = self.take(8)?.try_into().map_err(|_| PayloadError::Body)?;
                Len::Plain(
                    usize::try_from(u64::from_be_bytes(raw)).map_err(|_| PayloadError::Body)?,
                )
            }
            3 => Len::Encoded(b & 0x3f),
            _ => return Err(PayloadError::Body),
        })
    }

    fn plain_len(&mut self) -> Result<usize> {
        match self.len()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(PayloadError::Body),
        }
    }

    /// The element count of a collection, which must not be empty.
    fn count(&mut self) -> Result<usize> {
        match self.plain_len()? {
            0 => Err(PayloadError::Body),
            n => Ok(n),
        }
    }

    /// The next string, in any of its encodings.
    pub fn string(&mut self) -> Result<Vec<u8>> {
        match self.len()? {
            Len::Plain(n) => Ok(self.take(n)?.to_vec()),
            // Integers of 1, 2 and 4 bytes, little-endian, as their decimal text.
            Len::Encoded(0) => Ok((self.take(1)?[0] as i8).to_string().into_bytes()),
            Len::Encoded(1) => {
                let b = self.take(2)?;
                Ok(i16::from_le_bytes([b[0], b[1]]).to_string().into_bytes())
            }
            Len::Encoded(2) => {
                let b = self.take(4)?;
                Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]])
                    .to_string()
                    .into_bytes())
            }
            Len::Encoded(3) => {
                let compressed = self.plain_len()?;
                let original = self.plain_len()?;
                let input = self.take(compressed)?;
                lzf_decompress(input, original).ok_or(PayloadError::Body)
            }
            Len::Encoded(_) => Err(PayloadError::Body),
        }
    }

    /// A score in the text form of sorted set type 3: a length byte and the
    /// digits, or 253, 254, 255 for NaN, +inf, -inf.
    fn text_score(&mut self) -> Result<f64> {
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => parse_score(self.take(n as usize)?),
        }
    }

    /// A score as an 8-byte little-endian double.
    fn binary_score(&mut self) -> Result<f64> {
        let raw: [u8; 8] = self.take(8)?.try_into().map_err(|_| PayloadError::Body)?;
        Ok(f64::from_le_bytes(raw))
    }

    /// The next value: a type byte, then the value in that type's encoding
    /// (see the module documentation).
    pub fn object(&mut self) -> Result<Object> {
        use packed::{intset_members, listpack_entries, ziplist_entries, zipmap_pairs};
        let kind = self.byte()?;
        match kind {
            TYPE_STRING => Ok(Object::String(self.string()?)),
            TYPE_LIST => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(self.capacity(n));
                for _ in 0..n {
                    items.push(self.string()?);
                }
                Ok(Object::List(items))
            }
            TYPE_SET => {
                let n = self.count()?;
                let mut members = Vec::with_capacity(self.capacity(n));
                for _ in 0..n {
                    members.push(self.string()?);
                }
                distinct(members.iter())?;
                Ok(Object::Set(members))
            }
            TYPE_ZSET | TYPE_ZSET_2 => {
                let n = self.count()?;
                let mut entries = Vec::with_capacity(self.capacity(n));
                for _ in 0..n {
                    let member = self.string()?;
                    let score = if kind == TYPE_ZSET {
                        self.text_score()?
                    } else {
                        self.binary_score()?
                    };
                    entries.push((member, score));
                }
                zset(entries)
            }
            TYPE_HASH => {
                let n = self.count()?;
                let mut pairs = Vec::with_capacity(self.capacity(n));
                for _ in 0..n {
                    pairs.push((self.string()?, self.string()?));
                }
                hash(pairs)
            }
            TYPE_HASH_ZIPMAP => hash(zipmap_pairs(&self.string()?)?),
            TYPE_LIST_ZIPLIST => list(ziplist_entries(&self.string()?)?),
            TYPE_SET_INTSET => {
                let members = intset_members(&self.string()?)?;
                Ok(Object::Set(
                    members
                        .into_iter()
                        .map(|v| v.to_string().into_bytes())
                        .collect(),
                ))
            }
            TYPE_ZSET_ZIPLIST => zset(scored(ziplist_entries(&self.string()?)?)?),
            TYPE_HASH_ZIPLIST => hash(paired(ziplist_entries(&self.string()?)?)?),
            TYPE_HASH_LISTPACK => hash(paired(listpack_entries(&self.string()?)?)?),
            TYPE_ZSET_LISTPACK => zset(scored(listpack_entries(&self.string()?)?)?),
            TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
                let nodes = self.count()?;
                let mut items = Vec::new();
                for _ in 0..nodes {
                    let container = if kind == TYPE_LIST_QUICKLIST_2 {
                        self.plain_len()?
                    } else {
                        NODE_PACKED
                    };
                    if container != NODE_PLAIN && container != NODE_PACKED {
                        return Err(PayloadError::Body);
                    }
                    let node = self.string()?;
                    if node.is_empty() {
                        return Err(PayloadError::Body);
                    }
                    if container == NODE_PLAIN {
                        items.push(node);
                    } else if kind == TYPE_LIST_QUICKLIST_2 {
                        items.extend(listpack_entries(&node)?);
                    } else {
                        items.extend(ziplist_entries(&node)?);
                    }
                }
                list(items)
            }
            other => Err(PayloadError::Type(other)),
        }
    }
}

/// Fails on a repeated key.
fn distinct<'k>(keys: impl ExactSizeIterator<Item = &'k Vec<u8>>) -> Result<()> {
    let mut seen = HashSet::with_capacity(keys.len());
    for key in keys {
        if !seen.insert(key.as_slice()) {
            return Err(PayloadError::Body);
        }
    }
    Ok(())
}

fn list(items: Vec<Vec<u8>>) -> Result<Object> {
    if items.is_empty() {
        return Err(PayloadError::Body);
    }
    Ok(Object::List(items))
}

fn hash(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Object> {
    if pairs.is_empty() {
        return Err(PayloadError::Body);
    }
    distinct(pairs.iter().map(|(f, _)| f))?;
    Ok(Object::Hash(pairs))
}

fn zset(entries: Vec<(Vec<u8>, f64)>) -> Result<Object> {
    if entries.is_empty() || entries.iter().any(|(_, s)| s.is_nan()) {
        return Err(PayloadError::Body);
    }
    distinct(entries.iter().map(|(m, _)| m))?;
    Ok(Object::ZSet(entries))
}

/// Pairs up a packed blob's entries (key, value, key, value...).
fn paired(entries: Vec<Vec<u8>>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    if !entries.len().is_multiple_of(2) {
        return Err(PayloadError::Body);
    }
    let mut pairs = Vec::with_capacity(entries.len() / 2);
    let mut it = entries.into_iter();
    while let (Some(key), Some(value)) = (it.next(), it.next()) {
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Pairs up a packed sorted set's entries (member, score text...).
fn scored(entries: Vec<Vec<u8>>) -> Result<Vec<(Vec<u8>, f64)>> {
    paired(entries)?
        .into_iter()
        .map(|(member, score)| Ok((member, parse_score(&score)?)))
        .collect()
}

/// A score from its decimal text ("1.5", "-inf", "3"...).
fn parse_score(text: &[u8]) -> Result<f64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(PayloadError::Body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        items
            .iter()
            .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    fn scored(items: &[(&str, f64)]) -> Vec<(Vec<u8>, f64)> {
        items
            .iter()
            .map(|(m, s)| (m.as_bytes().to_vec(), *s))
            .collect()
    }

    fn numbered(n: usize, f: impl Fn(usize) -> String) -> Vec<Vec<u8>> {
        (0..n).map(|i| f(i).into_bytes()).collect()
    }

    /// The values the oracle payloads were made from (the same recipes in
    /// Python, sent with RPUSH, SADD, ZADD, HSET and SET).
    fn recipe(name: &str) -> Object {
        let big_item = |i: usize| format!("{i:04}{}", "x".repeat(96));
        let zscore = |i: usize| match (i, i % 5) {
            (3, _) => f64::NEG_INFINITY,
            (8, _) => f64::INFINITY,
            (_, 0) => i as f64 * 1.5,
            (_, 1) => -(i as f64),
            (_, 2) => 1e300 / (i as f64 + 1.0),
            (_, 3) => 0.1 * i as f64,
            _ => 7.0,
        };
        match name {
            "s_int" => Object::String(b"12345".to_vec()),
            "s_neg" => Object::String(b"-7".to_vec()),
            "s_big" => Object::String(b"12345678901".to_vec()),
            "s_str" => Object::String(b"hello".to_vec()),
            "s_rep" => Object::String(vec![b'a'; 100]),
            "s21" => Object::String(b"abcabcabcabcabcabcabc".to_vec()),
            "s100k" => {
                let mut s = String::new();
                let mut i = 0;
                while s.len() < 100_000 {
                    s.push_str(&format!("{i},"));
                    i += 1;
                }
                s.truncate(100_000);
                Object::String(s.into_bytes())
            }
            "srand" => Object::String(
                (0..3000u64)
                    .map(|i| ((i * i * 31 + i * 7) % 251) as u8)
                    .collect(),
            ),
            "l3" => Object::List(strs(&["a", "b", "c"])),
            "lint" => {
                let x70 = "x".repeat(70);
                Object::List(strs(&[
                    "1",
                    "-5",
                    "300",
                    "-4000",
                    "70000",
                    "-9000000",
                    "3000000000",
                    "9223372036854775807",
                    &x70,
                ]))
            }
            "lbig" | "lbigc" => Object::List(numbered(1000, big_item)),
            "lints" => Object::List(numbered(1000, |i| {
                let v = match i % 10 {
                    0 => i as i64 * 123456789012,
                    1 => -(i as i64) * 1234567,
                    _ => (i as i64 * 7919) % 20000 - 10000,
                };
                v.to_string()
            })),
            "lvar" => Object::List(numbered(300, |i| {
                ((b'a' + (i % 26) as u8) as char)
                    .to_string()
                    .repeat((i * 37) % 200)
            })),
            "lhuge" => Object::List(vec![b"a".to_vec(), vec![b'b'; 10000], b"c".to_vec()]),
            "si16" => Object::Set(strs(&["-3", "1", "2"])),
            "si32" => Object::Set(strs(&["1", "70000"])),
            "si64" => Object::Set(strs(&["1", "5000000000"])),
            "sstr" => Object::Set(strs(&["b", "a"])),
            "smix" => Object::Set(strs(&["70000", "-300", "1", "a"])),
            "sbigint" => Object::Set(numbered(300, |i| {
                let i = i as i64;
                ([i, -i * 1000, i * 100000, i * 10000000000][i as usize % 4] + i).to_string()
            })),
            "s600" => Object::Set(numbered(600, |i| i.to_string())),
            "zs" => Object::ZSet(scored(&[
                ("b", f64::NEG_INFINITY),
                ("d", 0.1),
                ("a", 1.5),
                ("e", 3.0),
                ("c", 1e300),
            ])),
            "ztie" => Object::ZSet(scored(&[("z", 0.0), ("a", 1.0), ("b", 1.0), ("c", 1.0)])),
            "zlong" => Object::ZSet(vec![(vec![b'y'; 100], 1.0), (b"short".to_vec(), 2.0)]),
            "zbig" | "zmid" => {
                let (n, prefix) = if name == "zbig" {
                    (200, "member:")
                } else {
                    (20, "m")
                };
                Object::ZSet(
                    (0..n)
                        .map(|i| (format!("{prefix}{i}").into_bytes(), zscore(i)))
                        .collect(),
                )
            }
            "zspecial" => Object::ZSet(
                [
                    -0.0,
                    0.1,
                    1e-5,
                    123456789.123,
                    2f64.powi(53),
                    1e20,
                    -1e-300,
                    4503599627370495.0,
                    -4503599627370495.0,
                    4503599627370496.0,
                    0.5,
                    1e16,
                    1e17,
                    12345678901234567.0,
                    0.0001,
                    0.00001234,
                ]
                .iter()
                .enumerate()
                .map(|(i, &s)| (format!("s{i}").into_bytes(), s))
                .collect(),
            ),
            "zbounds" => Object::ZSet(
                [
                    2f64.powi(62),
                    2f64.powi(62) + 1024.0,
                    -(2f64.powi(62)),
                    -(2f64.powi(62) + 1024.0),
                    3e18,
                    -0.0,
                    2.5,
                ]
                .iter()
                .enumerate()
                .map(|(i, &s)| (format!("k{i}").into_bytes(), s))
                .collect(),
            ),
            "hs" => Object::Hash(pairs(&[("f1", "v1"), ("f2", "123")])),
            "hlong" => Object::Hash(vec![
                (b"a".to_vec(), vec![b'z'; 100]),
                (b"b".to_vec(), b"1".to_vec()),
            ]),
            "hlpint" => {
                let (x, y) = ("x".repeat(64), "y".repeat(64));
                Object::Hash(pairs(&[
                    ("1", "-1"),
                    ("big", "9223372036854775807"),
                    ("neg", "-9223372036854775808"),
                    (&x, &y),
                ]))
            }
            "hbig" | "hbig2" => {
                let n = if name == "hbig" { 129 } else { 600 };
                Object::Hash(
                    (0..n)
                        .map(|i| (format!("f{i}").into_bytes(), i.to_string().into_bytes()))
                        .collect(),
                )
            }
            _ => panic!("no recipe {name}"),
        }
    }

    /// The same value whatever the order of a set's, hash's or sorted set's
    /// elements.
    fn normalized(obj: Object) -> Object {
        match obj {
            Object::Set(mut m) => {
                m.sort();
                Object::Set(m)
            }
            Object::Hash(mut p) => {
                p.sort();
                Object::Hash(p)
            }
            Object::ZSet(mut e) => {
                e.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
                Object::ZSet(e)
            }
            other => other,
        }
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn resealed(body: &[u8]) -> Vec<u8> {
        let mut p = body.to_vec();
        seal(&mut p);
        p
    }

    fn footer_crc(payload: &[u8]) -> u64 {
        u64::from_le_bytes(payload[payload.len() - 8..].try_into().unwrap())
    }

    /// DUMP payloads from redis-server 7.0.15 of the values of [`recipe`].
    const REDIS_PAYLOADS: &[(&str, &str)] = &[
        ("s_int", "00c139300a009d94ea2793fc08b9"),
        ("s_neg", "00c0f90a005e26d130d7a242ab"),
        ("s_big", "000b31323334353637383930310a00304e52d727176510"),
        ("s_str", "000568656c6c6f0a006372df766534200a"),
        ("s_rep", "00c3094064016161e057000161610a00e8a3b507b06df271"),
        ("s21", "00c30b150361626361e006020162630a000201710c8eebf946"),
        ("l3", "12010210100000000300816102816202816302ff0a00c818b90c9533529e"),
        ("lint", "120102c338407a1f7a00000009000101dffb02c12c02d06002f270110104f3c0ab76ff05f4005ed000b2201f030009f4ff8000047f09e04678e03c000148ff0a00ef84c6d3a57891ed"),
        ("lhuge", "1203020a0a0000000100816102ff02c34083671e071e2700000100f01020060062e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0de00024e95ff020a0a0000000100816302ff0a005b3bf89b72301979"),
        ("si16", "0b0e0200000003000000fdff010002000a00d1b78ed9bc07c27f"),
        ("si32", "0b10040000000200000001000000701101000a002735436efd6656c4"),
        ("si64", "0b180800000002000000010000000000000000f2052a010000000a0054f5a26ae707b5fc"),
        ("sstr", "0202016201610a0075d99d835ef85f65"),
        ("smix", "0204c270110100c1d4fec00101610a00936cb6bb2597595f"),
        ("zs", "11c33e405116510000000a00816202842d696e660581640293302e3130e0050014311481610283312e3504816502030181630297312ee00522083031652b33303018ff0a00e2fcf80dc7b9932e"),
        ("ztie", "111b1b0000000800817a020001816102010181620201018163020101ff0a0076c10d3213c0f733"),
        ("zspecial", "11c340d540f90bf9000000200082733803f401200a1f0000f0ff0982733603872d31652d333030088273300300018273320396312e30e0050020220d303517837331350489312e323334400f000a200f0334048630402c0931078273310393302e31e005380230311420250c300483302e3504827333038d31203d0535363738392e2009060e82733703f4ff6000010f00208f023903f4209a20000010400d0034c00d022000092046013104201c04c16ff28623600e093304f4884b6b5d54dc2b600e0032401d058a5d7845630120480935038531652b323006ff0a008e230793dfda6a24"),
        ("zbounds", "11c3406240791f790000000e00826b3303972d342e36313136383630313834323733383839652b07313818826b3203f42026400013c009826b35030001826b360383322e3504826b34401c052cf61a24a229201c0030400d60000040200d02310396e00d540117ff0a0003e6efbdd18facbf"),
        ("zlong", "05020573686f72740000000000000040c3094064017979e05700017979000000000000f03f0a00c84a14c8b248ea48"),
        ("hs", "10151500000004008266310382763103826632037b01ff0a004ac585b69f9c1e83"),
        ("hlpint", "10c33540b011b000000008000101dfff028362696704f4ff8000047f09836e65200e201e4000048009e04078e036000342e04079e036000142ff0a008a67c4dad29ce857"),
        ("hlong", "04020162c0010161c3094064017a7ae05700017a7a0a00510e997149a4d07c"),
    ];

    /// The size, type byte and CRC64 (footer) of redis-server 7.0.15's DUMP of
    /// the larger values of [`recipe`].
    const REDIS_LARGE_PAYLOADS: &[(&str, usize, u8, u64)] = &[
        ("lbig", 5855, 18, 0xfa95fdcfb694e697),
        ("lbigc", 5855, 18, 0xfa95fdcfb694e697),
        ("lints", 4263, 18, 0x5c02cd0670253d9c),
        ("lvar", 2364, 18, 0xba0a8065cc88ae9a),
        ("zbig", 3703, 5, 0x7c2d0396bfe30cc8),
        ("zmid", 219, 17, 0x64c48e1baf1123e6),
        ("hbig", 811, 16, 0x4692bd207517ffb6),
        ("sbigint", 1906, 11, 0x9c5dfe8e4f21ea1a),
        ("s100k", 52166, 0, 0x7adeff066326c0c3),
        ("srand", 312, 0, 0xae0e7ba099c53377),
        ("s600", 1685, 2, 0x72b02781e0a97fb3),
        ("hbig2", 4575, 4, 0xbc35ea3fedb85655),
    ];

    #[test]
    fn redis_payloads_restore_and_dump_back_byte_for_byte() {
        for (name, hex) in REDIS_PAYLOADS {
            let payload = unhex(hex);
            let obj = restore(&payload).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(normalized(obj.clone()), normalized(recipe(name)), "{name}");
            assert_eq!(dump(&obj), payload, "{name}");
            // Only a hash table's order is Redis's own choice.
            if *name != "hlong" {
                assert_eq!(dump(&recipe(name)), payload, "{name}");
            }
        }
        let get = |name: &str| {
            let hex = REDIS_PAYLOADS.iter().find(|(n, _)| *n == name).unwrap().1;
            restore(&unhex(hex)).unwrap()
        };
        // In the payload's order: intsets sorted, skip lists highest first.
        assert_eq!(get("l3"), Object::List(strs(&["a", "b", "c"])));
        assert_eq!(get("si16"), Object::Set(strs(&["-3", "1", "2"])));
        assert_eq!(get("smix"), recipe("smix"));
        assert_eq!(get("zs"), recipe("zs"));
        assert_eq!(
            get("zlong"),
            Object::ZSet(vec![(b"short".to_vec(), 2.0), (vec![b'y'; 100], 1.0)])
        );
        assert_eq!(
            get("hlong"),
            Object::Hash(vec![
                (b"b".to_vec(), b"1".to_vec()),
                (b"a".to_vec(), vec![b'z'; 100])
            ])
        );
    }

    #[test]
    fn large_values_dump_as_redis_does() {
        for &(name, len, kind, crc) in REDIS_LARGE_PAYLOADS {
            let obj = recipe(name);
            let payload = dump(&obj);
            assert_eq!((payload[0], payload.len()), (kind, len), "{name}");
            // Hash tables (a set of 600, a hash of 600) come out in another order.
            if !matches!(name, "s600" | "hbig2") {
                assert_eq!(footer_crc(&payload), crc, "{name}");
            }
            assert_eq!(
                normalized(restore(&payload).unwrap()),
                normalized(obj),
                "{name}"
            );
        }
    }

    #[test]
    fn encodings_redis_7_0_reads_but_no_longer_writes() {
        // Built by hand; redis-server 7.0.15 RESTOREs each (with
        // sanitize-dump-payload yes) to the value given.
        let big = format!(
            "{}{}{}{}{}",
            "0a41d1d1010000cb0100000d0000016103f802fefe03c02c0104f070110105e000000080000000000af0a08601054064",
            "77".repeat(100),
            "67412c",
            "71".repeat(300),
            "fe2f010000017a07fd02f102f0000080ff0a00ef1f4742e1eeb275",
        );
        let w100 = "w".repeat(100);
        let q300 = "q".repeat(300);
        let c40 = "c".repeat(40);
        let cases: Vec<(&str, Object)> = vec![
            (
                "01030161c12c010568656c6c6f0a000f42a9e41c174d23",
                Object::List(strs(&["a", "300", "hello"])),
            ),
            (
                "0304016103312e350162fe0163ff0164022d320a00f777f195082ca9bc",
                Object::ZSet(scored(&[
                    ("a", 1.5),
                    ("b", f64::INFINITY),
                    ("c", f64::NEG_INFINITY),
                    ("d", -2.0),
                ])),
            ),
            (
                "090d020261620101780001630000ff0a00a528f73bfef92717",
                Object::Hash(pairs(&[("ab", "x"), ("c", "")])),
            ),
            (
                &big,
                Object::List(strs(&[
                    "a", "7", "-2", "300", "70000", "2147483648", "100000", &w100, &q300, "z",
                    "12", "0", "-8388608",
                ])),
            ),
            (
                "0c20200000001a00000006000001610303312e3505016203f40201630303696e66ff0a00e578592bc7cc5b96",
                Object::ZSet(scored(&[("a", 1.5), ("b", 3.0), ("c", f64::INFINITY)])),
            ),
            (
                "0d1a1a00000016000000040000026631040276310402663204fe7bff0a008f61345984c96c38",
                Object::Hash(pairs(&[("f1", "v1"), ("f2", "123")])),
            ),
            (
                // The second ziplist node LZF-"compressed" as literal runs.
                "0e02131300000010000000030000016103016203f6ffc33b391f39000000340000000200002863636363636363636363636363636363636363631863636363636363636363636363636363636363632ac0e803ff0a00756832b17d079865",
                Object::List(strs(&["a", "b", "5", &c40, "1000"])),
            ),
            (
                // A quicklist with a plain node between two listpacks.
                "1203020d0d0000000200816102816202ff010d706c61696e20656c656d656e74020c0c00000002008163020901ff0a001f825bf170537728",
                Object::List(strs(&["a", "b", "plain element", "c", "9"])),
            ),
        ];
        for (hex, expected) in cases {
            assert_eq!(restore(&unhex(hex)).unwrap(), expected, "{hex}");
        }
    }

    #[test]
    fn refuses_what_redis_refuses() {
        let body = |b: &[u8]| restore(&resealed(b));
        // Streams, modules, Redis 7.2's set listpack, nothing at all.
        for t in [6, 7, 15, 19, 20, 21, 99, 255] {
            assert_eq!(body(&[t, 0]), Err(PayloadError::Type(t)));
        }
        assert_eq!(body(&[]), Err(PayloadError::Body));
        // Empty collections.
        for t in [1, 2, 3, 4, 5, 14, 18] {
            assert_eq!(body(&[t, 0]), Err(PayloadError::Body), "{t}");
        }
        // Duplicates.
        assert_eq!(body(&[2, 2, 1, b'a', 1, b'a']), Err(PayloadError::Body));
        assert_eq!(
            body(&[4, 2, 1, b'a', 0, 1, b'a', 0]),
            Err(PayloadError::Body)
        );
        let mut lp = packed::Listpack::new();
        for s in ["a", "1", "a", "2"] {
            lp.push(s.as_bytes());
        }
        let blob = lp.finish();
        let mut p = vec![TYPE_HASH_LISTPACK];
        put_string(&mut p, &blob);
        assert_eq!(body(&p), Err(PayloadError::Body));
        p[0] = TYPE_ZSET_LISTPACK;
        assert_eq!(body(&p), Err(PayloadError::Body));
        // An odd number of entries for pairs.
        let mut lp = packed::Listpack::new();
        lp.push(b"a");
        let mut p = vec![TYPE_HASH_LISTPACK];
        put_string(&mut p, &lp.finish());
        assert_eq!(body(&p), Err(PayloadError::Body));
        // NaN scores, as text and as a double.
        assert_eq!(body(&[3, 1, 1, b'a', 253]), Err(PayloadError::Body));
        let mut p = vec![5, 1, 1, b'a'];
        p.extend_from_slice(&f64::NAN.to_le_bytes());
        assert_eq!(body(&p), Err(PayloadError::Body));
        // A quicklist node of no known container, or empty.
        assert_eq!(body(&[18, 1, 3, 1, b'a']), Err(PayloadError::Body));
        assert_eq!(body(&[18, 1, 2, 0]), Err(PayloadError::Body));
        // Scores that do not parse.
        assert_eq!(
            body(&[3, 1, 1, b'a', 2, b'x', b'y']),
            Err(PayloadError::Body)
        );
        // A damaged footer.
        let mut p = dump(&Object::String(b"x".to_vec()));
        let n = p.len();
        p[n - 1] ^= 1;
        assert_eq!(restore(&p), Err(PayloadError::Footer));
    }

    #[test]
    fn redis_string_forms() {
        let put = |s: &[u8]| {
            let mut out = Vec::new();
            put_redis_string(&mut out, s);
            assert_eq!(Reader::new(&out).string().unwrap(), s);
            out
        };
        assert_eq!(put(b"0"), [0xc0, 0]);
        assert_eq!(put(b"-128"), [0xc0, 0x80]);
        assert_eq!(put(b"128"), [0xc1, 0x80, 0]);
        assert_eq!(put(b"-2147483648"), [0xc2, 0, 0, 0, 0x80]);
        // Too wide, or not written as Redis writes integers: plain.
        for s in ["2147483648", "007", "-0", "+1", " 1"] {
            assert_eq!(put(s.as_bytes())[0] as usize, s.len(), "{s}");
        }
        // Compressed only past 20 bytes, and only when it saves 4.
        assert_eq!(put(&[b'a'; 20])[0], 20);
        assert_eq!(put(&[b'a'; 21])[0], 0xc3);
        assert_eq!(put(b"abcdefghijklmnopqrstuvwxyz")[0], 26);
    }

    #[test]
    fn scores_as_redis_formats_them() {
        for (score, text) in [
            (0.1, "0.10000000000000001"),
            (1.5, "1.5"),
            (-0.0, "0"),
            (3.0, "3"),
            (1e17, "100000000000000000"),
            (1e20, "1e+20"),
            (1e300, "1.0000000000000001e+300"),
            (1e-5, "1.0000000000000001e-05"),
            (0.0001, "0.0001"),
            (-1e-300, "-1e-300"),
            (123456789.123, "123456789.123"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(score_text(score), text.as_bytes(), "{score}");
        }
    }

    #[test]
    fn values_round_trip() {
        let long = vec![b'v'; 300];
        let objects = [
            Object::String(Vec::new()),
            Object::String(vec![7; 70_000]),
            Object::List(vec![Vec::new(), long.clone(), b"-1".to_vec()]),
            Object::List((0..5000).map(|i| i.to_string().into_bytes()).collect()),
            Object::Set((0..600).map(|i| format!("m{i}").into_bytes()).collect()),
            Object::Set(vec![i64::MIN.to_string().into_bytes(), b"0".to_vec()]),
            Object::ZSet(vec![(long.clone(), 1.0), (b"a".to_vec(), -0.5)]),
            Object::ZSet(
                (0..130)
                    .map(|i| (i.to_string().into_bytes(), i as f64 / 3.0))
                    .collect(),
            ),
            Object::Hash(vec![(b"f".to_vec(), long.clone())]),
            Object::Hash(
                (0..513)
                    .map(|i| (i.to_string().into_bytes(), Vec::new()))
                    .collect(),
            ),
        ];
        for obj in objects {
            let payload = dump(&obj);
            assert_eq!(normalized(restore(&payload).unwrap()), normalized(obj));
        }
    }

    #[test]
    fn damaged_payloads_never_panic() {
        let mut payloads: Vec<Vec<u8>> = REDIS_PAYLOADS.iter().map(|(_, h)| unhex(h)).collect();
        for name in ["lbig", "lints", "zbig", "hbig", "hbig2", "sbigint", "srand"] {
            payloads.push(dump(&recipe(name)));
        }
        // Packed blobs left uncompressed, so that damage reaches their parsers.
        for (kind, items) in [
            (
                TYPE_LIST_QUICKLIST_2,
                strs(&["a", "300", "-70000", "x", "5000000000"]),
            ),
            (
                TYPE_HASH_LISTPACK,
                strs(&[
                    "f",
                    "1",
                    "g",
                    "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv",
                ]),
            ),
            (
                TYPE_ZSET_LISTPACK,
                strs(&["a", "1.5", "b", "2", "c", "inf"]),
            ),
        ] {
            let mut lp = packed::Listpack::new();
            for item in &items {
                lp.push(item);
            }
            let mut body = vec![kind];
            if kind == TYPE_LIST_QUICKLIST_2 {
                body.extend_from_slice(&[1, 2]);
            }
            put_string(&mut body, &lp.finish());
            payloads.push(resealed(&body));
        }
        let mut tried = 0;
        for payload in &payloads {
            let body = &payload[..payload.len() - 10];
            let step = (body.len() / 400).max(1);
            for cut in (0..body.len()).step_by(step) {
                let _ = restore(&resealed(&body[..cut]));
                tried += 1;
            }
            for at in (0..body.len()).step_by(step) {
                for bit in 0..8 {
                    let mut damaged = body.to_vec();
                    damaged[at] ^= 1 << bit;
                    let _ = restore(&resealed(&damaged));
                    tried += 1;
                }
            }
            // Every type byte on every body.
            for kind in 0..=25 {
                let mut other = body.to_vec();
                other[0] = kind;
                let _ = restore(&resealed(&other));
                tried += 1;
            }
        }
        assert!(tried > 20_000, "{tried}");
    }

    #[test]
    fn crc64_is_redis_crc64() {
        // The check value of Redis's crc64 ("123456789").
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn strings_and_lengths_round_trip() {
        for n in [0usize, 1, 63, 64, 16383, 16384, 70000] {
            let s = vec![b'x'; n];
            let mut out = Vec::new();
            put_string(&mut out, &s);
            let mut r = Reader::new(&out);
            assert_eq!(r.string().unwrap(), s);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn sealed_payloads_open_and_damaged_ones_do_not() {
        let mut p = vec![OPCODE_FUNCTION2];
        put_string(&mut p, b"code");
        seal(&mut p);
        assert_eq!(open(&p).unwrap()[0], OPCODE_FUNCTION2);
        let mut bad = p.clone();
        bad[2] ^= 1;
        assert_eq!(open(&bad), Err(PayloadError::Footer));
        assert_eq!(open(&p[..5]), Err(PayloadError::Footer));
    }

    #[test]
    fn integer_strings() {
        let mut r = Reader::new(&[0xc0, 0xfe, 0xc1, 0x39, 0x30]);
        assert_eq!(r.string().unwrap(), b"-2");
        assert_eq!(r.string().unwrap(), b"12345");
    }
}
