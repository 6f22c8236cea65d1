//! CLIENT TRACKING: which clients cached which keys, and their invalidation messages.
//!
//! In the default mode a tracking client's read-only commands record their keys here
//! (by the connection, before the command goes to its shard, so that no write that
//! commits after the read can be missed); when a shard commits a write of such a key,
//! its [`crate::storage::Notifier`] hands the key over and every client that read it
//! gets one `invalidate` message, and the key is forgotten until read again. In BCAST
//! mode nothing is recorded: every written key that starts with one of the client's
//! prefixes (any key without prefixes) is sent to it, one message per prefix per
//! commit. FLUSHALL and FLUSHDB send every tracking client a null invalidation.
//!
//! A message goes to the client itself as a RESP3 push, or to its REDIRECT client: as
//! a push if that one speaks RESP3, as a `message` on `__redis__:invalidate` if it is
//! a RESP2 subscriber. The table holds at most `tracking-table-max-keys` keys (Redis's
//! default: a million): past it, keys are dropped and their readers sent an
//! invalidation, as Redis does; it is emptied when the last tracker stops.
//!
//! Keys are tracked by name, whatever the database, as in Redis.

use std::sync::{Arc, Mutex};

use ahash::{AHashMap, AHashSet};
use bytes::Bytes;

use super::pubsub::{Frames, Limits};
use super::ClientInfo;
use crate::protocol::Reply;
use crate::storage::{Notifier, Touched};

/// What CLIENT TRACKING ON asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mode {
    /// BCAST: prefixes instead of read keys.
    pub bcast: bool,
    /// OPTIN: only reads after CLIENT CACHING YES are tracked.
    pub optin: bool,
    /// OPTOUT: reads after CLIENT CACHING NO are not tracked.
    pub optout: bool,
    /// NOLOOP: no invalidations for the client's own writes.
    pub noloop: bool,
    /// REDIRECT: the client id that receives the messages (0: itself).
    pub redirect: u64,
    /// BCAST prefixes (none: every key).
    pub prefixes: Vec<Bytes>,
}

struct Tracker {
    info: Arc<ClientInfo>,
    mode: Mode,
    /// The redirect client was gone when a message was due (`broken_redirect`).
    broken: bool,
}

#[derive(Default)]
struct Table {
    trackers: AHashMap<u64, Tracker>,
    /// Default mode: key → the clients that read it since it was last written.
    keys: AHashMap<Bytes, AHashSet<u64>>,
}

/// Every tracking client and the keys they cached.
pub struct Tracking {
    table: Mutex<Table>,
    notifier: Arc<Notifier>,
}

impl Tracking {
    /// An empty table that tells `notifier` whether anyone tracks.
    pub fn new(notifier: Arc<Notifier>) -> Tracking {
        Tracking {
            table: Mutex::new(Table::default()),
            notifier,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts (or changes) tracking for `info`.
    pub fn enable(&self, info: &Arc<ClientInfo>, mode: Mode) {
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        info.redir.store(mode.redirect as i64, relaxed);
        info.bcast.store(mode.bcast, relaxed);
        let mut t = self.lock();
        t.trackers.insert(
            info.id,
            Tracker {
                info: info.clone(),
                mode,
                broken: false,
            },
        );
        self.notifier.set_trackers(t.trackers.len());
    }

    /// Stops tracking for client `id` (CLIENT TRACKING OFF, RESET, disconnect).
    pub fn disable(&self, id: u64) {
        let mut t = self.lock();
        if let Some(tr) = t.trackers.remove(&id) {
            let relaxed = std::sync::atomic::Ordering::Relaxed;
            tr.info.redir.store(-1, relaxed);
            tr.info.bcast.store(false, relaxed);
            self.notifier.set_trackers(t.trackers.len());
            if t.trackers.is_empty() {
                t.keys = AHashMap::new();
            }
        }
    }

    /// Whether the client's redirect target went away (TRACKINGINFO's `broken_redirect`).
    pub fn broken(&self, id: u64) -> bool {
        self.lock().trackers.get(&id).is_some_and(|t| t.broken)
    }

    /// Records that client `id` read `keys` (default mode). Past `max` keys in the
    /// table (`tracking-table-max-keys`; 0: no limit) some keys are dropped from it,
    /// their clients told to forget them, as Redis does, so the table stays bounded.
    pub fn remember<'a>(
        &self,
        id: u64,
        keys: impl Iterator<Item = &'a Bytes>,
        max: usize,
        clients: &Clients<'_>,
        limits: Limits,
    ) {
        let mut t = self.lock();
        for k in keys {
            match t.keys.get_mut(k.as_ref()) {
                Some(ids) => {
                    ids.insert(id);
                }
                None => {
                    t.keys.insert(k.clone(), AHashSet::from_iter([id]));
                }
            }
        }
        if max == 0 || t.keys.len() <= max {
            return;
        }
        let excess = t.keys.len() - max;
        let evicted: Vec<Bytes> = t.keys.keys().take(excess).cloned().collect();
        for key in evicted {
            let Some(ids) = t.keys.remove(&key) else {
                continue;
            };
            for id in ids {
                let keys = Reply::Array(vec![Reply::Bulk(key.clone())]);
                send(&mut t, id, keys, clients, limits);
            }
        }
    }

    /// Keys a commit wrote: invalidates them for every client that read them, and
    /// for every BCAST client with a matching prefix.
    pub fn invalidate(&self, touched: &[Touched], clients: &Clients<'_>, limits: Limits) {
        let mut t = self.lock();
        if t.trackers.is_empty() {
            return;
        }
        let mut out: Vec<(u64, Vec<Bytes>)> = Vec::new();
        if !t.keys.is_empty() {
            for k in touched {
                let Some(ids) = t.keys.remove(k.key.as_ref()) else {
                    continue;
                };
                for id in ids {
                    let Some(tr) = t.trackers.get(&id) else {
                        continue;
                    };
                    if tr.mode.bcast || (tr.mode.noloop && k.client == id) {
                        continue;
                    }
                    out.push((id, vec![k.key.clone()]));
                }
            }
        }
        for (id, tr) in t.trackers.iter().filter(|(_, tr)| tr.mode.bcast) {
            let mine = |k: &&Touched| !(tr.mode.noloop && k.client == *id);
            if tr.mode.prefixes.is_empty() {
                let keys = unique(touched.iter().filter(mine).map(|k| &k.key));
                if !keys.is_empty() {
                    out.push((*id, keys));
                }
                continue;
            }
            for p in &tr.mode.prefixes {
                let keys = unique(
                    touched
                        .iter()
                        .filter(mine)
                        .filter(|k| k.key.starts_with(p))
                        .map(|k| &k.key),
                );
                if !keys.is_empty() {
                    out.push((*id, keys));
                }
            }
        }
        for (id, keys) in out {
            let keys = Reply::Array(keys.into_iter().map(Reply::Bulk).collect());
            send(&mut t, id, keys, clients, limits);
        }
    }

    /// FLUSHALL / FLUSHDB: every tracking client drops its whole cache.
    pub fn flushed(&self, clients: &Clients<'_>, limits: Limits) {
        let mut t = self.lock();
        t.keys = AHashMap::new();
        let ids: Vec<u64> = t.trackers.keys().copied().collect();
        for id in ids {
            send(&mut t, id, Reply::Nil, clients, limits);
        }
    }
}

/// Finds a connected client by id (the redirect target).
pub type Clients<'a> = dyn Fn(u64) -> Option<Arc<ClientInfo>> + 'a;

/// The keys of `keys` in first-seen order, without repeats.
fn unique<'a>(keys: impl Iterator<Item = &'a Bytes>) -> Vec<Bytes> {
    let mut seen = AHashSet::new();
    keys.filter(|k| seen.insert(*k)).cloned().collect()
}

/// Sends tracker `id` an invalidation of `keys` (an array, or nil for everything).
fn send(t: &mut Table, id: u64, keys: Reply, clients: &Clients<'_>, limits: Limits) {
    let Some(tr) = t.trackers.get_mut(&id) else {
        return;
    };
    let resp3 = |c: &ClientInfo| c.resp.load(std::sync::atomic::Ordering::Relaxed) == 3;
    let (target, redirected) = if tr.mode.redirect == 0 {
        (tr.info.clone(), false)
    } else {
        match clients(tr.mode.redirect) {
            Some(c) => (c, true),
            None => {
                tr.broken = true;
                if resp3(&tr.info) {
                    let broken = Reply::Push(vec![
                        Reply::bulk_static("tracking-redir-broken"),
                        Reply::Int(tr.mode.redirect as i64),
                    ]);
                    tr.info.mailbox.post(&Frames::new(broken), &tr.info, limits);
                }
                return;
            }
        }
    };
    let message = if resp3(&target) {
        Reply::Push(vec![Reply::bulk_static("invalidate"), keys])
    } else if redirected && target.in_pubsub() {
        Reply::Push(vec![
            Reply::bulk_static("message"),
            Reply::bulk_static("__redis__:invalidate"),
            keys,
        ])
    } else {
        // RESP2 without a subscribed redirect: nothing can carry it.
        return;
    };
    target.mailbox.post(&Frames::new(message), &target, limits);
}
