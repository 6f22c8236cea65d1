//! A shard's channel: a bounded, ordered flume channel whose receiver is woken by a
//! [`Notify`] after each send, not by flume itself.
//!
//! Why not `recv_async`: flume wakes an async receiver from inside the channel's lock.
//! Waking a parked tokio worker is a system call (an eventfd write), so the shard's
//! worker, already running on the other core, would find the lock still held by the
//! network thread, spin, and often sleep on it, one more context switch per group (8%
//! of the storage thread's CPU in a SET P1 profile). Here the receiver only ever calls
//! `try_recv`, so flume has no receiver to wake; the sender wakes it through the
//! `Notify` once the message is queued and flume's lock is released.
//!
//! No wake-up is lost: a sender queues first and notifies second, and the receiver
//! checks the queue before it waits; a notification that finds nobody waiting is kept
//! as a permit for the next wait.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::Notify;

use super::{ShardCounters, ShardMsg};

/// Creates a shard channel holding at most `capacity` messages.
pub(crate) fn bounded(capacity: usize) -> (ShardTx, ShardRx) {
    let (tx, rx) = flume::bounded(capacity);
    let wake = Arc::new(Notify::new());
    (
        ShardTx {
            tx,
            wake: wake.clone(),
        },
        ShardRx { rx, wake },
    )
}

/// The sending end (cloned by every network thread's outbox).
#[derive(Clone)]
pub(crate) struct ShardTx {
    tx: flume::Sender<ShardMsg>,
    wake: Arc<Notify>,
}

impl ShardTx {
    /// Sends unless the channel is full (or the shard is gone).
    pub(crate) fn try_send(&self, msg: ShardMsg) -> Result<(), flume::TrySendError<ShardMsg>> {
        self.tx.try_send(msg)?;
        self.wake.notify_one();
        Ok(())
    }

    /// Sends, waiting while the channel is full (backpressure on this sender only).
    pub(crate) async fn send_async(&self, msg: ShardMsg) -> Result<(), flume::SendError<ShardMsg>> {
        self.tx.send_async(msg).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Sends, waiting while the channel is full and counting that wait in `counters`
    /// (INFO storage's backpressure). Gives the message back if the shard is gone.
    pub(crate) async fn send_counted(
        &self,
        msg: ShardMsg,
        counters: &ShardCounters,
    ) -> Result<(), ShardMsg> {
        match self.try_send(msg) {
            Ok(()) => Ok(()),
            Err(flume::TrySendError::Full(msg)) => {
                counters.backpressure.fetch_add(1, Ordering::Relaxed);
                self.send_async(msg)
                    .await
                    .map_err(|flume::SendError(msg)| msg)
            }
            Err(flume::TrySendError::Disconnected(msg)) => Err(msg),
        }
    }

    /// Messages queued.
    pub(crate) fn len(&self) -> usize {
        self.tx.len()
    }
}

/// The receiving end (the shard task; a restarted shard gets a clone).
#[derive(Clone)]
pub(crate) struct ShardRx {
    rx: flume::Receiver<ShardMsg>,
    wake: Arc<Notify>,
}

impl ShardRx {
    /// The next message, waiting for one; `None` once every sender is gone and the
    /// queue is empty. (Senders live as long as the server, which stops its shards
    /// with [`ShardMsg::Stop`], so a shard never waits on a channel without senders.)
    pub(crate) async fn recv(&self) -> Option<ShardMsg> {
        loop {
            match self.rx.try_recv() {
                Ok(msg) => return Some(msg),
                Err(flume::TryRecvError::Disconnected) => return None,
                Err(flume::TryRecvError::Empty) => self.wake.notified().await,
            }
        }
    }

    /// The next message if one is queued.
    pub(crate) fn try_recv(&self) -> Option<ShardMsg> {
        self.rx.try_recv().ok()
    }

    /// Messages queued.
    pub(crate) fn len(&self) -> usize {
        self.rx.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_in_order_and_wake_the_receiver() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let (tx, rx) = bounded(4);
        let got = rt.spawn(async move {
            let mut n = 0;
            while let Some(msg) = rx.recv().await {
                match msg {
                    ShardMsg::Sweep => n += 1,
                    ShardMsg::Stop(done) => {
                        let _ = done.send(());
                        return n;
                    }
                    _ => unreachable!(),
                }
            }
            n
        });
        // The receiver is parked between these sends: each must wake it. A lost
        // wake-up leaves it parked (and the sender waiting on the full channel): the
        // timeout turns that into a failure.
        let sends = async {
            for _ in 0..100 {
                tx.send_async(ShardMsg::Sweep).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_micros(50)).await;
            }
            let (done, stopped) = tokio::sync::oneshot::channel();
            tx.send_async(ShardMsg::Stop(done)).await.unwrap();
            stopped.await.unwrap();
        };
        let ten = std::time::Duration::from_secs(10);
        rt.block_on(async { tokio::time::timeout(ten, sends).await })
            .expect("the receiver missed a wake-up");
        assert_eq!(rt.block_on(got).unwrap(), 100);
    }

    #[test]
    fn a_full_channel_refuses_try_send() {
        let (tx, rx) = bounded(1);
        assert!(tx.try_send(ShardMsg::Sweep).is_ok());
        assert!(matches!(
            tx.try_send(ShardMsg::Sweep),
            Err(flume::TrySendError::Full(_))
        ));
        assert_eq!((tx.len(), rx.len()), (1, 1));
        assert!(rx.try_recv().is_some());
        assert!(rx.try_recv().is_none());
    }
}
