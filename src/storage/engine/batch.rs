//! A group's writes, kept by the shard and turned into one RocksDB `WriteBatch` when
//! they are written (storage threads only).

use std::collections::BTreeMap;
use std::ops::Bound;

/// Writes that are applied together, atomically, by [`Engine::write`].
///
/// The batch keeps its operations itself and builds the RocksDB `WriteBatch` only when
/// it is written, in an order that is cheaper for the memtable but gives the same
/// result:
///
/// * Point writes (puts and deletes) after the last range delete are sorted by key
///   (stably), and of several writes to one key only the last is kept. A batch is
///   applied atomically, so nobody can observe the intermediate values, and a group
///   that updates one collection's metadata once per command writes it once.
/// * Inserting keys in ascending order lets RocksDB's skiplist memtable reuse the
///   search path of the previous insert (its "splice") for the upper levels, instead of
///   searching from the top with a cache miss per level. On a 2-core machine this
///   search was the largest single cost of a write.
/// * Range deletes, and the writes issued before them, keep their issue order, since a
///   range delete must not overtake a write it covers.
#[derive(Default)]
pub struct Batch {
    /// Keys and values, back to back.
    pub(super) data: Vec<u8>,
    pub(super) ops: Vec<BatchOp>,
    /// `ops[..ordered]` are written in issue order; the rest may be sorted.
    ordered: usize,
}

/// A point in a batch's history ([`Batch::mark`]).
#[derive(Clone, Copy, Debug)]
pub struct BatchMark {
    ops: usize,
    data: usize,
    ordered: usize,
}

/// A batch's effect on one key range, over what RocksDB holds: `writes` are the last
/// value (or deletion) of each key written after any range delete that covers it,
/// and keys in `cleared` that are not in `writes` are gone.
#[derive(Default, Debug)]
pub struct Overlay {
    pub(super) writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub(super) cleared: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Overlay {
    /// Whether a range delete of the batch removed `key` (as RocksDB holds it).
    pub(super) fn cleared(&self, key: &[u8]) -> bool {
        self.cleared
            .iter()
            .any(|(a, b)| key >= a.as_slice() && key < b.as_slice())
    }
}

/// Most bytes of keys and values a cleared [`Batch`] keeps allocated.
pub(super) const BATCH_KEEP_BYTES: usize = 4 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum OpKind {
    Put,
    Delete,
    /// Deletes `[key, value)`.
    DeleteRange,
}

/// One operation: its key is `data[at..at + key_len]`, its value the `value_len`
/// bytes after it.
#[derive(Clone, Copy, Debug)]
pub(super) struct BatchOp {
    pub(super) kind: OpKind,
    at: usize,
    key_len: usize,
    value_len: usize,
}

impl BatchOp {
    pub(super) fn key<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        &data[self.at..self.at + self.key_len]
    }

    pub(super) fn value<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        let from = self.at + self.key_len;
        &data[from..from + self.value_len]
    }
}

impl Batch {
    fn push(&mut self, kind: OpKind, key: &[u8], value: &[u8]) {
        self.ops.push(BatchOp {
            kind,
            at: self.data.len(),
            key_len: key.len(),
            value_len: value.len(),
        });
        self.data.extend_from_slice(key);
        self.data.extend_from_slice(value);
    }

    /// Stores `value` under `key`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.push(OpKind::Put, key, value);
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: &[u8]) {
        self.push(OpKind::Delete, key, &[]);
    }

    /// Removes every key in `[from, to)`.
    pub fn delete_range(&mut self, from: &[u8], to: &[u8]) {
        self.push(OpKind::DeleteRange, from, to);
        self.ordered = self.ops.len();
    }

    /// Where the batch ends now, so that what is issued after can be dropped
    /// ([`Batch::truncate`]).
    pub fn mark(&self) -> BatchMark {
        BatchMark {
            ops: self.ops.len(),
            data: self.data.len(),
            ordered: self.ordered,
        }
    }

    /// Drops the operations issued after `mark` (the batch has not been sorted since:
    /// it sorts only when it is written).
    pub fn truncate(&mut self, mark: BatchMark) {
        self.ops.truncate(mark.ops);
        self.data.truncate(mark.data);
        self.ordered = mark.ordered;
    }

    /// Number of operations issued (before any merging of writes to one key).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Empties the batch, keeping its buffers for the next group (up to
    /// [`BATCH_KEEP_BYTES`]: one group of large values must not pin its memory).
    pub fn clear(&mut self) {
        if self.data.capacity() > BATCH_KEEP_BYTES {
            *self = Batch::default();
            return;
        }
        self.data.clear();
        self.ops.clear();
        self.ordered = 0;
    }

    /// What the batch changes in `[from, to)`, for a range read that must see the
    /// batch's writes before they are written (a range read inside a transaction).
    pub fn overlay(&self, from: &[u8], to: &[u8]) -> Overlay {
        let mut overlay = Overlay::default();
        let data = &self.data;
        for op in &self.ops {
            let key = op.key(data);
            match op.kind {
                OpKind::Put | OpKind::Delete if key >= from && key < to => {
                    let value = (op.kind == OpKind::Put).then(|| op.value(data).to_vec());
                    overlay.writes.insert(key.to_vec(), value);
                }
                OpKind::Put | OpKind::Delete => {}
                OpKind::DeleteRange => {
                    let (lo, hi) = (key.max(from), op.value(data).min(to));
                    if lo >= hi {
                        continue;
                    }
                    // The range delete covers the writes before it, not the ones after.
                    let covered: Vec<Vec<u8>> = overlay
                        .writes
                        .range::<[u8], _>((Bound::Included(lo), Bound::Excluded(hi)))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in covered {
                        overlay.writes.remove(&k);
                    }
                    overlay.cleared.push((lo.to_vec(), hi.to_vec()));
                }
            }
        }
        overlay
    }

    /// Sorts the sortable operations (see the type's docs).
    pub(super) fn sort(&mut self) {
        let data = &self.data;
        self.ops[self.ordered..].sort_by(|a, b| a.key(data).cmp(b.key(data)));
    }

    /// Once sorted, the operations to write, in write order: of several writes to one
    /// key in the sorted part, only the last.
    pub(super) fn to_write(&self) -> impl Iterator<Item = &BatchOp> + '_ {
        let (data, ops) = (&self.data, &self.ops);
        ops.iter().enumerate().filter_map(move |(i, op)| {
            let overwritten = i >= self.ordered
                && ops
                    .get(i + 1)
                    .is_some_and(|next| next.key(data) == op.key(data));
            (!overwritten).then_some(op)
        })
    }

    /// The RocksDB batch to write.
    pub(super) fn build(&mut self) -> rocksdb::WriteBatch {
        let mut wb =
            rocksdb::WriteBatch::with_capacity_bytes(self.data.len() + 16 * self.ops.len());
        self.append_to(&mut wb);
        wb
    }

    /// Sorts, then appends the operations to write to `wb`.
    pub(super) fn append_to(&mut self, wb: &mut rocksdb::WriteBatch) {
        self.sort();
        for op in self.to_write() {
            let (key, value) = (op.key(&self.data), op.value(&self.data));
            match op.kind {
                OpKind::Put => wb.put(key, value),
                OpKind::Delete => wb.delete(key),
                OpKind::DeleteRange => wb.delete_range(key, value),
            }
        }
    }
}
