//! HyperLogLog in the byte representation Redis 7.0 stores and the arithmetic it
//! counts with (pure, std only).
//!
//! # The value
//!
//! A HyperLogLog is an ordinary string value. Its first [`HEADER_LEN`] bytes are a
//! header:
//!
//! | bytes  | content                                                               |
//! | ------ | --------------------------------------------------------------------- |
//! | 0..4   | the magic `HYLL`                                                      |
//! | 4      | the encoding: 0 dense, 1 sparse (Redis uses 255, "raw", only in memory) |
//! | 5..8   | unused (kept as found: a conversion copies the whole header)          |
//! | 8..16  | the cached cardinality, little endian; bit 7 of byte 15 set = stale    |
//!
//! After the header come the registers: 16384 of them (the low 14 bits of an
//! element's hash pick one), each remembering the longest run seen in the rest of
//! that element's hash (see below), a number from 0 to 51.
//!
//! * **Dense**: 6 bits per register, 12288 bytes, packed from the least
//!   significant bit up: register 0 is the low 6 bits of byte 0, register 1 takes
//!   the top 2 bits of byte 0 and the low 4 of byte 1, and so on, 4 registers per
//!   3 bytes. A dense value is exactly [`DENSE_LEN`] bytes long.
//! * **Sparse**: a run-length code made of three opcodes, read left to right and
//!   covering the registers in order; a valid value covers exactly 16384:
//!   * `00nnnnnn` (ZERO): `n + 1` registers (1..=64) that are 0;
//!   * `01nnnnnn nnnnnnnn` (XZERO): a 14-bit `n`, high bits first, `n + 1`
//!     registers (1..=16384) that are 0;
//!   * `1vvvvvnn` (VAL): `n + 1` registers (1..=4) that all hold `v + 1` (1..=32).
//!
//!   A new HyperLogLog is the header and one `XZERO` of 16384 (18 bytes). Adds
//!   edit the code in place, splitting the opcode that covers the register and
//!   then joining neighbouring `VAL`s of the same value, exactly as Redis does,
//!   so that the same adds give the same bytes. The value turns dense (and stays
//!   dense) when a register would need more than 32, or when an edit would make
//!   the whole string longer than `hll-sparse-max-bytes`.
//!
//! # The hash and the register update
//!
//! An element is hashed with MurmurHash64A (seed `0xadc83b19`, 8-byte blocks read
//! little endian). The low 14 bits name the register; the remaining 50 bits,
//! with a 1 forced above them, give the count: one plus the number of zero bits
//! below their lowest 1 (so 1..=51). A register only ever grows to the largest
//! count it has seen.
//!
//! # Counting
//!
//! The estimate comes from the histogram of register values (how many registers
//! hold 0, 1, ... 63), with Otmar Ertl's improved estimator: starting from
//! `m * tau(1 - h[51] / m)`, for `j` from 50 down to 1 add `h[j]` and halve; add
//! `m * sigma(h[0] / m)`; the answer is `alpha_inf * m^2 / z` rounded half away
//! from zero, with `m = 16384` and `alpha_inf = 1 / (2 ln 2)`. The functions
//! `sigma` and `tau` are the series Redis sums until they stop changing, in the
//! same floating-point order, so the answers are Redis's to the unit. Values
//! above 51 (possible only in hand-made dense strings) fall outside the sum, as
//! in Redis.
//!
//! A count of one value is cached in its header (and the caller writes the header
//! back, as `PFCOUNT` does); every change marks the cache stale. Counting several
//! values, and `PFMERGE`, first fold them into [`Registers`], one byte per
//! register (Redis's in-memory "raw" encoding), which is never cached. As in
//! Redis 7.0, `PFMERGE` writes a dense destination only if some source was dense;
//! otherwise it raises the destination's registers one by one through the sparse
//! edits, so it stays sparse unless `PFADD` would have turned it dense.
//!
//! # Broken values
//!
//! [`validate`] is Redis's type check: a wrong magic, an encoding other than 0 or
//! 1, or a dense value of the wrong length is not a HyperLogLog at all
//! ([`HllError::NotHll`]). A sparse code is only decoded when it is needed; one
//! that does not cover exactly 16384 registers is [`HllError::Corrupt`]. When the
//! last opcode is a cut-off `XZERO`, Redis reads its second byte past the end of
//! the string: the NUL terminator of a freshly loaded value, so 0 here too.
//! (Redis's edits can leave another byte there in memory, which later commands on
//! the same in-memory string read; within one [`add_all`] or
//! [`Registers::write_to`] that is reproduced, across commands it cannot be, as
//! only the value's bytes are kept.) No input makes any function here panic.

use std::fmt;

/// Length of the header that starts every HyperLogLog value.
pub const HEADER_LEN: usize = 16;
/// Number of registers (`2^14`).
pub const REGISTERS: usize = 1 << P;
/// Length of the dense register area (16384 registers of 6 bits).
pub const DENSE_DATA_LEN: usize = REGISTERS * BITS / 8;
/// Exact length of a dense value: header plus registers.
pub const DENSE_LEN: usize = HEADER_LEN + DENSE_DATA_LEN;
/// Encoding byte of a dense value.
pub const ENCODING_DENSE: u8 = 0;
/// Encoding byte of a sparse value.
pub const ENCODING_SPARSE: u8 = 1;
/// Redis's default for `hll-sparse-max-bytes`.
pub const DEFAULT_SPARSE_MAX_BYTES: usize = 3000;

/// Bits of the hash that pick the register.
const P: u32 = 14;
/// Bits of the hash left for the run count.
const Q: usize = 64 - P as usize;
/// Bits per dense register.
const BITS: usize = 6;
const REGISTER_MASK: u64 = (REGISTERS as u64) - 1;
const MAGIC: &[u8; 4] = b"HYLL";
/// Offset of the encoding byte in the header.
const ENCODING_AT: usize = 4;
/// Offset of the cached cardinality in the header.
const CARD_AT: usize = 8;
/// The byte of the header whose top bit marks the cache stale.
const CARD_FLAG_AT: usize = 15;
const CARD_STALE: u8 = 0x80;
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
const HASH_SEED: u64 = 0xadc8_3b19;
/// `1 / (2 ln 2)`, the limit of the bias constant for many registers.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Why a value could not be used as a HyperLogLog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HllError {
    /// The header is wrong (magic, encoding byte, or a dense value's length):
    /// Redis answers `-WRONGTYPE Key is not a valid HyperLogLog string value.`
    NotHll,
    /// The header is right but the sparse code does not decode to exactly 16384
    /// registers: Redis answers `-INVALIDOBJ Corrupted HLL object detected`.
    Corrupt,
}

impl HllError {
    /// The error reply Redis sends for this case, without the leading `-`.
    pub fn message(self) -> &'static str {
        match self {
            HllError::NotHll => crate::error::text::HLL_NOT_HLL,
            HllError::Corrupt => crate::error::text::HLL_CORRUPT,
        }
    }
}

impl fmt::Display for HllError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for HllError {}

// ---------------------------------------------------------------------------
// Header

/// An empty HyperLogLog as Redis creates it: sparse, one `XZERO` of 16384, and a
/// valid cached cardinality of 0.
///
/// `PFADD` on a missing key counts the creation itself as a change, so it replies
/// 1 and marks the cache stale even with no elements: call [`invalidate_cache`]
/// on the new value (an [`add`] that changes a register does it too).
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + 2);
    v.extend_from_slice(MAGIC);
    v.push(ENCODING_SPARSE);
    v.extend_from_slice(&[0; HEADER_LEN - 5]);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        v.extend_from_slice(&xzero_bytes(run));
        left -= run;
    }
    v
}

/// Redis's type check of a HyperLogLog value (`isHLLObjectOrReply`): at least a
/// header, the magic `HYLL`, encoding 0 or 1, and a dense value exactly
/// [`DENSE_LEN`] bytes long. The sparse code is not looked at.
pub fn validate(bytes: &[u8]) -> Result<(), HllError> {
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Err(HllError::NotHll);
    }
    match bytes[ENCODING_AT] {
        ENCODING_SPARSE => Ok(()),
        ENCODING_DENSE if bytes.len() == DENSE_LEN => Ok(()),
        _ => Err(HllError::NotHll),
    }
}

/// Whether the value is sparse. The value must have passed [`validate`].
fn is_sparse(hll: &[u8]) -> bool {
    hll.get(ENCODING_AT) == Some(&ENCODING_SPARSE)
}

/// Marks the cached cardinality stale (sets bit 7 of header byte 15). Does nothing
/// to a value shorter than a header.
pub fn invalidate_cache(hll: &mut [u8]) {
    if let Some(b) = hll.get_mut(CARD_FLAG_AT) {
        *b |= CARD_STALE;
    }
}

/// The cached cardinality, if the header holds one that is not stale (then it is
/// below 2^63).
pub fn cached_count(hll: &[u8]) -> Option<i64> {
    let card: [u8; 8] = hll.get(CARD_AT..HEADER_LEN)?.try_into().ok()?;
    if card[7] & CARD_STALE != 0 {
        return None;
    }
    Some(i64::from_le_bytes(card))
}

/// Name of the value's encoding as `PFDEBUG ENCODING` gives it: `"dense"` or
/// `"sparse"`.
pub fn encoding_name(hll: &[u8]) -> Result<&'static str, HllError> {
    validate(hll)?;
    Ok(if is_sparse(hll) { "sparse" } else { "dense" })
}

// ---------------------------------------------------------------------------
// Hash

/// MurmurHash64A as Redis computes it: 8-byte blocks read little endian on every
/// platform, the tail folded in from its last byte down.
pub fn murmur_hash64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut blocks = key.chunks_exact(8);
    for block in &mut blocks {
        let mut k = u64::from_le_bytes(block.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the count it offers it (Redis's
/// `hllPatLen`): the low 14 bits of the hash, and one plus the number of zeros
/// below the lowest 1 of the other 50 bits (with bit 50 forced, so at most 51).
pub fn register_and_count(element: &[u8]) -> (usize, u8) {
    let hash = murmur_hash64a(element, HASH_SEED);
    let index = (hash & REGISTER_MASK) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------
// Dense registers

type DenseRegs = [u8; DENSE_DATA_LEN];

fn dense_regs(hll: &[u8]) -> Option<&DenseRegs> {
    hll.get(HEADER_LEN..)?.try_into().ok()
}

fn dense_regs_mut(hll: &mut [u8]) -> Option<&mut DenseRegs> {
    hll.get_mut(HEADER_LEN..)?.try_into().ok()
}

/// Register `i` (< 16384) of a dense area.
fn dense_get(regs: &DenseRegs, i: usize) -> u8 {
    let bit = (i % REGISTERS) * BITS;
    let (byte, shift) = (bit / 8, (bit % 8) as u32);
    let low = regs[byte] >> shift;
    if shift > 2 {
        // The register goes on in the next byte, which exists: its last bit is
        // inside the area.
        (low | (regs[byte + 1] << (8 - shift))) & 63
    } else {
        low & 63
    }
}

/// Sets register `i` (< 16384) of a dense area to `v` (<= 63).
fn dense_put(regs: &mut DenseRegs, i: usize, v: u8) {
    let bit = (i % REGISTERS) * BITS;
    let (byte, shift) = (bit / 8, (bit % 8) as u32);
    regs[byte] = (regs[byte] & !(63u8 << shift)) | (v << shift);
    if shift > 2 {
        let rest = 8 - shift;
        regs[byte + 1] = (regs[byte + 1] & !(63u8 >> rest)) | (v >> rest);
    }
}

/// Raises register `i` to `v` if it is lower (Redis's `hllDenseSet`); whether it
/// changed.
fn dense_raise(regs: &mut DenseRegs, i: usize, v: u8) -> bool {
    if v > dense_get(regs, i) {
        dense_put(regs, i, v);
        true
    } else {
        false
    }
}

/// Calls `f(i, value)` for every register of a dense area, in order.
fn dense_for_each(regs: &DenseRegs, mut f: impl FnMut(usize, u8)) {
    for (g, c) in regs.chunks_exact(3).enumerate() {
        let (b0, b1, b2) = (c[0], c[1], c[2]);
        let i = g * 4;
        f(i, b0 & 63);
        f(i + 1, ((b0 >> 6) | (b1 << 2)) & 63);
        f(i + 2, ((b1 >> 4) | (b2 << 4)) & 63);
        f(i + 3, b2 >> 2);
    }
}

// ---------------------------------------------------------------------------
// Sparse code

/// One sparse opcode, with its run length (and value for `VAL`).
#[derive(Debug, Clone, Copy)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    fn run(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }
}

/// The opcode at `buf[at]` (which must exist) and its length in bytes. The second
/// byte of an `XZERO` cut off by the end reads as `past_end`: the byte after
/// Redis's string (its NUL terminator, or what an earlier edit in the same
/// command left there).
fn read_op(buf: &[u8], at: usize, past_end: u8) -> (Op, usize) {
    let b = buf.get(at).copied().unwrap_or(0);
    match b & 0xc0 {
        0x00 => (Op::Zero(usize::from(b & 0x3f) + 1), 1),
        0x40 => {
            let low = buf.get(at + 1).copied().unwrap_or(past_end);
            let n = (usize::from(b & 0x3f) << 8) | usize::from(low);
            (Op::XZero(n + 1), 2)
        }
        _ => (Op::Val(val_value(b), usize::from(b & 3) + 1), 1),
    }
}

fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

fn val_len(b: u8) -> usize {
    usize::from(b & 3) + 1
}

fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}

/// A `VAL` opcode: `value` in 1..=32, `len` in 1..=4.
fn val_byte(value: u8, len: usize) -> u8 {
    0x80 | ((value.wrapping_sub(1) & 0x1f) << 2) | ((len.wrapping_sub(1) & 3) as u8)
}

/// An `XZERO` opcode for `len` in 1..=16384.
fn xzero_bytes(len: usize) -> [u8; 2] {
    let n = len.wrapping_sub(1) & 0x3fff;
    [0x40 | (n >> 8) as u8, (n & 0xff) as u8]
}

/// Writes the opcode for a run of `len` zero registers as Redis picks it (`ZERO`
/// up to 64, else `XZERO`) at `out[0..]`; its length.
fn put_zeros(out: &mut [u8], len: usize) -> usize {
    if len > SPARSE_ZERO_MAX_LEN {
        out[..2].copy_from_slice(&xzero_bytes(len));
        2
    } else {
        out[0] = (len - 1) as u8;
        1
    }
}

/// The opcodes of a sparse code, in order (`past_end` as for [`read_op`]).
struct Ops<'a> {
    code: &'a [u8],
    at: usize,
    past_end: u8,
}

impl<'a> Ops<'a> {
    fn new(code: &'a [u8], past_end: u8) -> Self {
        Ops {
            code,
            at: 0,
            past_end,
        }
    }
}

impl Iterator for Ops<'_> {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        if self.at >= self.code.len() {
            return None;
        }
        let (op, len) = read_op(self.code, self.at, self.past_end);
        self.at += len;
        Some(op)
    }
}

/// Calls `f(i, value)` for each non-zero register of a sparse code (the bytes
/// after the header); `Corrupt` unless the code covers exactly 16384 registers.
/// `f` may have been called for some registers before the error is found.
fn sparse_for_each(
    code: &[u8],
    past_end: u8,
    mut f: impl FnMut(usize, u8),
) -> Result<(), HllError> {
    let mut idx = 0usize;
    for op in Ops::new(code, past_end) {
        let run = op.run();
        if idx + run > REGISTERS {
            return Err(HllError::Corrupt);
        }
        if let Op::Val(v, _) = op {
            for i in idx..idx + run {
                f(i, v);
            }
        }
        idx += run;
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(HllError::Corrupt)
    }
}

/// The register histogram of a sparse code (the bytes after the header).
fn sparse_histogram(code: &[u8], histo: &mut [u32; 64]) -> Result<(), HllError> {
    let mut idx = 0usize;
    for op in Ops::new(code, 0) {
        let run = op.run();
        if idx + run > REGISTERS {
            return Err(HllError::Corrupt);
        }
        let slot = match op {
            Op::Val(v, _) => usize::from(v),
            _ => 0,
        };
        histo[slot] += run as u32;
        idx += run;
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(HllError::Corrupt)
    }
}

/// The dense value with the same registers as a sparse one (Redis's
/// `hllSparseToDense`): the header is copied whole (cache included), only the
/// encoding byte changes.
fn sparse_to_dense(hll: &[u8], past_end: u8) -> Result<Vec<u8>, HllError> {
    let header = hll.get(..HEADER_LEN).ok_or(HllError::NotHll)?;
    let mut out = vec![0u8; DENSE_LEN];
    out[..HEADER_LEN].copy_from_slice(header);
    out[ENCODING_AT] = ENCODING_DENSE;
    let regs = dense_regs_mut(&mut out).ok_or(HllError::Corrupt)?;
    sparse_for_each(&hll[HEADER_LEN..], past_end, |i, v| dense_put(regs, i, v))?;
    Ok(out)
}

/// What a sparse edit came to.
enum SparseEdit {
    /// The register already held at least the count.
    Unchanged,
    /// The code was edited in place.
    Updated,
    /// The value must turn dense first.
    Promote,
    /// The code does not reach the register.
    Corrupt,
}

/// Raises register `index` of a sparse value to `count` (Redis's
/// `hllSparseSet`), turning the value dense when the sparse code cannot hold the
/// result within `sparse_max_bytes`. Whether the register changed. Does not touch
/// the cache flag.
///
/// `past_end` is the byte after Redis's string: 0 (its terminator) for a value
/// just read, but an edit can leave another byte there (the last byte of its new
/// opcodes falls past the end when the code ended in a cut-off `XZERO`), which
/// the next edit in the same command reads; it is updated here.
fn sparse_raise(
    hll: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max_bytes: usize,
    past_end: &mut u8,
) -> Result<bool, HllError> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(hll, index, count, *past_end);
    }
    // Work as Redis does on its string: the byte after the end, and room for the
    // up to 3 bytes an edit adds. `len` is the string's length meanwhile.
    let mut len = hll.len();
    hll.extend_from_slice(&[*past_end, 0, 0, 0]);
    let edit = sparse_edit(hll, &mut len, index, count, sparse_max_bytes);
    *past_end = hll[len];
    hll.truncate(len);
    match edit {
        SparseEdit::Unchanged => Ok(false),
        SparseEdit::Updated => Ok(true),
        SparseEdit::Promote => promote(hll, index, count, *past_end),
        SparseEdit::Corrupt => Err(HllError::Corrupt),
    }
}

/// Converts a sparse value to dense, then raises the register.
fn promote(hll: &mut Vec<u8>, index: usize, count: u8, past_end: u8) -> Result<bool, HllError> {
    *hll = sparse_to_dense(hll, past_end)?;
    let regs = dense_regs_mut(hll).ok_or(HllError::Corrupt)?;
    Ok(dense_raise(regs, index, count))
}

/// The in-place edit of [`sparse_raise`] on `buf[..*len]`, with `buf` at least
/// 4 bytes longer (a zero terminator and room to grow).
fn sparse_edit(
    buf: &mut [u8],
    len: &mut usize,
    index: usize,
    count: u8,
    sparse_max_bytes: usize,
) -> SparseEdit {
    let end = *len;

    // Find the opcode covering the register.
    let mut p = HEADER_LEN;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut found = None;
    while p < end {
        let (op, oplen) = read_op(buf, p, 0);
        if index < first + op.run() {
            found = Some((op, oplen));
            break;
        }
        prev = Some(p);
        p += oplen;
        first += op.run();
    }
    let Some((op, oplen)) = found else {
        return SparseEdit::Corrupt;
    };
    let next = p + oplen;
    let span = op.run();

    // The cases that rewrite one byte in place.
    match op {
        Op::Val(old, run) => {
            if old >= count {
                return SparseEdit::Unchanged;
            }
            if run == 1 {
                buf[p] = val_byte(count, 1);
                join_vals(buf, len, prev.unwrap_or(HEADER_LEN));
                return SparseEdit::Updated;
            }
        }
        Op::Zero(1) => {
            buf[p] = val_byte(count, 1);
            join_vals(buf, len, prev.unwrap_or(HEADER_LEN));
            return SparseEdit::Updated;
        }
        _ => {}
    }

    // Split the opcode into up to three: before, the register, after.
    let last = first + span - 1;
    let mut seq = [0u8; 5];
    let mut n = 0;
    match op {
        Op::Zero(_) | Op::XZero(_) => {
            if index != first {
                n += put_zeros(&mut seq[n..], index - first);
            }
            seq[n] = val_byte(count, 1);
            n += 1;
            if index != last {
                n += put_zeros(&mut seq[n..], last - index);
            }
        }
        Op::Val(current, _) => {
            if index != first {
                seq[n] = val_byte(current, index - first);
                n += 1;
            }
            seq[n] = val_byte(count, 1);
            n += 1;
            if index != last {
                seq[n] = val_byte(current, last - index);
                n += 1;
            }
        }
    }

    // Put the new opcodes in place of the old one, unless the string would grow
    // past the limit.
    if n > oplen && end + (n - oplen) > sparse_max_bytes {
        return SparseEdit::Promote;
    }
    let new_len = end + n - oplen;
    if n != oplen && next < end {
        buf.copy_within(next..end, next + n - oplen);
    }
    *len = new_len;
    buf[new_len] = 0;
    buf[p..p + n].copy_from_slice(&seq[..n]);

    join_vals(buf, len, prev.unwrap_or(HEADER_LEN));
    SparseEdit::Updated
}

/// Joins neighbouring `VAL` opcodes of the same value whose runs fit in one,
/// looking at up to 5 opcodes from `start` (Redis's step after an edit).
fn join_vals(buf: &mut [u8], len: &mut usize, start: usize) {
    let mut end = *len;
    let mut p = start;
    let mut scan = 5;
    while p < end && scan > 0 {
        scan -= 1;
        let b = buf[p];
        match b & 0xc0 {
            0x40 => {
                p += 2;
                continue;
            }
            0x00 => {
                p += 1;
                continue;
            }
            _ => {}
        }
        if p + 1 < end && is_val(buf[p + 1]) {
            let value = val_value(b);
            let run = val_len(b) + val_len(buf[p + 1]);
            if value == val_value(buf[p + 1]) && run <= SPARSE_VAL_MAX_LEN {
                buf[p + 1] = val_byte(value, run);
                // Shift the rest (and the terminator) one byte left, then look at
                // the joined opcode again.
                buf.copy_within(p + 1..end + 1, p);
                end -= 1;
                buf[end] = 0;
                continue;
            }
        }
        p += 1;
    }
    *len = end;
}

// ---------------------------------------------------------------------------
// Commands' operations

/// Adds an element (one `PFADD` argument): raises its register, editing the
/// sparse code or turning the value dense as Redis does. Returns whether a
/// register changed; if so, the cache is already marked stale here.
///
/// `NotHll` if the value fails [`validate`]; `Corrupt` if a sparse code does not
/// reach the register or cannot be converted when it must turn dense (Redis then
/// replies the error but keeps what earlier elements of the same `PFADD` did).
/// A dense add is O(1) and does not allocate.
///
/// For the elements of one `PFADD`, [`add_all`] is the same except for broken
/// sparse values, where it also carries Redis's state between the elements.
pub fn add(hll: &mut Vec<u8>, element: &[u8], sparse_max_bytes: usize) -> Result<bool, HllError> {
    add_one(hll, element, sparse_max_bytes, &mut 0)
}

/// Adds the elements of one `PFADD` in order, as [`add`] each; whether any
/// register changed (the cache is then marked stale). Stops at the first error,
/// keeping what the elements before it did, as Redis does.
///
/// Unlike separate [`add`] calls, this reproduces Redis to the byte even on a
/// broken sparse code that ends in a cut-off `XZERO`, where Redis's edits read
/// the byte after the string, which an edit for an earlier element of the same
/// command may have set.
pub fn add_all<'a>(
    hll: &mut Vec<u8>,
    elements: impl IntoIterator<Item = &'a [u8]>,
    sparse_max_bytes: usize,
) -> Result<bool, HllError> {
    validate(hll)?;
    let mut past_end = 0;
    let mut changed = false;
    for element in elements {
        changed |= add_one(hll, element, sparse_max_bytes, &mut past_end)?;
    }
    Ok(changed)
}

fn add_one(
    hll: &mut Vec<u8>,
    element: &[u8],
    sparse_max_bytes: usize,
    past_end: &mut u8,
) -> Result<bool, HllError> {
    validate(hll)?;
    let (index, count) = register_and_count(element);
    let changed = if is_sparse(hll) {
        sparse_raise(hll, index, count, sparse_max_bytes, past_end)?
    } else {
        match dense_regs_mut(hll) {
            Some(regs) => dense_raise(regs, index, count),
            None => return Err(HllError::NotHll),
        }
    };
    if changed {
        invalidate_cache(hll);
    }
    Ok(changed)
}

/// The cardinality of one value (`PFCOUNT key`): the cached one if it is valid
/// (without looking at the registers, as Redis), else computed and stored in the
/// header. The flag says whether the header changed (the caller writes the value
/// back).
///
/// The number is what Redis replies, a signed integer: in the degenerate case of
/// a hand-made dense value whose registers are all 51 or more, Redis's rounding
/// overflows and it replies `-9223372036854775808` (and the stored cache, `2^63`,
/// reads as stale).
pub fn count(hll: &mut [u8]) -> Result<(i64, bool), HllError> {
    validate(hll)?;
    if let Some(card) = cached_count(hll) {
        return Ok((card, false));
    }
    let mut histo = [0u32; 64];
    if is_sparse(hll) {
        sparse_histogram(&hll[HEADER_LEN..], &mut histo)?;
    } else {
        let regs = dense_regs(hll).ok_or(HllError::NotHll)?;
        dense_for_each(regs, |_, v| histo[usize::from(v)] += 1);
    }
    let card = estimate(&histo);
    hll[CARD_AT..HEADER_LEN].copy_from_slice(&card.to_le_bytes());
    Ok((card as i64, true))
}

/// Converts a sparse value to dense in place (`PFDEBUG TODENSE`, and the first
/// step of `PFDEBUG GETREG`); the header (cache included) is kept. Whether it was
/// converted (false: it was dense already).
pub fn to_dense(hll: &mut Vec<u8>) -> Result<bool, HllError> {
    validate(hll)?;
    if !is_sparse(hll) {
        return Ok(false);
    }
    *hll = sparse_to_dense(hll, 0)?;
    Ok(true)
}

/// The 16384 register values, in order, of a dense or sparse value. `PFDEBUG
/// GETREG` is [`to_dense`] (Redis stores the converted value) and then this.
pub fn registers(hll: &[u8]) -> Result<Vec<u8>, HllError> {
    validate(hll)?;
    let mut out = vec![0u8; REGISTERS];
    if is_sparse(hll) {
        sparse_for_each(&hll[HEADER_LEN..], 0, |i, v| out[i] = v)?;
    } else {
        let regs = dense_regs(hll).ok_or(HllError::NotHll)?;
        dense_for_each(regs, |i, v| out[i] = v);
    }
    Ok(out)
}

/// The sparse code as `PFDEBUG DECODE` prints it: `z:N` for `ZERO`, `Z:N` for
/// `XZERO`, `v:VALUE,N` for `VAL`, separated by spaces. `None` for a dense value
/// (Redis: "HLL encoding is not sparse"). The code is printed as found, even if
/// it does not cover 16384 registers.
pub fn decode_sparse(hll: &[u8]) -> Result<Option<String>, HllError> {
    use fmt::Write as _;
    validate(hll)?;
    if !is_sparse(hll) {
        return Ok(None);
    }
    let mut out = String::new();
    for op in Ops::new(&hll[HEADER_LEN..], 0) {
        if !out.is_empty() {
            out.push(' ');
        }
        // Writing into a String cannot fail.
        let _ = match op {
            Op::Zero(n) => write!(out, "z:{n}"),
            Op::XZero(n) => write!(out, "Z:{n}"),
            Op::Val(v, n) => write!(out, "v:{v},{n}"),
        };
    }
    Ok(Some(out))
}

/// The registers of several values folded together, each the largest value seen
/// (Redis's in-memory "raw" encoding, one byte per register), as `PFCOUNT` of
/// several keys and `PFMERGE` build it.
#[derive(Clone)]
pub struct Registers {
    regs: Box<[u8; REGISTERS]>,
    saw_dense: bool,
}

impl Default for Registers {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Registers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nonzero = self.regs.iter().filter(|&&v| v != 0).count();
        f.debug_struct("Registers")
            .field("nonzero", &nonzero)
            .field("saw_dense", &self.saw_dense)
            .finish()
    }
}

impl Registers {
    /// All registers 0 (what a missing key contributes).
    pub fn new() -> Self {
        Registers {
            regs: Box::new([0; REGISTERS]),
            saw_dense: false,
        }
    }

    /// Folds one value in (Redis's `hllMerge`): `NotHll` if it fails
    /// [`validate`], `Corrupt` if its sparse code does not decode, in which case
    /// the registers may be partly merged (Redis then drops them).
    pub fn merge(&mut self, hll: &[u8]) -> Result<(), HllError> {
        validate(hll)?;
        let regs = &mut self.regs;
        if is_sparse(hll) {
            sparse_for_each(&hll[HEADER_LEN..], 0, |i, v| {
                if v > regs[i] {
                    regs[i] = v;
                }
            })
        } else {
            let dense = dense_regs(hll).ok_or(HllError::NotHll)?;
            self.saw_dense = true;
            dense_for_each(dense, |i, v| {
                if v > regs[i] {
                    regs[i] = v;
                }
            });
            Ok(())
        }
    }

    /// Whether any merged value was dense (then `PFMERGE` writes a dense value).
    pub fn saw_dense(&self) -> bool {
        self.saw_dense
    }

    /// The register values.
    pub fn values(&self) -> &[u8; REGISTERS] {
        &self.regs
    }

    /// The cardinality estimate of these registers as Redis replies it (`PFCOUNT`
    /// of several keys; nothing is cached). See [`count`] for the one negative
    /// answer.
    pub fn count(&self) -> i64 {
        let mut histo = [0u32; 64];
        for &v in self.regs.iter() {
            histo[usize::from(v & 63)] += 1;
        }
        estimate(&histo) as i64
    }

    /// The destination value of `PFMERGE dest src...` as Redis 7.0 writes it.
    ///
    /// `dest` is the destination's current value (`None` if the key is missing),
    /// which the caller must also have merged in, as Redis counts the destination
    /// among the sources. Starting from it (or from [`new_sparse`]), the value is
    /// made dense if any merged value was dense; otherwise it stays sparse, and
    /// every non-zero register is raised in index order with the same edits as
    /// [`add`], so it turns dense only where `PFADD` would (a register above 32,
    /// or growth past `sparse_max_bytes`). The cache is marked stale.
    pub fn write_to(
        &self,
        dest: Option<&[u8]>,
        sparse_max_bytes: usize,
    ) -> Result<Vec<u8>, HllError> {
        let mut out = match dest {
            Some(d) => {
                validate(d)?;
                d.to_vec()
            }
            None => new_sparse(),
        };
        if self.saw_dense {
            to_dense(&mut out)?;
        }
        let mut past_end = 0;
        for (i, &v) in self.regs.iter().enumerate() {
            if v == 0 {
                continue;
            }
            if is_sparse(&out) {
                // Redis ignores a failed edit here (the sources decoded, so the
                // destination, one of them, does too).
                let _ = sparse_raise(&mut out, i, v, sparse_max_bytes, &mut past_end);
            } else if let Some(regs) = dense_regs_mut(&mut out) {
                dense_raise(regs, i, v);
            }
        }
        invalidate_cache(&mut out);
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// Estimator

/// Cardinality from the register histogram (Ertl's improved estimator, in Redis's
/// operation order), as the unsigned number Redis caches.
fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histo[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    // Redis rounds with `llroundl`, which gives i64::MIN when the value does not
    // fit (z == 0 when every register is 51 or more, or a z so small that the
    // estimate passes 2^63); that, as an unsigned number, is 2^63.
    let e = (ALPHA_INF * m * m / z).round();
    if e.is_finite() && e.abs() < 9_223_372_036_854_775_808.0 {
        e as i64 as u64
    } else {
        1 << 63
    }
}

/// `x + x^2 + 2 x^4 + 4 x^8 + ...`, summed until it stops changing (infinite at
/// 1).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

/// `(1 - x - sum (1 - x^(2^-k))^2 2^-k) / 3`, summed until it stops changing (0 at
/// 0 and 1).
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if z == before {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a 64, continuing from `h` (the checksum the oracle scripts used).
    fn fnv_from(h: u64, data: &[u8]) -> u64 {
        data.iter()
            .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    }

    const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

    fn fnv(data: &[u8]) -> u64 {
        fnv_from(FNV_START, data)
    }

    fn hex(data: &[u8]) -> String {
        data.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// `PFADD key elements...` on a key that may be missing; the reply (1/0) or
    /// the error. The key keeps what the adds before an error did, as in Redis.
    fn pfadd(key: &mut Option<Vec<u8>>, elements: &[&[u8]], max: usize) -> Result<i64, HllError> {
        let mut updated = false;
        let hll = match key {
            Some(v) => {
                validate(v)?;
                v
            }
            None => {
                updated = true;
                let v = key.insert(new_sparse());
                invalidate_cache(v);
                v
            }
        };
        updated |= add_all(hll, elements.iter().copied(), max)?;
        Ok(i64::from(updated))
    }

    fn build(prefix: &str, n: usize) -> Vec<u8> {
        let names: Vec<String> = (1..=n).map(|i| format!("{prefix}{i}")).collect();
        let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
        let mut key = None;
        pfadd(&mut key, &refs, DEFAULT_SPARSE_MAX_BYTES).unwrap();
        key.unwrap()
    }

    struct SeqCase {
        limit: usize,
        promoted_at: usize,
        roll: u64,
        before_len: usize,
        before: u64,
        after: u64,
    }

    struct MergeCase {
        encoding: &'static str,
        fnv: u64,
        len: usize,
        count: i64,
    }

    // ---- Answers recorded from redis-server 7.0.15 (Debian 7.0.15-1~deb12u10) ----
    const SEQ_3000: SeqCase = SeqCase {
        limit: 3000,
        promoted_at: 1684,
        roll: 3330662006581022713,
        before_len: 3000,
        before: 14620983312442480959,
        after: 18446743310658558139,
    };
    const SEQ_300: SeqCase = SeqCase {
        limit: 300,
        promoted_at: 107,
        roll: 621545063670274507,
        before_len: 300,
        before: 9214783944773566128,
        after: 18190736747551185351,
    };
    const SEQ_0: SeqCase = SeqCase {
        limit: 0,
        promoted_at: 1,
        roll: 9472893389278654874,
        before_len: 0,
        before: 0,
        after: 9472893389278654874,
    };
    const SEQ_FULL: (u64, usize, u64, i64, u64) = (
        1548800606125071443,
        2817,
        9299901207177553030,
        2979,
        12085201082370892708,
    );
    const TARGETED: (usize, &str, u64, &str, &str, u64) = (
        400,
        "k768713",
        2090610314925933721,
        "48594c4c0100000000000000000000804063a8a0989194997f93",
        "Z:100 v:11,1 v:9,1 v:7,1 v:5,2 v:6,1 v:7,2 Z:16276",
        11393720969773457002,
    );
    const COUNTS: &[(usize, i64, &str, u64, u64, usize)] = &[
        (
            1,
            1,
            "sparse",
            1975279967053378393,
            14017976465882887714,
            21,
        ),
        (
            10,
            10,
            "sparse",
            2340597098189830343,
            13224008560062334633,
            48,
        ),
        (
            100,
            100,
            "sparse",
            13955279730364668385,
            1845177493362394053,
            285,
        ),
        (
            1000,
            1008,
            "sparse",
            1939350440662840480,
            10041164037626508985,
            1906,
        ),
        (
            5000,
            4968,
            "dense",
            1142033394717291946,
            4744369073871741863,
            12304,
        ),
        (
            100000,
            100853,
            "dense",
            12663866051257934792,
            18239510555548663395,
            12304,
        ),
        (
            1000000,
            991657,
            "dense",
            1430198289960461126,
            2771991971277163163,
            12304,
        ),
    ];
    const MERGE_AB: MergeCase = MergeCase {
        encoding: "sparse",
        fnv: 2073630700081247875,
        len: 332,
        count: 120,
    };
    const MERGE_AD: MergeCase = MergeCase {
        encoding: "dense",
        fnv: 12915474428837796302,
        len: 12304,
        count: 5087,
    };
    const MERGE_XY: MergeCase = MergeCase {
        encoding: "dense",
        fnv: 14532935091515626633,
        len: 12304,
        count: 2397,
    };
    const MERGE_INTO: MergeCase = MergeCase {
        encoding: "sparse",
        fnv: 5852745739133630979,
        len: 340,
        count: 124,
    };
    const MERGE_NONE: MergeCase = MergeCase {
        encoding: "sparse",
        fnv: 5930048207339652473,
        len: 18,
        count: 0,
    };
    const MERGE_AB_HEX: &str = "48594c4c0100000078000000000000004067841a882d8440fc8040ee804060884130901f80404780404f8040ff9440438041368c288c40a58442668840c0904132843988405380411a880688409d8040468004800b8001800b80406484088c1d8c408d904085841780258c348040d498048c40d684018040ab8040c6800388416f8040da84407b840784228840678442ce84248440948041808041958041b28040e18c404e841d8040b08040a280406d8440db903e8840bf904081882e8040518040638040598041d98041d980148c17841b84409184209c0180420c8440e888409f80418880404e8840508035803780407f802480404a80404e802784188803844155800684405d803788405f80288014841f8440a59817842180049040408040eb8040d08041ca84405a80128440508840dc844078804086800c844071884085804085801a904062844049";
    const MERGE_INTO_HEX: &str = "48594c4c010000007c000000000000004067841a882d8440fc8040ee804060884130901f80404780404f8040ff9440438041368c288c40a58442668840c0904132843988405380411a880688409d8040468004800b8001800b80406484088c1d8c408d904085841780258c348040d498048c40d684018040a390068040c6800388416f8040da84407b840784228840678442ce842484409480418080419580417880388040e18c404e841d8040b08040a280406d8440db903e8840bf9040498036882e8040518040638040598041d98041d980148c17841b84409184209c0180420c8440e888409f80418880404e8840508035803780407f802480404a80404e802784188803844155800684405d803788405f80288014841f8440a59817842180049040408040eb8040d08041ca84405a800088108440508840dc844078804086800c844071884085804085801a904062844049";
    const MERGE_NONE_HEX: &str = "48594c4c0100000000000000000000007fff";
    const DECODE_AB: &str = "Z:132 v:3,1 Z:300 v:1,1 Z:337 v:3,1 Z:492 v:1,1 Z:256 v:6,1 Z:422 v:4,1 Z:166 v:2,1 Z:1553 v:3,1 Z:158 v:1,1 Z:93 v:1,1 Z:551 v:1,1 Z:213 v:7,1 z:5 v:4,1 Z:218 v:1,1 Z:372 v:1,1 z:4 v:3,1 Z:368 v:1,1 Z:219 v:2,1 Z:124 v:2,1 z:44 v:3,1 Z:824 v:2,1 Z:573 v:1,1 Z:1149 v:2,1 Z:208 v:1,1 Z:163 v:1,1 Z:110 v:2,1 Z:220 v:5,1 z:63 v:3,1 Z:454 v:1,1 Z:191 v:1,1 Z:996 v:2,1 Z:175 v:2,1 z:33 v:8,1 Z:528 v:2,1 Z:868 v:3,1 Z:81 v:1,1 Z:111 v:1,1 Z:242 v:1,1 Z:502 v:2,1 Z:151 v:3,1 Z:160 v:2,1 Z:199 v:7,1 z:24 v:2,1 z:40 v:5,1 Z:972 v:2,1 Z:193 v:3,1 Z:479 v:1,1 z:13 v:2,1 Z:384 v:1,1 Z:127 v:2,1 Z:74";
    const PFCOUNT_MULTI: (i64, i64, i64) = (120, 5161, 2397);
    const GETREG_A: (u64, u64, &str) = (5011899298704682378, 16549690860999871835, "dense");
    const DENSE_HIGH: (i64, &str, i64, u64) =
        (6, "list:16384:2896182098880815065", 6, 5270404465637686390);
    const DENSE_ALL: &[(u8, i64)] = &[(1, 23637), (20, 12392656037), (51, -9223372036854775808)];
    /// (case, command, reply, the key's bytes afterwards: hex, or `fnv` and the FNV-1a).
    const BROKEN: &[(&str, &str, &str, &str)] = &[
        (
            "trunc_xzero",
            "PFCOUNT k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807f",
        ),
        (
            "trunc_xzero",
            "PFCOUNT k other",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807f",
        ),
        (
            "trunc_xzero",
            "PFADD k zz",
            "1",
            "48594c4c0100000000000000000000804ad98074",
        ),
        (
            "trunc_xzero",
            "PFADD k hello zz",
            "1",
            "48594c4c0100000000000000000000804ad9805924805a",
        ),
        (
            "trunc_xzero",
            "PFDEBUG DECODE k",
            "Z:16129",
            "48594c4c0100000000000000000000807f",
        ),
        (
            "trunc_xzero",
            "PFDEBUG GETREG k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807f",
        ),
        (
            "trunc_xzero",
            "PFMERGE dst k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807f",
        ),
        (
            "past_end",
            "PFCOUNT k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807fff00",
        ),
        (
            "past_end",
            "PFCOUNT k other",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807fff00",
        ),
        (
            "past_end",
            "PFADD k zz",
            "1",
            "48594c4c0100000000000000000000804ad980752400",
        ),
        (
            "past_end",
            "PFADD k hello zz",
            "1",
            "48594c4c0100000000000000000000804ad9805924805bfe00",
        ),
        (
            "past_end",
            "PFDEBUG DECODE k",
            "Z:16384 z:1",
            "48594c4c0100000000000000000000807fff00",
        ),
        (
            "past_end",
            "PFDEBUG GETREG k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807fff00",
        ),
        (
            "past_end",
            "PFMERGE dst k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807fff00",
        ),
        (
            "short",
            "PFCOUNT k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807f00",
        ),
        (
            "short",
            "PFCOUNT k other",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807f00",
        ),
        (
            "short",
            "PFADD k zz",
            "1",
            "48594c4c0100000000000000000000804ad9807425",
        ),
        (
            "short",
            "PFADD k hello zz",
            "1",
            "48594c4c0100000000000000000000804ad9805924805aff",
        ),
        (
            "short",
            "PFDEBUG DECODE k",
            "Z:16129",
            "48594c4c0100000000000000000000807f00",
        ),
        (
            "short",
            "PFDEBUG GETREG k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807f00",
        ),
        (
            "short",
            "PFMERGE dst k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807f00",
        ),
        (
            "empty_code",
            "PFCOUNT k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c010000000000000000000080",
        ),
        (
            "empty_code",
            "PFCOUNT k other",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c010000000000000000000080",
        ),
        (
            "empty_code",
            "PFADD k zz",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c010000000000000000000080",
        ),
        (
            "empty_code",
            "PFADD k hello zz",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c010000000000000000000080",
        ),
        (
            "empty_code",
            "PFDEBUG DECODE k",
            "",
            "48594c4c010000000000000000000080",
        ),
        (
            "empty_code",
            "PFDEBUG GETREG k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c010000000000000000000080",
        ),
        (
            "empty_code",
            "PFMERGE dst k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c010000000000000000000080",
        ),
        (
            "val_past",
            "PFCOUNT k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807ffe83",
        ),
        (
            "val_past",
            "PFCOUNT k other",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807ffe83",
        ),
        (
            "val_past",
            "PFADD k zz",
            "1",
            "48594c4c0100000000000000000000804ad980752383",
        ),
        (
            "val_past",
            "PFADD k hello zz",
            "1",
            "48594c4c0100000000000000000000804ad9805924805bfd83",
        ),
        (
            "val_past",
            "PFDEBUG DECODE k",
            "Z:16383 v:1,4",
            "48594c4c0100000000000000000000807ffe83",
        ),
        (
            "val_past",
            "PFDEBUG GETREG k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807ffe83",
        ),
        (
            "val_past",
            "PFMERGE dst k",
            "ERR INVALIDOBJ Corrupted HLL object detected",
            "48594c4c0100000000000000000000807ffe83",
        ),
        (
            "weird_valid",
            "PFCOUNT k",
            "0",
            "48594c4c0100000000000000000000003f3f3f3e7f",
        ),
        (
            "weird_valid",
            "PFCOUNT k other",
            "1",
            "48594c4c0100000000000000000000803f3f3f3e7f",
        ),
        (
            "weird_valid",
            "PFADD k zz",
            "1",
            "48594c4c0100000000000000000000803f3f3f3e49da8075",
        ),
        (
            "weird_valid",
            "PFADD k hello zz",
            "1",
            "48594c4c0100000000000000000000803f3f3f3e49da805924805b",
        ),
        (
            "weird_valid",
            "PFDEBUG DECODE k",
            "z:64 z:64 z:64 z:63 Z:16129",
            "48594c4c0100000000000000000000803f3f3f3e7f",
        ),
        (
            "weird_valid",
            "PFDEBUG GETREG k",
            "list:16384:11248824735641314085",
            "fnv17089910885183177754",
        ),
        (
            "weird_valid",
            "PFMERGE dst k",
            "OK",
            "48594c4c0100000000000000000000803f3f3f3e7f",
        ),
        (
            "dense_short",
            "PFCOUNT k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv828880437649693310",
        ),
        (
            "dense_short",
            "PFCOUNT k other",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv828880437649693310",
        ),
        (
            "dense_short",
            "PFADD k zz",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv828880437649693310",
        ),
        (
            "dense_short",
            "PFADD k hello zz",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv828880437649693310",
        ),
        (
            "dense_short",
            "PFDEBUG DECODE k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv828880437649693310",
        ),
        (
            "dense_short",
            "PFDEBUG GETREG k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv828880437649693310",
        ),
        (
            "dense_short",
            "PFMERGE dst k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv828880437649693310",
        ),
        (
            "dense_long",
            "PFCOUNT k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv7910791188566849582",
        ),
        (
            "dense_long",
            "PFCOUNT k other",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv7910791188566849582",
        ),
        (
            "dense_long",
            "PFADD k zz",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv7910791188566849582",
        ),
        (
            "dense_long",
            "PFADD k hello zz",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv7910791188566849582",
        ),
        (
            "dense_long",
            "PFDEBUG DECODE k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv7910791188566849582",
        ),
        (
            "dense_long",
            "PFDEBUG GETREG k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv7910791188566849582",
        ),
        (
            "dense_long",
            "PFMERGE dst k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "fnv7910791188566849582",
        ),
        (
            "bad_magic",
            "PFCOUNT k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c580100000000000000000000007fff",
        ),
        (
            "bad_magic",
            "PFCOUNT k other",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c580100000000000000000000007fff",
        ),
        (
            "bad_magic",
            "PFADD k zz",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c580100000000000000000000007fff",
        ),
        (
            "bad_magic",
            "PFADD k hello zz",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c580100000000000000000000007fff",
        ),
        (
            "bad_magic",
            "PFDEBUG DECODE k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c580100000000000000000000007fff",
        ),
        (
            "bad_magic",
            "PFDEBUG GETREG k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c580100000000000000000000007fff",
        ),
        (
            "bad_magic",
            "PFMERGE dst k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c580100000000000000000000007fff",
        ),
        (
            "enc2",
            "PFCOUNT k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c0200000000000000000000007fff",
        ),
        (
            "enc2",
            "PFCOUNT k other",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c0200000000000000000000007fff",
        ),
        (
            "enc2",
            "PFADD k zz",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c0200000000000000000000007fff",
        ),
        (
            "enc2",
            "PFADD k hello zz",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c0200000000000000000000007fff",
        ),
        (
            "enc2",
            "PFDEBUG DECODE k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c0200000000000000000000007fff",
        ),
        (
            "enc2",
            "PFDEBUG GETREG k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c0200000000000000000000007fff",
        ),
        (
            "enc2",
            "PFMERGE dst k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c0200000000000000000000007fff",
        ),
        (
            "tiny",
            "PFCOUNT k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c01",
        ),
        (
            "tiny",
            "PFCOUNT k other",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c01",
        ),
        (
            "tiny",
            "PFADD k zz",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c01",
        ),
        (
            "tiny",
            "PFADD k hello zz",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c01",
        ),
        (
            "tiny",
            "PFDEBUG DECODE k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c01",
        ),
        (
            "tiny",
            "PFDEBUG GETREG k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c01",
        ),
        (
            "tiny",
            "PFMERGE dst k",
            "ERR WRONGTYPE Key is not a valid HyperLogLog string value.",
            "48594c4c01",
        ),
        (
            "notused",
            "PFCOUNT k",
            "0",
            "48594c4c01aabbcc00000000000000007fff",
        ),
        (
            "notused",
            "PFCOUNT k other",
            "1",
            "48594c4c01aabbcc00000000000000807fff",
        ),
        (
            "notused",
            "PFADD k zz",
            "1",
            "48594c4c01aabbcc00000000000000804ad9807524",
        ),
        (
            "notused",
            "PFADD k hello zz",
            "1",
            "48594c4c01aabbcc00000000000000804ad9805924805bfe",
        ),
        (
            "notused",
            "PFDEBUG DECODE k",
            "Z:16384",
            "48594c4c01aabbcc00000000000000807fff",
        ),
        (
            "notused",
            "PFDEBUG GETREG k",
            "list:16384:11248824735641314085",
            "fnv4056286982429517979",
        ),
        (
            "notused",
            "PFMERGE dst k",
            "OK",
            "48594c4c01aabbcc00000000000000807fff",
        ),
    ];

    #[test]
    fn hash_picks_redis_register() {
        // PFADD chk hello; PFDEBUG DECODE chk gave "Z:9216 v:1,1 Z:7167".
        assert_eq!(register_and_count(b"hello"), (9216, 1));
        let mut key = None;
        pfadd(&mut key, &[b"hello"], DEFAULT_SPARSE_MAX_BYTES).unwrap();
        assert_eq!(
            decode_sparse(key.as_ref().unwrap()).unwrap().unwrap(),
            "Z:9216 v:1,1 Z:7167"
        );
    }

    #[test]
    fn first_adds_give_redis_bytes() {
        assert_eq!(hex(&new_sparse()), MERGE_NONE_HEX);
        let mut key = None;
        assert_eq!(pfadd(&mut key, &[], 3000), Ok(1));
        assert_eq!(
            hex(key.as_ref().unwrap()),
            "48594c4c0100000000000000000000807fff"
        );

        let mut key = None;
        assert_eq!(pfadd(&mut key, &[b"a", b"b", b"c"], 3000), Ok(1));
        let mut h = key.unwrap();
        assert_eq!(
            hex(&h),
            "48594c4c01000000000000000000008060f38050b1844bfb80425a"
        );
        assert_eq!(
            decode_sparse(&h).unwrap().unwrap(),
            "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603"
        );
        assert_eq!(count(&mut h), Ok((3, true)));
        assert_eq!(
            hex(&h),
            "48594c4c01000000030000000000000060f38050b1844bfb80425a"
        );
        assert_eq!(count(&mut h), Ok((3, false)));
        // Adding what is there changes nothing, not even the cache.
        let mut key = Some(h.clone());
        assert_eq!(pfadd(&mut key, &[b"a", b"c"], 3000), Ok(0));
        assert_eq!(key.unwrap(), h);
    }

    #[test]
    fn every_state_and_the_promotion_match_redis() {
        for case in [SEQ_3000, SEQ_300, SEQ_0] {
            let mut key: Option<Vec<u8>> = None;
            let mut roll = FNV_START;
            let mut found = None;
            for i in 1..=3000 {
                let before = key.clone();
                let e = format!("e{i}");
                pfadd(&mut key, &[e.as_bytes()], case.limit).unwrap();
                let cur = key.as_ref().unwrap();
                roll = fnv_from(roll, cur);
                if encoding_name(cur).unwrap() == "dense" {
                    found = Some((i, before));
                    break;
                }
            }
            let (i, before) = found.unwrap();
            assert_eq!(i, case.promoted_at, "limit {}", case.limit);
            assert_eq!(roll, case.roll, "limit {}", case.limit);
            let (blen, bfnv) = before.map_or((0, 0), |b| (b.len(), fnv(&b)));
            assert_eq!((blen, bfnv), (case.before_len, case.before));
            assert_eq!(fnv(&key.unwrap()), case.after);
        }
    }

    #[test]
    fn one_add_per_command_through_the_promotion() {
        let (roll_want, ones_want, final_want, count_want, after_want) = SEQ_FULL;
        let mut key = None;
        let (mut roll, mut ones) = (FNV_START, 0);
        for i in 1..=3000 {
            let e = format!("e{i}");
            ones += pfadd(&mut key, &[e.as_bytes()], 3000).unwrap();
            roll = fnv_from(roll, key.as_ref().unwrap());
        }
        assert_eq!((roll, ones as usize), (roll_want, ones_want));
        let mut h = key.unwrap();
        assert_eq!(fnv(&h), final_want);
        assert_eq!(count(&mut h), Ok((count_want, true)));
        assert_eq!(fnv(&h), after_want);
    }

    #[test]
    fn splits_and_joins_of_neighbouring_registers() {
        // Elements whose register is one of 100..108, added one per PFADD.
        let (n, last, roll_want, final_hex, decode_want, decodes_want) = TARGETED;
        let mut elements = Vec::new();
        let mut i = 0;
        while elements.len() < n {
            let e = format!("k{i}");
            if (100..108).contains(&register_and_count(e.as_bytes()).0) {
                elements.push(e);
            }
            i += 1;
        }
        assert_eq!(elements.last().unwrap(), last);
        let mut key = None;
        let mut roll = FNV_START;
        let mut decodes = Vec::new();
        for e in &elements {
            pfadd(&mut key, &[e.as_bytes()], 3000).unwrap();
            let h = key.as_ref().unwrap();
            roll = fnv_from(roll, h);
            decodes.push(decode_sparse(h).unwrap().unwrap());
        }
        assert_eq!(roll, roll_want);
        assert_eq!(hex(key.as_ref().unwrap()), final_hex);
        assert_eq!(decodes.last().unwrap(), decode_want);
        assert_eq!(fnv(decodes.join("|").as_bytes()), decodes_want);
    }

    #[test]
    fn counts_match_redis() {
        for &(n, want, encoding, before, after, len) in COUNTS {
            let names: Vec<String> = (1..=n).map(|i| format!("e{i}")).collect();
            let mut key = None;
            for batch in names.chunks(10_000) {
                let refs: Vec<&[u8]> = batch.iter().map(|s| s.as_bytes()).collect();
                pfadd(&mut key, &refs, 3000).unwrap();
            }
            let mut h = key.unwrap();
            assert_eq!(h.len(), len, "n = {n}");
            assert_eq!(encoding_name(&h), Ok(encoding), "n = {n}");
            assert_eq!(fnv(&h), before, "n = {n}");
            assert_eq!(count(&mut h), Ok((want, true)), "n = {n}");
            assert_eq!(fnv(&h), after, "n = {n}");
            assert_eq!(count(&mut h), Ok((want, false)));
            // The same registers counted through the raw array.
            let mut regs = Registers::new();
            regs.merge(&h).unwrap();
            assert_eq!(regs.count(), want);
        }
    }

    /// `PFMERGE dest sources...`: the destination is merged first, as in Redis.
    fn pfmerge(dest: Option<&Vec<u8>>, sources: &[Option<&Vec<u8>>]) -> Result<Vec<u8>, HllError> {
        let mut regs = Registers::new();
        for s in std::iter::once(&dest).chain(sources).flatten() {
            regs.merge(s)?;
        }
        regs.write_to(dest.map(|d| d.as_slice()), DEFAULT_SPARSE_MAX_BYTES)
    }

    fn check_merge(mut m: Vec<u8>, case: &MergeCase) -> Vec<u8> {
        assert_eq!(encoding_name(&m), Ok(case.encoding));
        assert_eq!((m.len(), fnv(&m)), (case.len, case.fnv));
        assert_eq!(count(&mut m).unwrap().0, case.count);
        m
    }

    #[test]
    fn merges_match_redis() {
        let (a, b, d) = (build("a", 50), build("b", 70), build("d", 5000));
        let (x, y) = (build("x", 1200), build("y", 1200));
        assert_eq!(encoding_name(&x), Ok("sparse"));

        let m = check_merge(pfmerge(None, &[Some(&a), Some(&b)]).unwrap(), &MERGE_AB);
        assert_eq!(hex(&m), MERGE_AB_HEX);
        check_merge(pfmerge(None, &[Some(&a), Some(&d)]).unwrap(), &MERGE_AD);
        // Both sparse, but the union outgrows hll-sparse-max-bytes on the way.
        check_merge(pfmerge(None, &[Some(&x), Some(&y)]).unwrap(), &MERGE_XY);
        // Into an existing sparse destination, edited in place.
        let mut p = None;
        pfadd(&mut p, &[b"p1", b"p2", b"p3", b"p4"], 3000).unwrap();
        let m = check_merge(
            pfmerge(p.as_ref(), &[Some(&a), Some(&b)]).unwrap(),
            &MERGE_INTO,
        );
        assert_eq!(hex(&m), MERGE_INTO_HEX);
        // Only missing keys: an empty sparse value, cache stale.
        let m = check_merge(pfmerge(None, &[None]).unwrap(), &MERGE_NONE);
        assert_eq!(hex(&m), MERGE_NONE_HEX);

        let multi = |keys: &[&Vec<u8>]| {
            let mut regs = Registers::new();
            for k in keys {
                regs.merge(k).unwrap();
            }
            regs.count()
        };
        assert_eq!(
            (multi(&[&a, &b]), multi(&[&a, &b, &d]), multi(&[&x, &y])),
            PFCOUNT_MULTI
        );
    }

    #[test]
    fn pfdebug_matches_redis() {
        let mut a = build("a", 50);
        assert_eq!(decode_sparse(&a).unwrap().unwrap(), DECODE_AB);
        let sparse_regs = registers(&a).unwrap();
        assert_eq!(to_dense(&mut a), Ok(true));
        assert_eq!(to_dense(&mut a), Ok(false));
        let regs = registers(&a).unwrap();
        assert_eq!(regs, sparse_regs);
        assert_eq!((fnv(&regs), fnv(&a), encoding_name(&a).unwrap()), GETREG_A);
        assert_eq!(decode_sparse(&a), Ok(None));
    }

    #[test]
    fn a_count_above_32_turns_the_value_dense() {
        // Found by search: counts 33 and 34 (probability 2^-32 each).
        assert_eq!(register_and_count(b"big6209776902"), (2711, 33));
        assert_eq!(register_and_count(b"big7985688365"), (6596, 34));
        // (elements already in the key, elements of the PFADD, fnv, count), from
        // redis-server 7.0.15; every result is dense.
        type Case<'a> = (&'a [&'a [u8]], &'a [&'a [u8]], u64, i64);
        let cases: [Case<'_>; 3] = [
            (&[], &[b"big6209776902"], 8_530_627_587_304_666_542, 1),
            (
                &[b"a", b"b", b"c"],
                &[b"big7985688365"],
                12_902_358_632_344_628_988,
                4,
            ),
            (
                &[b"a"],
                &[b"b", b"big6209776902", b"c"],
                7_530_471_395_758_518_454,
                4,
            ),
        ];
        for (first, then, want_fnv, want_count) in cases {
            let mut key = None;
            if !first.is_empty() {
                pfadd(&mut key, first, 3000).unwrap();
            }
            assert_eq!(pfadd(&mut key, then, 3000), Ok(1));
            let mut h = key.unwrap();
            assert_eq!(encoding_name(&h), Ok("dense"));
            assert_eq!(fnv(&h), want_fnv);
            assert_eq!(count(&mut h).unwrap().0, want_count);
        }
    }

    fn dense_with(values: impl Fn(usize) -> u8) -> Vec<u8> {
        let mut h = unhex("48594c4c000000000000000000000080");
        h.resize(DENSE_LEN, 0);
        let regs = dense_regs_mut(&mut h).unwrap();
        for i in 0..REGISTERS {
            dense_put(regs, i, values(i));
        }
        h
    }

    #[test]
    fn hand_made_dense_values_count_as_in_redis() {
        let high = [(0, 60), (5, 52), (7, 51), (16383, 63), (100, 3), (101, 33)];
        let mut hd = dense_with(|i| high.iter().find(|r| r.0 == i).map_or(0, |r| r.1));
        let (want, getreg, multi, merged) = DENSE_HIGH;
        let regs = registers(&hd).unwrap();
        assert_eq!(format!("list:{}:{}", regs.len(), fnv(&regs)), getreg);
        assert_eq!(count(&mut hd).unwrap().0, want);
        let mut raw = Registers::new();
        raw.merge(&hd).unwrap();
        assert_eq!(raw.count(), multi);
        assert_eq!(fnv(&pfmerge(None, &[Some(&hd)]).unwrap()), merged);

        for &(v, want) in DENSE_ALL {
            assert_eq!(count(&mut dense_with(|_| v)).unwrap().0, want, "all {v}");
        }
        // Redis's rounding overflows: it replies i64::MIN and the cache it stores
        // (2^63) reads as stale. (redis-server 7.0.15)
        let mut h = dense_with(|i| if i == 0 { 50 } else { 51 });
        assert_eq!(count(&mut h), Ok((i64::MIN, true)));
        assert_eq!(hex(&h[..HEADER_LEN]), "48594c4c000000000000000000000080");
        assert_eq!(count(&mut h), Ok((i64::MIN, true)));
        let mut raw = Registers::new();
        raw.merge(&dense_with(|_| 51)).unwrap();
        assert_eq!(raw.count(), i64::MIN);
        let mut h = dense_with(|i| if i < 16380 { 51 } else { 60 });
        assert_eq!(count(&mut h).unwrap().0, i64::MIN);
        let mut h = dense_with(|i| if i < 8000 { 40 } else { 45 });
        assert_eq!(count(&mut h).unwrap().0, 25_769_088_545_813_260);
        assert_eq!(hex(&h[..HEADER_LEN]), "48594c4c000000000c73f578d98c5b00");
    }

    fn broken_input(name: &str) -> Vec<u8> {
        let sparse = unhex("48594c4c010000000000000000000080");
        let dense = unhex("48594c4c000000000000000000000080");
        let with = |h: &[u8], tail: &[u8]| [h, tail].concat();
        match name {
            "trunc_xzero" => with(&sparse, &[0x7f]),
            "past_end" => with(&sparse, &[0x7f, 0xff, 0x00]),
            "short" => with(&sparse, &[0x7f, 0x00]),
            "empty_code" => sparse,
            "val_past" => with(&sparse, &[0x7f, 0xfe, 0x83]),
            "weird_valid" => with(&sparse, &[0x3f, 0x3f, 0x3f, 0x3e, 0x7f]),
            "dense_short" => with(&dense, &[0; DENSE_DATA_LEN - 1]),
            "dense_long" => with(&dense, &[0; DENSE_DATA_LEN + 1]),
            "bad_magic" => unhex("48594c580100000000000000000000007fff"),
            "enc2" => unhex("48594c4c0200000000000000000000007fff"),
            "tiny" => unhex("48594c4c01"),
            "notused" => unhex("48594c4c01aabbcc00000000000000807fff"),
            _ => unreachable!("{name}"),
        }
    }

    fn run_command(input: &[u8], command: &str) -> (String, Vec<u8>) {
        let err = |e: HllError| format!("ERR {}", e.message());
        let other = build("o", 1);
        let mut k = input.to_vec();
        let reply = match command {
            "PFCOUNT k" => match count(&mut k) {
                Ok((c, _)) => c.to_string(),
                Err(e) => err(e),
            },
            "PFCOUNT k other" => {
                let mut regs = Registers::new();
                match regs.merge(&k).and_then(|_| regs.merge(&other)) {
                    Ok(()) => regs.count().to_string(),
                    Err(e) => err(e),
                }
            }
            "PFADD k zz" | "PFADD k hello zz" => {
                let elements: &[&[u8]] = if command == "PFADD k zz" {
                    &[b"zz"]
                } else {
                    &[b"hello", b"zz"]
                };
                let mut key = Some(k);
                let reply = pfadd(&mut key, elements, 3000);
                k = key.unwrap();
                reply.map_or_else(err, |r| r.to_string())
            }
            "PFDEBUG DECODE k" => match decode_sparse(&k) {
                Ok(Some(s)) => s,
                Ok(None) => "ERR HLL encoding is not sparse".to_string(),
                Err(e) => err(e),
            },
            "PFDEBUG GETREG k" => match to_dense(&mut k).and_then(|_| registers(&k)) {
                Ok(r) => format!("list:{}:{}", r.len(), fnv(&r)),
                Err(e) => err(e),
            },
            "PFMERGE dst k" => {
                let mut regs = Registers::new();
                match regs.merge(&k).and_then(|_| regs.write_to(None, 3000)) {
                    Ok(_) => "OK".to_string(),
                    Err(e) => err(e),
                }
            }
            _ => unreachable!("{command}"),
        };
        (reply, k)
    }

    #[test]
    fn broken_values_are_refused_as_redis_refuses_them() {
        for &(name, command, reply, bytes) in BROKEN {
            let (got, after) = run_command(&broken_input(name), command);
            assert_eq!(got, reply, "{name}: {command}");
            let shown = if after.len() < 64 {
                hex(&after)
            } else {
                format!("fnv{}", fnv(&after))
            };
            assert_eq!(shown, bytes, "{name}: {command} (bytes)");
        }
    }

    #[test]
    fn one_pfadd_carries_the_byte_past_a_cut_off_xzero() {
        // SET k to a header and a lone XZERO byte, then PFADD k h993473 h234083:
        // the first edit leaves the XZERO's low byte past the end, and the second
        // reads it (redis-server 7.0.15).
        let mut k = unhex("48594c4c0100000000000000000000807f");
        assert_eq!(
            add_all(&mut k, [&b"h993473"[..], b"h234083"], 3000),
            Ok(true)
        );
        assert_eq!(hex(&k), "48594c4c010000000000000000000080454e84617f8458");
        // Separate calls read a fresh value's terminator (0) instead.
        let mut k = unhex("48594c4c0100000000000000000000807f");
        add(&mut k, b"h993473", 3000).unwrap();
        add(&mut k, b"h234083", 3000).unwrap();
        assert_eq!(hex(&k), "48594c4c010000000000000000000080454e84617f8457");
    }

    #[test]
    fn dense_adds_do_not_allocate() {
        let mut d = build("d", 5000);
        assert_eq!(encoding_name(&d), Ok("dense"));
        let (ptr, cap) = (d.as_ptr(), d.capacity());
        for i in 0..20_000u32 {
            add(&mut d, &i.to_le_bytes(), 3000).unwrap();
        }
        assert_eq!((d.as_ptr(), d.capacity(), d.len()), (ptr, cap, DENSE_LEN));
    }

    #[test]
    fn dense_register_packing_round_trips() {
        let mut h = dense_with(|i| (i % 64) as u8);
        let regs = registers(&h).unwrap();
        assert!(regs.iter().enumerate().all(|(i, &v)| v == (i % 64) as u8));
        // Register 1 is the top 2 bits of byte 0 and the low 4 bits of byte 1.
        assert_eq!(h[HEADER_LEN] >> 6, 1);
        assert_eq!(h[HEADER_LEN + 1] & 0x0f, 0);
        let area = dense_regs_mut(&mut h).unwrap();
        dense_put(area, 16383, 0);
        assert_eq!(dense_get(area, 16383), 0);
        assert_eq!(dense_get(area, 16382), 62);
    }

    /// xorshift64*, for the no-panic sweeps.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Runs every operation on the value; none may panic.
    fn exercise(value: &[u8], rng: &mut Rng) {
        let _ = validate(value);
        let _ = encoding_name(value);
        let _ = decode_sparse(value);
        let _ = registers(value);
        let _ = count(&mut value.to_vec());
        let mut regs = Registers::new();
        let _ = regs.merge(value);
        let _ = regs.write_to(Some(value), rng.below(400));
        let _ = regs.write_to(None, rng.below(400));
        let _ = to_dense(&mut value.to_vec());
        let mut v = value.to_vec();
        for _ in 0..8 {
            let e = rng.next().to_le_bytes();
            let _ = add(&mut v, &e[..rng.below(9)], rng.below(400));
        }
        let _ = count(&mut v);
    }

    #[test]
    fn no_input_panics() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let good = build("f", 300);
        let dense = build("d", 4000);
        for round in 0..3000 {
            // Random sparse codes after a good header.
            let mut v = unhex("48594c4c010000000000000000000080");
            for _ in 0..rng.below(40) {
                v.push(rng.next() as u8);
            }
            exercise(&v, &mut rng);
            // A good sparse value, mutated and cut.
            let mut v = good.clone();
            for _ in 0..1 + rng.below(4) {
                let at = HEADER_LEN + rng.below(v.len() - HEADER_LEN);
                v[at] = rng.next() as u8;
            }
            v.truncate(HEADER_LEN + rng.below(v.len() - HEADER_LEN + 1));
            exercise(&v, &mut rng);
            // Random bytes, random lengths, and dense values with random registers.
            let mut v: Vec<u8> = (0..rng.below(24)).map(|_| rng.next() as u8).collect();
            if round % 2 == 0 && v.len() >= 5 {
                v[..5].copy_from_slice(b"HYLL\x01");
            }
            exercise(&v, &mut rng);
            if round % 100 == 0 {
                let mut d = dense.clone();
                for b in &mut d[HEADER_LEN..] {
                    *b = rng.next() as u8;
                }
                exercise(&d, &mut rng);
            }
        }
    }
}
