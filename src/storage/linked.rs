//! Linked commands: a multi-key command whose keys live on several shards (MSET,
//! MGET, DEL ... across shards) runs on all of them at one instant, and its writes
//! are one RocksDB write batch.
//!
//! Holding the shards for each such command alone would make every MSET wait for
//! four grants in turn and stop the shards in between. Instead one *sequencer* task
//! runs them in rounds: it takes every submission that is waiting (up to
//! [`MAX_ROUND`] commands), holds the union of their shards (ascending, like any
//! hold), sends each shard one program with its part of every command, in
//! submission order, all shards at once, and commits every shard's writes as one
//! RocksDB write. Each command therefore sees, and leaves, every shard at the same
//! point; a crash keeps a round whole or drops it whole; and the cost of a round is
//! shared by all the commands that queued while the previous one ran.
//!
//! A transaction with WATCH comes with a [`WatchCheck`]: the round runs what was
//! submitted before it, checks (the shards of the watched keys are in the round's
//! hold, so nothing else can write them), and then runs the transaction or answers
//! that it aborted. Each such check costs the round one more trip, not a hold.
//!
//! The sequencer is started on first use, on the storage runtime in the dual runtime.

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::shard::{ExecFn, Tx};
use super::watch::WatchCheck;
use super::{Backend, Held};
use crate::error::CommandError;
use crate::protocol::Reply;

type Result<T> = std::result::Result<T, CommandError>;

/// Most commands in one round.
pub(super) const MAX_ROUND: usize = 1024;

/// One command of a shard's program: what a queued request is, without the queue.
pub struct Op {
    /// The database it runs in.
    pub db: u8,
    /// Its handler.
    pub exec: ExecFn,
    /// Its arguments (only this shard's keys, for a split command).
    pub args: Vec<Bytes>,
    /// Its position among the commands of the hold (see [`super::Held::set_rank`]).
    pub rank: u64,
}

/// Runs a shard's program against one batch: each command's reply, in order.
pub fn run_program(tx: &mut Tx<'_>, ops: Vec<Op>) -> Vec<Reply> {
    ops.into_iter()
        .map(|op| {
            tx.db = op.db;
            tx.set_rank(op.rank);
            (op.exec)(tx, &op.args).unwrap_or_else(Reply::from)
        })
        .collect()
}

/// One command split by shard: `(shard, args)` per part.
pub struct LinkedJob {
    /// The database it runs in.
    pub db: u8,
    /// The handler every part runs.
    pub exec: ExecFn,
    /// Each shard's share.
    pub parts: Vec<(usize, Vec<Bytes>)>,
}

/// The replies of a submission: per job, one reply per part; `None` if its watch
/// check failed and nothing of it ran.
pub type LinkedReplies = Result<Option<Vec<Vec<Reply>>>>;

/// A connection's linked commands of one batch (or one transaction), in order.
pub(super) struct Submission {
    jobs: Vec<LinkedJob>,
    check: Option<WatchCheck>,
    reply: oneshot::Sender<LinkedReplies>,
}

/// The handle the backend keeps on its sequencer.
pub(super) type Sequencer = mpsc::UnboundedSender<Submission>;

impl Backend {
    /// Runs `jobs` atomically, each across its shards (see the module docs), in
    /// order; with `check`, only if it passes when their turn comes.
    pub async fn linked(&self, jobs: Vec<LinkedJob>, check: Option<WatchCheck>) -> LinkedReplies {
        let (reply, wait) = oneshot::channel();
        let sequencer = self.sequencer();
        sequencer
            .send(Submission { jobs, check, reply })
            .map_err(|_| CommandError::Unavailable)?;
        wait.await.map_err(|_| CommandError::Unavailable)?
    }

    fn sequencer(&self) -> &Sequencer {
        let (cell, rt) = match self {
            Backend::Dual(d) => (&d.sequencer, &d.rt),
            Backend::Single(s) => (&s.sequencer, &s.rt),
        };
        cell.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            rt.spawn(sequence(self.clone(), rx));
            tx
        })
    }
}

/// The sequencer: one round at a time, each with everything that queued meanwhile.
async fn sequence(backend: Backend, mut rx: mpsc::UnboundedReceiver<Submission>) {
    let mut round = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut jobs = first.jobs.len();
        round.push(first);
        while jobs < MAX_ROUND {
            match rx.try_recv() {
                Ok(s) => {
                    jobs += s.jobs.len();
                    round.push(s);
                }
                Err(_) => break,
            }
        }
        run_round(&backend, &mut round).await;
    }
}

/// Runs one round and answers each submission of it.
async fn run_round(backend: &Backend, round: &mut Vec<Submission>) {
    let n = backend.shards();
    let mut shards: Vec<usize> = Vec::new();
    for sub in round.iter() {
        for job in &sub.jobs {
            shards.extend(job.parts.iter().map(|&(s, _)| s).filter(|&s| s < n));
        }
        if let Some(check) = &sub.check {
            shards.extend(check.generations.iter().map(|&(s, _)| s).filter(|&s| s < n));
        }
    }
    shards.sort_unstable();
    shards.dedup();
    match execute(backend, &shards, round).await {
        Ok(answers) => {
            for (sub, answer) in round.drain(..).zip(answers) {
                let _ = sub.reply.send(Ok(answer));
            }
        }
        Err(e) => {
            for sub in round.drain(..) {
                let _ = sub.reply.send(Err(e.clone()));
            }
        }
    }
}

/// Where each part's reply will be: (shard, index in the shard's replies).
type Placed = Vec<Vec<(usize, usize)>>;

/// Holds `shards`, runs the round's programs (in phases, one before each watch
/// check), commits, and returns each submission's replies.
async fn execute(
    backend: &Backend,
    shards: &[usize],
    round: &mut [Submission],
) -> Result<Vec<Option<Vec<Vec<Reply>>>>> {
    let n = backend.shards();
    let mut held = backend.hold(shards).await?;
    let mut results: Vec<Vec<Reply>> = (0..n).map(|_| Vec::new()).collect();
    let mut programs: Vec<Vec<Op>> = (0..n).map(|_| Vec::new()).collect();
    let mut placed: Vec<Option<Placed>> = Vec::with_capacity(round.len());
    let mut rank = 0;
    for sub in round.iter_mut() {
        if let Some(check) = &sub.check {
            run_phase(&mut held, &mut programs, &mut results).await?;
            if !check.passes(held.now_ms(), |s| backend.generation(s)) {
                placed.push(None);
                continue;
            }
        }
        let mut jobs = Vec::with_capacity(sub.jobs.len());
        for job in &mut sub.jobs {
            rank += 1;
            let mut parts = Vec::with_capacity(job.parts.len());
            for (shard, args) in job.parts.drain(..) {
                let Some(program) = programs.get_mut(shard) else {
                    continue;
                };
                parts.push((shard, results[shard].len() + program.len()));
                program.push(Op {
                    db: job.db,
                    exec: job.exec,
                    args,
                    rank,
                });
            }
            jobs.push(parts);
        }
        placed.push(Some(jobs));
    }
    run_phase(&mut held, &mut programs, &mut results).await?;
    held.commit().await?;
    Ok(placed
        .into_iter()
        .map(|jobs| {
            jobs.map(|jobs| {
                jobs.into_iter()
                    .map(|parts| {
                        parts
                            .into_iter()
                            .map(|(s, i)| std::mem::replace(&mut results[s][i], Reply::Nil))
                            .collect()
                    })
                    .collect()
            })
        })
        .collect())
}

/// Runs what the programs hold so far, every shard at once, and empties them.
async fn run_phase(
    held: &mut Held,
    programs: &mut [Vec<Op>],
    results: &mut [Vec<Reply>],
) -> Result<()> {
    let calls: Vec<_> = programs
        .iter_mut()
        .enumerate()
        .filter(|(_, ops)| !ops.is_empty())
        .map(|(s, ops)| {
            let ops = std::mem::take(ops);
            (s, move |tx: &mut Tx<'_>| Ok(run_program(tx, ops)))
        })
        .collect();
    if calls.is_empty() {
        return Ok(());
    }
    let order: Vec<usize> = calls.iter().map(|(s, _)| *s).collect();
    for (s, answered) in order.into_iter().zip(held.call_each(0, calls).await?) {
        results[s].extend(answered?);
    }
    Ok(())
}
