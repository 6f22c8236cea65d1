//! Strings of any length with partial reads and writes that cost one chunk.
//!
//! A string is stored inline (type `String`: the meta record's payload is the string)
//! until a partial write — SETBIT, SETRANGE, APPEND, BITFIELD — would make it longer
//! than [`CHUNKED_ABOVE`]. From then on it is type `Chunked`: the meta record holds a
//! version and the length, and the bytes live in member records of [`CHUNK`] bytes,
//! keyed by chunk index. A chunk that was never written is zeros, so `SETBIT k
//! 536870911 1` on a new key writes one chunk, not 64 MB. A whole-value write (SET,
//! GETSET, INCR ...) stores the string inline again; the old chunks are then dead and
//! the compaction filter drops them, as it drops the members of a replaced collection.
//!
//! Commands see bytes, never chunks: [`Tx::get_string`] reads a chunked string whole,
//! [`Tx::string_ref`] and [`Tx::string_range`] read a part, [`Tx::string_write`]
//! patches a part. A patch reads and rewrites only the chunks it overlaps (point reads,
//! through the shard's value cache), then the meta record if the length changed.

use bytes::Bytes;

use super::encoding::{CollectionMeta, Space, Value, ValueType};
use super::shard::{Span, Tx};
use crate::error::{text, CommandError};

/// Bytes per chunk.
pub const CHUNK: usize = 4096;
/// A partial write that leaves a string longer than this stores it in chunks.
pub const CHUNKED_ABOVE: usize = 16 * 1024;
const _: () = assert!(CHUNKED_ABOVE.is_multiple_of(CHUNK) && CHUNKED_ABOVE > CHUNK);

/// A read of more chunks than this scans them in one pass instead of point reads.
const POINT_READS: u64 = 8;

/// A string as partial operations see it: its length without its bytes.
#[derive(Debug, Clone)]
pub enum StrRef {
    /// Stored in the meta record: the value itself.
    Inline(Value),
    /// Stored in chunks.
    Chunked {
        /// Version and length (`size`).
        meta: CollectionMeta,
        /// Expiry, Unix ms (0: none).
        expire_at: u64,
    },
}

impl StrRef {
    /// The string's length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            StrRef::Inline(v) => v.payload.len() as u64,
            StrRef::Chunked { meta, .. } => meta.size,
        }
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The string's expiry, Unix ms (0: none).
    pub fn expire_at(&self) -> u64 {
        match self {
            StrRef::Inline(v) => v.expire_at,
            StrRef::Chunked { expire_at, .. } => *expire_at,
        }
    }

    /// Whether the string is stored in chunks (OBJECT ENCODING says `raw` for both).
    pub fn is_chunked(&self) -> bool {
        matches!(self, StrRef::Chunked { .. })
    }
}

fn chunk_suffix(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn corrupt() -> CommandError {
    CommandError::other(text::CORRUPT_META)
}

impl Tx<'_> {
    /// Reads `key` for a partial operation: `None` if it does not exist, WRONGTYPE if
    /// it is not a string.
    pub fn string_ref(&mut self, key: &[u8]) -> Result<Option<StrRef>, CommandError> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => Self::as_string_ref(v).map(Some),
        }
    }

    /// The [`StrRef`] of a value read with [`Tx::get`]; WRONGTYPE for other types.
    pub fn as_string_ref(v: Value) -> Result<StrRef, CommandError> {
        match v.kind {
            ValueType::String => Ok(StrRef::Inline(v)),
            ValueType::Chunked => {
                let meta = CollectionMeta::decode_payload(&v.payload).ok_or_else(corrupt)?;
                Ok(StrRef::Chunked {
                    meta,
                    expire_at: v.expire_at,
                })
            }
            _ => Err(CommandError::WrongType),
        }
    }

    /// A chunked string's whole value as an inline [`Value`] (what [`Tx::get_string`]
    /// returns for it); other values unchanged.
    pub(super) fn inline(&mut self, key: &[u8], v: Value) -> Result<Value, CommandError> {
        if v.kind != ValueType::Chunked {
            return Ok(v);
        }
        let expire_at = v.expire_at;
        let s = Self::as_string_ref(v)?;
        let bytes = self.string_range(key, &s, 0, s.len())?;
        Ok(Value {
            kind: ValueType::String,
            expire_at,
            payload: bytes,
        })
    }

    /// Bytes `[from, to)` of the string `s` at `key`, clamped to its length.
    pub fn string_range(
        &mut self,
        key: &[u8],
        s: &StrRef,
        from: u64,
        to: u64,
    ) -> Result<Bytes, CommandError> {
        let to = to.min(s.len());
        if from >= to {
            return Ok(Bytes::new());
        }
        let meta = match s {
            StrRef::Inline(v) => return Ok(v.payload.slice(from as usize..to as usize)),
            StrRef::Chunked { meta, .. } => *meta,
        };
        let mut out = vec![0u8; (to - from) as usize];
        let (first, last) = (from / CHUNK as u64, (to - 1) / CHUNK as u64);
        let mut place = |index: u64, chunk: &[u8]| {
            let start = index * CHUNK as u64;
            let (lo, hi) = (start.max(from), (start + chunk.len() as u64).min(to));
            if lo < hi {
                out[(lo - from) as usize..(hi - from) as usize]
                    .copy_from_slice(&chunk[(lo - start) as usize..(hi - start) as usize]);
            }
        };
        if last - first < POINT_READS {
            for index in first..=last {
                let suffix = chunk_suffix(index);
                if let Some(chunk) = self.record_get(Space::Member, key, meta.version, &suffix)? {
                    place(index, &chunk);
                }
            }
        } else {
            let (lo, hi) = (chunk_suffix(first), chunk_suffix(last + 1));
            let span = Span {
                from: Some(&lo),
                to: Some(&hi),
                rev: false,
            };
            self.records(Space::Member, key, meta.version, span, |suffix, chunk| {
                if let Ok(index) = <[u8; 8]>::try_from(suffix) {
                    place(u64::from_be_bytes(index), chunk);
                }
                true
            })?;
        }
        Ok(Bytes::from(out))
    }

    /// Writes `patch` at `offset` into the string `s` at `key` (`None`: a new empty
    /// string), growing it with zero bytes as needed and keeping its expiry. Returns
    /// the new length. The caller checks the length limit and records the event.
    pub fn string_write(
        &mut self,
        key: &[u8],
        s: Option<StrRef>,
        offset: u64,
        patch: &[u8],
    ) -> Result<u64, CommandError> {
        let old_len = s.as_ref().map_or(0, StrRef::len);
        let new_len = old_len.max(offset + patch.len() as u64);
        let expire_at = s.as_ref().map_or(0, StrRef::expire_at);
        let (mut meta, created) = match s {
            Some(StrRef::Chunked { meta, .. }) => (meta, false),
            inline if new_len <= CHUNKED_ABOVE as u64 => {
                let mut value = match inline {
                    Some(StrRef::Inline(v)) => v.payload.to_vec(),
                    _ => Vec::new(),
                };
                let (at, end) = (offset as usize, offset as usize + patch.len());
                if value.len() < end {
                    value.resize(end, 0);
                }
                value[at..end].copy_from_slice(patch);
                self.put(key, ValueType::String, expire_at, &value);
                return Ok(new_len);
            }
            inline => {
                // From inline to chunks: write the old bytes as chunks of a new
                // version (all-zero chunks need no record), then patch as below.
                let meta = self.new_collection();
                if let Some(StrRef::Inline(v)) = inline {
                    for (index, chunk) in v.payload.chunks(CHUNK).enumerate() {
                        if chunk.iter().any(|&b| b != 0) {
                            let suffix = chunk_suffix(index as u64);
                            self.record_put(Space::Member, key, meta.version, &suffix, chunk);
                        }
                    }
                }
                (meta, true)
            }
        };
        if !patch.is_empty() {
            let (first, last) = (
                offset / CHUNK as u64,
                (offset + patch.len() as u64 - 1) / CHUNK as u64,
            );
            for index in first..=last {
                let start = index * CHUNK as u64;
                let size = (new_len - start).min(CHUNK as u64) as usize;
                let suffix = chunk_suffix(index);
                let mut chunk = if start < old_len {
                    match self.record_get(Space::Member, key, meta.version, &suffix)? {
                        Some(c) => c.to_vec(),
                        None => Vec::new(),
                    }
                } else {
                    Vec::new()
                };
                chunk.resize(size, 0);
                let (lo, hi) = (
                    start.max(offset),
                    (start + size as u64).min(offset + patch.len() as u64),
                );
                chunk[(lo - start) as usize..(hi - start) as usize]
                    .copy_from_slice(&patch[(lo - offset) as usize..(hi - offset) as usize]);
                self.record_put(Space::Member, key, meta.version, &suffix, &chunk);
            }
        }
        if created || new_len != old_len {
            meta.size = new_len;
            self.put(
                key,
                ValueType::Chunked,
                expire_at,
                &meta.encode(ValueType::Chunked),
            );
        }
        Ok(new_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_expiry_of_both_forms() {
        let inline = StrRef::Inline(Value {
            kind: ValueType::String,
            expire_at: 7,
            payload: Bytes::from_static(b"abc"),
        });
        assert_eq!(
            (inline.len(), inline.expire_at(), inline.is_chunked()),
            (3, 7, false)
        );
        let chunked = StrRef::Chunked {
            meta: CollectionMeta {
                version: 1,
                size: 1 << 20,
                head: 0,
                tail: 0,
            },
            expire_at: 0,
        };
        assert_eq!((chunked.len(), chunked.is_chunked()), (1 << 20, true));
    }
}
