//! Holding shards: the one way to run several steps on several shards atomically.
//!
//! A coordinator (a network-side task) asks [`super::Backend::hold`] for the shards
//! it needs, in ascending order, so two coordinators never wait for each other in a
//! cycle. A held shard runs nothing but the coordinator's steps: in the dual runtime
//! its task leaves its queue alone and serves the hold's channel; in the single
//! runtime the coordinator owns the shard's mutex.
//!
//! * [`Held::call`] runs a closure `FnOnce(&mut Tx) -> Result<T>` on one held shard
//!   and hands `T` back: typed values cross between shards, never replies or argument
//!   bytes. The closure runs on the shard's thread (a storage thread in the dual
//!   runtime), so only the storage side touches RocksDB.
//! * A step's writes join that shard's batch; nothing is written while the hold lasts.
//!   Point reads see earlier steps' writes through the shard's cache; range reads
//!   merge the batch over RocksDB's records (`Engine::scan_over`) instead of writing
//!   it early, so a crash can never keep half of a hold.
//! * [`Held::commit`] writes the batches of every held shard as one RocksDB write
//!   batch: a crash keeps all of the hold's writes or none. Dropping a [`Held`]
//!   without committing drops its writes.
//!
//! Time is frozen for a hold: every step sees the `now_ms` taken when it began, as
//! Redis does for a script or a transaction.

use std::time::Duration;

use tokio::sync::oneshot;

use super::shard::{Shard, Tx};
use crate::error::text;
use crate::error::CommandError;

/// What a held shard runs: a step, on the shard's own thread.
pub(crate) type HeldOp = Box<dyn FnOnce(&mut Shard) + Send>;

/// Shards held by a coordinator; dropping it releases them.
pub struct Held {
    pub(super) held: Vec<(usize, HeldShard)>,
    pub(super) timeout: Duration,
    pub(super) now_ms: u64,
    /// Where the next steps stand among the caller's commands: their keyspace events
    /// are published in this order, then in the order they happened.
    pub(super) rank: u64,
}

pub(super) enum HeldShard {
    Dual(flume::Sender<HeldOp>),
    Single(tokio::sync::OwnedMutexGuard<Shard>),
}

type Result<T> = std::result::Result<T, CommandError>;

impl Held {
    /// Runs `f` on held shard `shard` in database `db` and returns what it returns.
    /// The step's writes are committed with the hold ([`Held::commit`]).
    pub async fn call<T, F>(&mut self, shard: usize, db: u8, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        let mut out = self.call_each(db, vec![(shard, f)]).await?;
        out.pop().unwrap_or(Err(CommandError::Unavailable))
    }

    /// Runs one step on each of several held shards at once (each `(shard, f)` on
    /// its shard, concurrently in the dual runtime) and returns each step's result,
    /// in order. Fails as a whole only if a shard does not answer.
    pub async fn call_each<T, F>(
        &mut self,
        db: u8,
        steps: Vec<(usize, F)>,
    ) -> Result<Vec<Result<T>>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        let (now, rank) = (self.now_ms, self.rank);
        let ops = steps
            .into_iter()
            .map(|(shard, f)| {
                (shard, move |s: &mut Shard| {
                    s.set_rank(rank);
                    s.run_step(db, now, f)
                })
            })
            .collect();
        self.on_shards(ops).await.into_iter().collect()
    }

    /// Ranks the keyspace events of the steps that follow (a transaction's command
    /// index): a hold publishes its events in rank order, then in the order they
    /// happened, whatever shard they happened on.
    pub fn set_rank(&mut self, rank: u64) {
        self.rank = rank;
    }

    /// The time every step of the hold sees, Unix ms.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Commits the writes of every held shard as one RocksDB write, then releases
    /// the shards. On error nothing of the hold is written.
    pub async fn commit(mut self) -> Result<()> {
        let Some(&(last, _)) = self.held.last() else {
            return Ok(());
        };
        let others: Vec<_> = self.held[..self.held.len() - 1]
            .iter()
            .map(|&(s, _)| (s, |shard: &mut Shard| shard.take_batch()))
            .collect();
        let mut batches = Vec::with_capacity(others.len());
        let mut outcome = Ok(());
        for taken in self.on_shards(others).await {
            match taken {
                Ok(Ok(batch)) => batches.push(batch),
                Ok(Err(e)) => outcome = Err(e.into()),
                Err(e) => outcome = Err(e),
            }
        }
        if outcome.is_ok() {
            let commit = move |shard: &mut Shard| shard.commit_with_others(batches);
            outcome = match self.on_shards(vec![(last, commit)]).await.pop() {
                Some(Ok(r)) => r.map_err(CommandError::from),
                Some(Err(e)) => Err(e),
                None => Err(CommandError::Unavailable),
            };
        }
        let committed = outcome.is_ok();
        for i in 0..self.held.len() {
            self.end(i, committed);
        }
        self.held.clear();
        outcome
    }

    /// Ends the hold on `self.held[i]` without waiting for the shard.
    fn end(&mut self, i: usize, committed: bool) {
        match &mut self.held[i].1 {
            HeldShard::Dual(ops) => {
                let _ = ops.send(Box::new(move |s: &mut Shard| s.end_hold(committed)));
            }
            HeldShard::Single(guard) => guard.end_hold(committed),
        }
    }

    /// Runs each `(shard, f)` on its shard itself (steps and the hold's own
    /// bookkeeping): first hands every one to its shard, then waits for them all,
    /// each within the hold's timeout.
    async fn on_shards<T, F>(&mut self, ops: Vec<(usize, F)>) -> Vec<Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Shard) -> T + Send + 'static,
    {
        enum Wait<T> {
            Done(Result<T>),
            Pending(oneshot::Receiver<T>),
        }
        let mut waits = Vec::with_capacity(ops.len());
        for (shard, f) in ops {
            let Some((_, h)) = self.held.iter_mut().find(|(s, _)| *s == shard) else {
                waits.push(Wait::Done(Err(CommandError::other(text::SHARD_NOT_HELD))));
                continue;
            };
            waits.push(match h {
                HeldShard::Dual(ops) => {
                    let (tx, rx) = oneshot::channel();
                    let op: HeldOp = Box::new(move |s: &mut Shard| {
                        let _ = tx.send(f(s));
                    });
                    match ops.send(op) {
                        Ok(()) => Wait::Pending(rx),
                        Err(_) => Wait::Done(Err(CommandError::Unavailable)),
                    }
                }
                HeldShard::Single(guard) => Wait::Done(Ok(f(guard))),
            });
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut out = Vec::with_capacity(waits.len());
        for wait in waits {
            out.push(match wait {
                Wait::Done(r) => r,
                Wait::Pending(rx) => match tokio::time::timeout_at(deadline, rx).await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(_)) => Err(CommandError::Unavailable),
                    Err(_) => Err(CommandError::Timeout),
                },
            });
        }
        out
    }
}

impl Drop for Held {
    /// A hold dropped before [`Held::commit`] drops its writes. (In the dual runtime
    /// the shard task also ends the hold when the channel closes; ending it twice is
    /// harmless.)
    fn drop(&mut self) {
        for i in 0..self.held.len() {
            self.end(i, false);
        }
    }
}

/// Serves a hold on the shard's task (dual runtime) until the coordinator lets go.
pub(super) async fn serve(shard: &mut Shard, granted: oneshot::Sender<flume::Sender<HeldOp>>) {
    let (tx, rx) = flume::unbounded();
    if granted.send(tx).is_err() {
        return;
    }
    shard.begin_hold();
    while let Ok(op) = rx.recv_async().await {
        op(shard);
    }
    // Released, committed or not: whatever is still in the batch is dropped.
    shard.end_hold(false);
}
