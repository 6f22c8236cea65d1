//! LZF, the compression of RDB strings: the decompressor, and a compressor
//! that runs the same algorithm with the same parameters as the `lzf_c.c`
//! Redis 7.0 ships, so that compressed strings come out byte for byte as
//! Redis's.
//!
//! The format is a sequence of literal runs (`000LLLLL` and L+1 bytes) and
//! back references (`LLLooooo oooooooo`, or `111ooooo LLLLLLLL oooooooo` for
//! longer ones) copying L+2 bytes from o+1 bytes back.

use std::cell::RefCell;

/// LZF decompression (the format of Redis's `lzf_c.c`): literal runs
/// (`000LLLLL`, L+1 bytes) and back references (`LLLooooo oooooooo`, with an extra
/// length byte when L is 7). `None` if the input is malformed or the output would
/// not be exactly `len` bytes.
pub fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    // A back reference of 3 bytes yields at most 264, which bounds the output
    // by the input whatever `len` claims.
    let mut out: Vec<u8> = Vec::with_capacity(len.min(input.len().saturating_mul(88)));
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

/// LZF compression, the same algorithm and parameters as the `lzf_compress`
/// Redis ships (a 2^16-slot hash table of 3-byte sequences, back references up
/// to 8 KB away and 264 bytes long), so it yields Redis's bytes. `None` if the
/// input is empty, over 4 GB, or does not compress to at most `max_len` bytes.
pub fn lzf_compress(input: &[u8], max_len: usize) -> Option<Vec<u8>> {
    if input.is_empty() || max_len == 0 || u32::try_from(input.len()).is_err() {
        return None;
    }
    LZF_TABLE.with(|table| table.borrow_mut().compress(input, max_len))
}

thread_local! {
    static LZF_TABLE: RefCell<LzfTable> = const { RefCell::new(LzfTable { slots: Vec::new(), epoch: 0 }) };
}

/// The compressor's hash table, kept per thread: each slot holds the epoch
/// (one per compression) and the last input position whose 3 bytes hashed
/// there, so that starting a compression does not mean clearing 64K slots.
struct LzfTable {
    slots: Vec<u64>,
    epoch: u32,
}

const LZF_SLOTS: usize = 1 << 16;
const LZF_MAX_LITERAL: usize = 32;
const LZF_MAX_OFFSET: usize = 1 << 13;
const LZF_MAX_MATCH: usize = (1 << 8) + (1 << 3);

impl LzfTable {
    fn slot(hash: u32) -> usize {
        ((hash >> 8).wrapping_sub(hash.wrapping_mul(5)) & (LZF_SLOTS as u32 - 1)) as usize
    }

    /// Records `pos` in the slot of `hash`, returning the position it held.
    fn swap(&mut self, hash: u32, pos: usize) -> Option<usize> {
        let slot = &mut self.slots[Self::slot(hash)];
        let old = *slot;
        *slot = (self.epoch as u64) << 32 | pos as u64;
        ((old >> 32) as u32 == self.epoch).then_some(old as u32 as usize)
    }

    fn compress(&mut self, input: &[u8], max_len: usize) -> Option<Vec<u8>> {
        if self.slots.is_empty() {
            self.slots = vec![0; LZF_SLOTS];
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.slots.fill(0);
            self.epoch = 1;
        }
        let n = input.len();
        // Writes never pass `max_len` (the checks below see to it); the slack
        // only keeps the indexing obviously in bounds.
        let mut out = vec![0u8; max_len + 8];
        // `op` is the next output byte; the current literal run's length byte
        // sits at `op - lit - 1`.
        let mut op = 1;
        let mut lit = 0usize;
        let mut ip = 0;
        let next = |hash: u32, at: usize| hash << 8 | input[at + 2] as u32;
        let mut hash = if n >= 2 {
            (input[0] as u32) << 8 | input[1] as u32
        } else {
            0
        };
        while ip + 2 < n {
            hash = next(hash, ip);
            let found = self.swap(hash, ip).filter(|&r| {
                r > 0
                    && r < ip
                    && ip - r - 1 < LZF_MAX_OFFSET
                    && input[r..r + 3] == input[ip..ip + 3]
            });
            let Some(r) = found else {
                if op >= max_len {
                    return None;
                }
                out[op] = input[ip];
                op += 1;
                ip += 1;
                lit += 1;
                if lit == LZF_MAX_LITERAL {
                    out[op - lit - 1] = (lit - 1) as u8;
                    lit = 0;
                    op += 1;
                }
                continue;
            };
            let off = ip - r - 1;
            // Close the literal run (dropping its length byte if it is empty).
            out[op - lit - 1] = (lit as u8).wrapping_sub(1);
            if lit == 0 {
                op -= 1;
            }
            if op + 4 >= max_len {
                return None;
            }
            // The match length: 3 bytes are known equal; extend it up to
            // `max` (checking 16 more at once first when there is room, as
            // Redis's unrolled loop does, which may go 1 or 2 past `max`).
            let max = (n - ip - 2).min(LZF_MAX_MATCH);
            let mut len = 2;
            let mut mismatch = false;
            if max > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[r + len] != input[ip + len] {
                        mismatch = true;
                        break;
                    }
                }
            }
            if !mismatch {
                loop {
                    len += 1;
                    if len >= max || input[r + len] != input[ip + len] {
                        break;
                    }
                }
            }
            let len = len - 2;
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 2; // and a new literal run's length byte
            lit = 0;
            ip += len + 1;
            if ip + 2 >= n {
                break;
            }
            // Hash the two positions before the new one, as Redis does.
            ip -= 2;
            hash = (input[ip] as u32) << 8 | input[ip + 1] as u32;
            for _ in 0..2 {
                hash = next(hash, ip);
                self.swap(hash, ip);
                ip += 1;
            }
        }
        if op + 3 > max_len {
            return None;
        }
        while ip < n {
            out[op] = input[ip];
            op += 1;
            ip += 1;
            lit += 1;
            if lit == LZF_MAX_LITERAL {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
        out[op - lit - 1] = (lit as u8).wrapping_sub(1);
        if lit == 0 {
            op -= 1;
        }
        out.truncate(op);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_back_references() {
        // "abcabcabc": a literal run of 3, then a back reference of 6 bytes at
        // distance 3 (length code 4 = 6 - 2, offset 2 = 3 - 1).
        let input = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(lzf_decompress(&input, 9).unwrap(), b"abcabcabc");
        assert!(lzf_decompress(&input, 8).is_none());
        assert!(lzf_decompress(&[0x20, 5], 3).is_none());
        // A huge claimed length reserves no more than the input can yield.
        assert!(lzf_decompress(&input, usize::MAX).is_none());
    }

    #[test]
    fn compresses_as_redis_does() {
        // From redis-server 7.0.15: DUMP of SET k <100 times "a">.
        let a100 = [0x01, 0x61, 0x61, 0xe0, 0x57, 0x00, 0x01, 0x61, 0x61];
        assert_eq!(lzf_compress(&[b'a'; 100], 96).unwrap(), a100);
        // Only if it fits.
        assert!(lzf_compress(&[b'a'; 100], 8).is_none());
        assert!(lzf_compress(b"", 10).is_none());
    }

    #[test]
    fn round_trips_and_forgets_earlier_inputs() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u8
        };
        for n in (1..300).chain([1000, 9000, 70000]) {
            // Mostly a small alphabet, so that there is something to find.
            let input: Vec<u8> = (0..n).map(|_| b'a' + next() % 4).collect();
            let out = lzf_compress(&input, n + 64).unwrap();
            assert_eq!(lzf_decompress(&out, n).unwrap(), input, "{n}");
            // The same input gives the same bytes whatever came before.
            assert_eq!(lzf_compress(&input, n + 64).unwrap(), out);
            // A tighter bound fails or gives the same bytes, never more.
            for max in out.len().saturating_sub(2)..out.len() + 4 {
                if let Some(o) = lzf_compress(&input, max) {
                    assert!(o == out && o.len() <= max, "{n} {max}");
                }
            }
            assert!(lzf_compress(&input, out.len() - 1).is_none());
        }
        let noise: Vec<u8> = (0..5000).map(|_| next()).collect();
        let out = lzf_compress(&noise, 6000).unwrap();
        assert_eq!(lzf_decompress(&out, noise.len()).unwrap(), noise);
    }
}
