//! The packed blobs Redis keeps inside RDB strings: listpacks (7.0's compact
//! lists, hashes and sorted sets, and the nodes of its quicklists), ziplists
//! (their predecessor, still loaded), intsets (sets of integers) and zipmaps
//! (the hashes of Redis 2.4 and older).
//!
//! The readers check everything Redis's deep payload sanitization checks (the
//! header's byte and entry counts, every entry's encoding, the back-lengths or
//! previous-entry lengths, the terminator, an intset's order) and report a
//! malformed blob as an error; none of them indexes out of bounds or reserves
//! more than the blob's own size. The writers produce exactly the bytes Redis
//! would for the same entries appended in order.

use super::PayloadError;

type Result<T> = std::result::Result<T, PayloadError>;

/// A listpack's header: total bytes (u32) and entry count (u16), little-endian.
const LP_HEADER: usize = 6;
/// The byte that ends a listpack, a ziplist and a zipmap.
const END: u8 = 0xff;
/// The entry count a listpack or ziplist header holds when the count does not fit.
const COUNT_UNKNOWN: u16 = u16::MAX;
/// A ziplist's header: total bytes, offset of the last entry (u32 each), count (u16).
const ZL_HEADER: usize = 10;

/// The value of `s` if it is an integer written the one way Redis writes it
/// (`string2ll` / `lpStringToInt64`): an optional minus sign, then digits
/// without leading zeros ("0" alone, never "-0"), in the range of an i64.
pub(super) fn canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    match digits {
        [b'0'] if s.len() == 1 => {}
        [b'1'..=b'9', rest @ ..] if rest.iter().all(u8::is_ascii_digit) => {}
        _ => return None,
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn le_u16(b: &[u8], at: usize) -> Result<u16> {
    let raw = b.get(at..at + 2).ok_or(PayloadError::Body)?;
    Ok(u16::from_le_bytes([raw[0], raw[1]]))
}

fn le_u32(b: &[u8], at: usize) -> Result<u32> {
    let raw = b.get(at..at + 4).ok_or(PayloadError::Body)?;
    Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
}

/// The little-endian signed integer of `n` bytes (1 to 8) at `at`.
fn le_int(b: &[u8], at: usize, n: usize) -> Result<i64> {
    let raw = b.get(at..at + n).ok_or(PayloadError::Body)?;
    let mut full = [0u8; 8];
    full[8 - n..].copy_from_slice(raw);
    // Shifting the bytes to the top and back sign-extends them.
    Ok(i64::from_le_bytes(full) >> (8 * (8 - n)))
}

/// `at + n`, when that stays within `limit`.
fn within(at: usize, n: usize, limit: usize) -> Result<usize> {
    at.checked_add(n)
        .filter(|&end| end <= limit)
        .ok_or(PayloadError::Body)
}

fn int_text(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// A listpack being built by appending entries, as `lpAppend` does.
pub(super) struct Listpack {
    buf: Vec<u8>,
    count: usize,
}

impl Listpack {
    /// An empty listpack.
    pub(super) fn new() -> Listpack {
        Listpack {
            buf: vec![0; LP_HEADER],
            count: 0,
        }
    }

    /// Its size in bytes once finished (`lpBytes`).
    pub(super) fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends an entry: canonical integers in the smallest integer encoding,
    /// anything else as a string.
    pub(super) fn push(&mut self, s: &[u8]) {
        let start = self.buf.len();
        match canonical_int(s) {
            Some(v) => self.put_int(v),
            None => self.put_str(s),
        }
        let size = self.buf.len() - start;
        put_backlen(&mut self.buf, size);
        self.count += 1;
    }

    fn put_int(&mut self, v: i64) {
        let b = &mut self.buf;
        if (0..=127).contains(&v) {
            b.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v & 0x1fff) as u16;
            b.extend_from_slice(&[0xc0 | (u >> 8) as u8, u as u8]);
        } else if i16::try_from(v).is_ok() {
            b.push(0xf1);
            b.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-(1 << 23)..1 << 23).contains(&v) {
            b.push(0xf2);
            b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if i32::try_from(v).is_ok() {
            b.push(0xf3);
            b.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            b.push(0xf4);
            b.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn put_str(&mut self, s: &[u8]) {
        let b = &mut self.buf;
        let n = s.len();
        if n < 64 {
            b.push(0x80 | n as u8);
        } else if n < 4096 {
            b.extend_from_slice(&[0xe0 | (n >> 8) as u8, n as u8]);
        } else {
            b.push(0xf0);
            b.extend_from_slice(&(n as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
    }

    /// The finished blob: header filled in, terminator appended.
    pub(super) fn finish(mut self) -> Vec<u8> {
        self.buf.push(END);
        let total = self.buf.len() as u32;
        let count = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..LP_HEADER].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// How many bytes the back-length of an entry of `size` bytes takes. The
/// thresholds are Redis's own (`lpEncodeBacklen`), one below the powers of 128
/// for the wider forms.
fn backlen_size(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Appends an entry's back-length: its size in 7-bit groups, most significant
/// group first, every group but the first with the high bit set, so that it
/// reads from its last byte backwards.
fn put_backlen(out: &mut Vec<u8>, size: usize) {
    let n = backlen_size(size);
    for i in (0..n).rev() {
        let group = ((size >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 128 });
    }
}

/// Reads a back-length backwards from its last byte at `last`.
fn read_backlen(lp: &[u8], last: usize) -> Result<usize> {
    let mut value = 0usize;
    let mut at = last;
    for shift in (0..=28).step_by(7) {
        let b = lp[at];
        value |= ((b & 127) as usize) << shift;
        if b & 128 == 0 {
            return Ok(value);
        }
        at = at.checked_sub(1).ok_or(PayloadError::Body)?;
    }
    Err(PayloadError::Body)
}

/// The entries of a listpack, integers as their decimal text.
pub(super) fn listpack_entries(lp: &[u8]) -> Result<Vec<Vec<u8>>> {
    if lp.len() < LP_HEADER + 1 || le_u32(lp, 0)? as usize != lp.len() || lp[lp.len() - 1] != END {
        return Err(PayloadError::Body);
    }
    let header_count = le_u16(lp, 4)?;
    let end = lp.len() - 1;
    let mut entries = Vec::with_capacity((header_count as usize).min((end - LP_HEADER) / 2));
    let mut at = LP_HEADER;
    while lp[at] != END {
        let b = lp[at];
        // (bytes before the data, data bytes) for strings; the value for integers.
        let (size, value) = match b {
            0x00..=0x7f => (1, int_text(b as i64)),
            0x80..=0xbf => lp_string(lp, at, 1, (b & 0x3f) as usize, end)?,
            0xc0..=0xdf => {
                let low = *lp.get(at + 1).ok_or(PayloadError::Body)?;
                let u = ((b & 0x1f) as i64) << 8 | low as i64;
                (2, int_text(if u >= 1 << 12 { u - (1 << 13) } else { u }))
            }
            0xe0..=0xef => {
                let low = *lp.get(at + 1).ok_or(PayloadError::Body)?;
                lp_string(lp, at, 2, ((b & 0x0f) as usize) << 8 | low as usize, end)?
            }
            0xf0 => lp_string(lp, at, 5, le_u32(lp, at + 1)? as usize, end)?,
            0xf1..=0xf4 => {
                let n = [2, 3, 4, 8][(b - 0xf1) as usize];
                (1 + n, int_text(le_int(lp, at + 1, n)?))
            }
            _ => return Err(PayloadError::Body),
        };
        let next = within(at, size + backlen_size(size), end)?;
        if read_backlen(lp, next - 1)? != size {
            return Err(PayloadError::Body);
        }
        entries.push(value);
        at = next;
    }
    if header_count != COUNT_UNKNOWN && header_count as usize != entries.len() {
        return Err(PayloadError::Body);
    }
    Ok(entries)
}

/// A listpack string entry at `at` with `header` bytes before its `len` bytes.
fn lp_string(
    lp: &[u8],
    at: usize,
    header: usize,
    len: usize,
    end: usize,
) -> Result<(usize, Vec<u8>)> {
    let start = within(at, header, end)?;
    let stop = within(start, len, end)?;
    Ok((header + len, lp[start..stop].to_vec()))
}

/// The entries of a ziplist, integers as their decimal text.
pub(super) fn ziplist_entries(zl: &[u8]) -> Result<Vec<Vec<u8>>> {
    if zl.len() < ZL_HEADER + 1 || le_u32(zl, 0)? as usize != zl.len() || zl[zl.len() - 1] != END {
        return Err(PayloadError::Body);
    }
    let end = zl.len() - 1;
    let tail = le_u32(zl, 4)? as usize;
    let header_count = le_u16(zl, 8)?;
    if tail > end {
        return Err(PayloadError::Body);
    }
    let mut entries = Vec::with_capacity((header_count as usize).min((end - ZL_HEADER) / 2));
    let mut at = ZL_HEADER;
    let mut prev_size = 0;
    let mut last = None;
    while zl[at] != END {
        // The previous entry's size: one byte, or 254 and four bytes.
        let (prev, mut p) = if zl[at] < 254 {
            (zl[at] as usize, at + 1)
        } else {
            (le_u32(zl, at + 1)? as usize, at + 5)
        };
        if prev != prev_size || p >= end {
            return Err(PayloadError::Body);
        }
        let enc = zl[p];
        let value = match enc >> 6 {
            0..=2 => {
                let (header, len) = match enc >> 6 {
                    0 => (1, (enc & 0x3f) as usize),
                    1 => (
                        2,
                        ((enc & 0x3f) as usize) << 8
                            | *zl.get(p + 1).ok_or(PayloadError::Body)? as usize,
                    ),
                    _ => {
                        let raw = zl.get(p + 1..p + 5).ok_or(PayloadError::Body)?;
                        (
                            5,
                            u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize,
                        )
                    }
                };
                let start = within(p, header, end)?;
                p = within(start, len, end)?;
                zl[start..p].to_vec()
            }
            _ => {
                let (n, v) = match enc {
                    0xc0 => (2, None),
                    0xd0 => (4, None),
                    0xe0 => (8, None),
                    0xf0 => (3, None),
                    0xfe => (1, None),
                    0xf1..=0xfd => (0, Some((enc & 0x0f) as i64 - 1)),
                    _ => return Err(PayloadError::Body),
                };
                let v = match v {
                    Some(v) => v,
                    None => le_int(zl, p + 1, n)?,
                };
                p = within(p, 1 + n, end)?;
                int_text(v)
            }
        };
        entries.push(value);
        prev_size = p - at;
        last = Some(at);
        at = p;
    }
    if last.is_some_and(|l| l != tail)
        || (header_count != COUNT_UNKNOWN && header_count as usize != entries.len())
    {
        return Err(PayloadError::Body);
    }
    Ok(entries)
}

/// An intset's members: a sorted set of integers stored in the narrowest of
/// 2, 4 or 8 bytes that holds them all (little-endian), after the width and
/// the count (u32 each).
pub(super) fn intset_members(is: &[u8]) -> Result<Vec<i64>> {
    let width = le_u32(is, 0)? as usize;
    let count = le_u32(is, 4)? as usize;
    if !matches!(width, 2 | 4 | 8)
        || count == 0
        || count.checked_mul(width).and_then(|n| n.checked_add(8)) != Some(is.len())
    {
        return Err(PayloadError::Body);
    }
    let mut members: Vec<i64> = Vec::with_capacity(count);
    for i in 0..count {
        let v = le_int(is, 8 + i * width, width)?;
        if members.last().is_some_and(|&prev| prev >= v) {
            return Err(PayloadError::Body);
        }
        members.push(v);
    }
    Ok(members)
}

/// The intset of `members`, which must be sorted and distinct.
pub(super) fn intset(members: &[i64]) -> Vec<u8> {
    let width = if members.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if members.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + members.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for v in members {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// A zipmap's field/value pairs. A zipmap is a count byte (254 when unknown),
/// then per pair the field's length and bytes, the value's length, a byte of
/// free space after the value, the value and that free space, then 255.
/// Lengths take one byte below 254, else 254 and four bytes (little-endian).
pub(super) fn zipmap_pairs(zm: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    if zm.len() < 2 || zm[zm.len() - 1] != END {
        return Err(PayloadError::Body);
    }
    let end = zm.len() - 1;
    let length = |at: usize| -> Result<(usize, usize)> {
        if zm[at] < 254 {
            Ok((zm[at] as usize, within(at, 1, end)?))
        } else {
            Ok((le_u32(zm, at + 1)? as usize, within(at, 5, end)?))
        }
    };
    let mut pairs = Vec::new();
    let mut at = 1;
    while zm[at] != END {
        let (len, start) = length(at)?;
        at = within(start, len, end)?;
        let field = zm[start..at].to_vec();
        let (len, free_at) = length(at)?;
        let free = zm[free_at] as usize;
        let start = free_at + 1;
        let stop = within(start, len, end)?;
        at = within(stop, free, end)?;
        pairs.push((field, zm[start..stop].to_vec()));
    }
    if pairs.is_empty() || (zm[0] != 254 && zm[0] as usize != pairs.len()) {
        return Err(PayloadError::Body);
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn canonical_integers() {
        for (s, v) in [("0", Some(0)), ("-7", Some(-7)), ("12345", Some(12345))] {
            assert_eq!(canonical_int(s.as_bytes()), v);
        }
        let max = i64::MAX.to_string();
        let min = i64::MIN.to_string();
        assert_eq!(canonical_int(max.as_bytes()), Some(i64::MAX));
        assert_eq!(canonical_int(min.as_bytes()), Some(i64::MIN));
        for s in [
            "",
            "-",
            "-0",
            "007",
            "+5",
            " 5",
            "5 ",
            "1e3",
            "9223372036854775808",
            "0x10",
        ] {
            assert_eq!(canonical_int(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn listpack_every_encoding_round_trips() {
        let long = "y".repeat(5000);
        let mid = "x".repeat(200);
        let items = [
            "0",
            "127",
            "128",
            "-1",
            "-4096",
            "4095",
            "4096",
            "-32768",
            "32767",
            "32768",
            "-8388608",
            "8388607",
            "8388608",
            "-2147483648",
            "2147483647",
            "2147483648",
            "-9223372036854775808",
            "9223372036854775807",
            "",
            "abc",
            "-0",
            "007",
            &mid,
            &long,
        ];
        let mut lp = Listpack::new();
        for s in items {
            lp.push(s.as_bytes());
        }
        let bytes = lp.bytes();
        let blob = lp.finish();
        assert_eq!(blob.len(), bytes);
        assert_eq!(listpack_entries(&blob).unwrap(), strings(&items));
        // The first entries: 0 as a 7-bit integer, back-length 1; 128 as a
        // 13-bit integer, back-length 2.
        assert_eq!(&blob[6..8], &[0x00, 0x01]);
        assert_eq!(&blob[10..13], &[0xc0, 0x80, 0x02]);
    }

    #[test]
    fn backlengths_at_redis_thresholds() {
        for (size, n) in [
            (127, 1),
            (128, 2),
            (16382, 2),
            (16383, 3),
            (2097150, 3),
            (2097151, 4),
        ] {
            assert_eq!(backlen_size(size), n);
            let mut b = vec![0];
            put_backlen(&mut b, size);
            assert_eq!(b.len(), n + 1);
            assert_eq!(read_backlen(&b, n).unwrap(), size);
        }
    }

    #[test]
    fn listpack_damage_is_rejected() {
        let mut lp = Listpack::new();
        lp.push(b"a");
        lp.push(b"12");
        let blob = lp.finish();
        assert!(listpack_entries(&blob).is_ok());
        let mut bad = blob.clone();
        bad[4] = 3; // wrong count
        assert!(listpack_entries(&bad).is_err());
        bad[4] = 0xff; // unknown count is fine
        bad[5] = 0xff;
        assert_eq!(listpack_entries(&bad).unwrap().len(), 2);
        let mut bad = blob.clone();
        bad[8] = 5; // back-length of "a"
        assert!(listpack_entries(&bad).is_err());
        let mut bad = blob.clone();
        bad[6] = 0xf5; // no such encoding
        assert!(listpack_entries(&bad).is_err());
        assert!(listpack_entries(&blob[..blob.len() - 1]).is_err());
    }

    #[test]
    fn ziplist_every_encoding() {
        // A ziplist as Redis 5 wrote it: "a", 7 (immediate), -2 (int8),
        // 300 (int16), 70000 (24-bit), 2^31 (int64), then a 100-byte string.
        let mut zl = vec![0; ZL_HEADER];
        let mut prev = 0usize;
        let mut tail = 0;
        let mut entry = |zl: &mut Vec<u8>, body: &[u8]| {
            tail = zl.len();
            let start = zl.len();
            zl.push(prev as u8);
            zl.extend_from_slice(body);
            prev = zl.len() - start;
        };
        entry(&mut zl, &[0x01, b'a']);
        entry(&mut zl, &[0xf8]);
        entry(&mut zl, &[0xfe, 0xfe]);
        entry(&mut zl, &[0xc0, 0x2c, 0x01]);
        entry(&mut zl, &[0xf0, 0x70, 0x11, 0x01]);
        entry(&mut zl, &[0xe0, 0, 0, 0, 0x80, 0, 0, 0, 0]);
        let mut s = vec![0x40, 100];
        s.extend_from_slice(&[b'z'; 100]);
        entry(&mut zl, &s);
        zl.push(END);
        let n = zl.len() as u32;
        zl[..4].copy_from_slice(&n.to_le_bytes());
        zl[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
        zl[8..10].copy_from_slice(&7u16.to_le_bytes());
        let z = "z".repeat(100);
        assert_eq!(
            ziplist_entries(&zl).unwrap(),
            strings(&["a", "7", "-2", "300", "70000", "2147483648", &z])
        );
        let mut bad = zl.clone();
        bad[4] += 1; // tail
        assert!(ziplist_entries(&bad).is_err());
        let mut bad = zl.clone();
        bad[ZL_HEADER + 3] = 1; // prevlen of the second entry
        assert!(ziplist_entries(&bad).is_err());
        let mut bad = zl.clone();
        bad[ZL_HEADER + 4] = 0xc1; // no such integer encoding
        assert!(ziplist_entries(&bad).is_err());
    }

    #[test]
    fn intsets() {
        for members in [
            vec![-3, 1, 2],
            vec![1, 70000],
            vec![i64::MIN, 1, 5_000_000_000],
        ] {
            let blob = intset(&members);
            assert_eq!(intset_members(&blob).unwrap(), members);
        }
        assert_eq!(intset(&[1, 2])[..4], [2, 0, 0, 0]);
        assert!(intset_members(&intset(&[2, 1])).is_err());
        assert!(intset_members(&intset(&[])).is_err());
        assert!(intset_members(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0]).is_err());
    }

    #[test]
    fn zipmaps() {
        // {"ab": "x", "c": ""} with one byte of free space after "x".
        let zm = [2, 2, b'a', b'b', 1, 1, b'x', 0, 1, b'c', 0, 0, END];
        assert_eq!(
            zipmap_pairs(&zm).unwrap(),
            vec![(b"ab".to_vec(), b"x".to_vec()), (b"c".to_vec(), Vec::new())]
        );
        let mut unknown = zm;
        unknown[0] = 254;
        assert_eq!(zipmap_pairs(&unknown).unwrap().len(), 2);
        let mut bad = zm;
        bad[0] = 3;
        assert!(zipmap_pairs(&bad).is_err());
        assert!(zipmap_pairs(&zm[..8]).is_err());
        assert!(zipmap_pairs(&[0, END]).is_err());
    }

    #[test]
    fn damaged_blobs_never_panic() {
        let mut lp = Listpack::new();
        for s in [
            "1",
            "-100",
            "1000",
            "-100000",
            "10000000",
            "3000000000",
            "abc",
            &"m".repeat(200),
        ] {
            lp.push(s.as_bytes());
        }
        let lp = lp.finish();
        let mut zl = vec![0x30, 0, 0, 0, 0x25, 0, 0, 0, 8, 0];
        for entry in [
            &[0, 0x01, b'a'][..],
            &[3, 0xf8],
            &[2, 0xfe, 0xfe],
            &[3, 0xc0, 0x2c, 0x01],
            &[4, 0xf0, 0x70, 0x11, 0x01],
            &[5, 0xd0, 0, 0, 0, 1],
            &[6, 0x40, 1, b'b'],
            &[4, 0xe0, 0, 0, 0, 0, 0, 0, 0, 1],
        ] {
            zl.extend_from_slice(entry);
        }
        zl.push(END);
        assert_eq!(zl.len(), 0x30);
        assert_eq!(ziplist_entries(&zl).unwrap().len(), 8);
        let is = intset(&[-5, 3, 70000]);
        let zm = [2, 2, b'a', b'b', 1, 1, b'x', 0, 1, b'c', 0, 0, END];
        for blob in [&lp[..], &zl, &is, &zm] {
            let read = |b: &[u8]| {
                let _ = listpack_entries(b);
                let _ = ziplist_entries(b);
                let _ = intset_members(b);
                let _ = zipmap_pairs(b);
            };
            for cut in 0..blob.len() {
                read(&blob[..cut]);
            }
            for at in 0..blob.len() {
                for bit in 0..8 {
                    let mut b = blob.to_vec();
                    b[at] ^= 1 << bit;
                    read(&b);
                }
            }
        }
    }
}
