//! Redis's RDB encodings that DUMP-style payloads use (pure, unit-tested below):
//! length-prefixed strings (plain, integer-encoded or LZF-compressed), and the
//! payload footer, the RDB version (2 bytes, little-endian) and a CRC64 (Jones, as
//! Redis computes it, little-endian) of everything before it.
//!
//! FUNCTION DUMP writes one `FUNCTION2` record per library (its code as a plain
//! string) and the footer; FUNCTION RESTORE reads payloads from Redis too, whose
//! strings over 20 bytes are usually LZF-compressed.

use crc::{Crc, CRC_64_REDIS};

/// The RDB version Redis 7.0 writes.
pub const RDB_VERSION: u16 = 10;
/// The opcode of a function library record (Redis 7.0).
pub const OPCODE_FUNCTION2: u8 = 245;
/// The pre-release form of the same record, which Redis 7.0 refuses too.
pub const OPCODE_FUNCTION_PRE_GA: u8 = 246;

const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

/// Why a payload does not read.
#[derive(Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Too short, a newer RDB version, or a checksum that does not match.
    Footer,
    /// The body does not parse.
    Body,
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

/// Appends the footer: RDB version and CRC64 of everything in `out` so far.
pub fn seal(out: &mut Vec<u8>) {
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Checks a payload's footer and returns its body.
pub fn open(payload: &[u8]) -> Result<&[u8], PayloadError> {
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
    pub fn byte(&mut self) -> Result<u8, PayloadError> {
        let b = *self.data.get(self.at).ok_or(PayloadError::Body)?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PayloadError> {
        let end = self.at.checked_add(n).ok_or(PayloadError::Body)?;
        let out = self.data.get(self.at..end).ok_or(PayloadError::Body)?;
        self.at = end;
        Ok(out)
    }

    fn len(&mut self) -> Result<Len, PayloadError> {
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

    fn plain_len(&mut self) -> Result<usize, PayloadError> {
        match self.len()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(PayloadError::Body),
        }
    }

    /// The next string, in any of its encodings.
    pub fn string(&mut self) -> Result<Vec<u8>, PayloadError> {
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
}

/// LZF decompression (the format of Redis's `lzf_c.c`): literal runs
/// (`000LLLLL`, L+1 bytes) and back references (`LLLooooo oooooooo`, with an extra
/// length byte when L is 7). `None` if the input is malformed or the output would
/// not be exactly `len` bytes.
pub fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(i..i + run)?;
            out.extend_from_slice(lit);
            i += run;
        } else {
            let mut run = ctrl >> 5;
            if run == 7 {
                run += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            for k in 0..run + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn lzf_literals_and_back_references() {
        // "abcabcabc": a literal run of 3, then a back reference of 6 bytes at
        // distance 3 (length code 4 = 6 - 2, offset 2 = 3 - 1).
        let input = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(lzf_decompress(&input, 9).unwrap(), b"abcabcabc");
        assert!(lzf_decompress(&input, 8).is_none());
        assert!(lzf_decompress(&[0x20, 5], 3).is_none());
    }

    #[test]
    fn integer_strings() {
        let mut r = Reader::new(&[0xc0, 0xfe, 0xc1, 0x39, 0x30]);
        assert_eq!(r.string().unwrap(), b"-2");
        assert_eq!(r.string().unwrap(), b"12345");
    }
}
