//! Pub/sub commands, answered on the network thread: SUBSCRIBE, PSUBSCRIBE,
//! SSUBSCRIBE and their UNSUBSCRIBE forms, PUBLISH, SPUBLISH, PUBSUB. The registry and
//! the delivery are [`crate::state::pubsub`]; nothing here touches storage.
//!
//! Every (un)subscription is confirmed with its own push reply (`>3` in RESP3, `*3`
//! in RESP2) that carries the client's count afterwards: channels plus patterns for
//! the plain kinds, shard channels for the shard kind, as Redis counts them.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::commands::table::Kind;
use crate::commands::{is, lookup};
use crate::error::CommandError;
use crate::protocol::Reply;
use crate::state::pubsub;
use crate::state::Session;

type Result<T> = std::result::Result<T, CommandError>;

fn kind_of(name: &[u8]) -> pubsub::Kind {
    let lower = name.to_ascii_lowercase();
    match lower.as_slice() {
        b"psubscribe" | b"punsubscribe" => pubsub::Kind::Pattern,
        b"ssubscribe" | b"sunsubscribe" | b"spublish" => pubsub::Kind::Shard,
        _ => pubsub::Kind::Channel,
    }
}

/// The count a confirmation carries after a change of `kind`.
fn count(s: &Session, kind: pubsub::Kind) -> i64 {
    match kind {
        pubsub::Kind::Shard => s.subscribed[2].len() as i64,
        _ => (s.subscribed[0].len() + s.subscribed[1].len()) as i64,
    }
}

fn confirm(what: &'static str, name: Reply, n: i64) -> Reply {
    Reply::Push(vec![Reply::bulk_static(what), name, Reply::Int(n)])
}

/// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE name [name ...]
pub fn subscribe(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let kind = kind_of(&args[0]);
    let what = match kind {
        pubsub::Kind::Channel => "subscribe",
        pubsub::Kind::Pattern => "psubscribe",
        pubsub::Kind::Shard => "ssubscribe",
    };
    let mut out = Vec::with_capacity(args.len() - 1);
    for name in &args[1..] {
        if s.subscribed[kind as usize].insert(name.clone()) {
            s.ctx.pubsub.subscribe(kind, name, &s.info);
            s.info.subscriptions[kind as usize].fetch_add(1, Ordering::Relaxed);
        }
        out.push(confirm(what, Reply::Bulk(name.clone()), count(s, kind)));
    }
    Ok(Reply::Many(out))
}

/// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE [name ...]: without names, from all.
pub fn unsubscribe(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let kind = kind_of(&args[0]);
    Ok(leave(s, kind, &args[1..]))
}

/// Leaves `names` of `kind` (all of them if none is given), one confirmation each.
pub fn leave(s: &mut Session, kind: pubsub::Kind, names: &[Bytes]) -> Reply {
    let what = match kind {
        pubsub::Kind::Channel => "unsubscribe",
        pubsub::Kind::Pattern => "punsubscribe",
        pubsub::Kind::Shard => "sunsubscribe",
    };
    let names: Vec<Bytes> = if names.is_empty() {
        s.subscribed[kind as usize].iter().cloned().collect()
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        return Reply::Many(vec![confirm(what, Reply::Nil, count(s, kind))]);
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if s.subscribed[kind as usize].remove(&name) {
            s.ctx.pubsub.unsubscribe(kind, &name, s.info.id);
            s.info.subscriptions[kind as usize].fetch_sub(1, Ordering::Relaxed);
        }
        out.push(confirm(what, Reply::Bulk(name), count(s, kind)));
    }
    Reply::Many(out)
}

/// Leaves every channel, pattern and shard channel without confirmations (RESET).
pub fn leave_all(s: &mut Session) {
    for kind in [
        pubsub::Kind::Channel,
        pubsub::Kind::Pattern,
        pubsub::Kind::Shard,
    ] {
        for name in std::mem::take(&mut s.subscribed[kind as usize]) {
            s.ctx.pubsub.unsubscribe(kind, &name, s.info.id);
        }
        s.info.subscriptions[kind as usize].store(0, Ordering::Relaxed);
    }
}

/// PUBLISH channel message / SPUBLISH shardchannel message: how many received it.
pub fn publish(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let kind = kind_of(&args[0]);
    let limits = s.ctx.pubsub_limits();
    Ok(Reply::Int(
        s.ctx.pubsub.publish(kind, &args[1], &args[2], limits),
    ))
}

/// PUBSUB CHANNELS | NUMSUB | NUMPAT | SHARDCHANNELS | SHARDNUMSUB | HELP
pub fn pubsub_command(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let spec = lookup(b"pubsub").map(|c| c.spec);
    let Some(sub) = spec.and_then(|c| c.subcommand(&args[1])) else {
        let name = String::from_utf8_lossy(&args[1]);
        return Err(CommandError::unknown_subcommand(&name, "PUBSUB"));
    };
    if !sub.arity_ok(args.len()) {
        return Err(CommandError::arity(sub.name));
    }
    let names = |kind| -> Result<Reply> {
        if args.len() > 3 {
            let name = String::from_utf8_lossy(&args[1]).to_uppercase();
            return Err(CommandError::subcommand_arguments(&name, "PUBSUB"));
        }
        let pattern = args.get(2).map(|p| p.as_ref());
        let found = s.ctx.pubsub.names(kind, pattern);
        Ok(Reply::Array(found.into_iter().map(Reply::Bulk).collect()))
    };
    let counts = |kind| {
        let mut out = Vec::with_capacity((args.len() - 2) * 2);
        for name in &args[2..] {
            out.push(Reply::Bulk(name.clone()));
            out.push(Reply::Int(s.ctx.pubsub.listeners(kind, name) as i64));
        }
        Reply::Array(out)
    };
    Ok(match sub.name {
        "pubsub|channels" => names(pubsub::Kind::Channel)?,
        "pubsub|shardchannels" => names(pubsub::Kind::Shard)?,
        "pubsub|numsub" => counts(pubsub::Kind::Channel),
        "pubsub|shardnumsub" => counts(pubsub::Kind::Shard),
        "pubsub|numpat" => Reply::Int(s.ctx.pubsub.patterns() as i64),
        _ if is(&args[1], "help") => {
            Reply::Array(HELP.iter().map(|l| Reply::Status((*l).into())).collect())
        }
        other => {
            return Err(CommandError::unsupported(
                &other.replace('|', " ").to_uppercase(),
            ))
        }
    })
}

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

/// The pub/sub commands and where each runs, for the command table.
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("subscribe", Kind::Local(subscribe)),
    ("psubscribe", Kind::Local(subscribe)),
    ("ssubscribe", Kind::Local(subscribe)),
    ("unsubscribe", Kind::Local(unsubscribe)),
    ("punsubscribe", Kind::Local(unsubscribe)),
    ("sunsubscribe", Kind::Local(unsubscribe)),
    ("publish", Kind::Local(publish)),
    ("spublish", Kind::Local(publish)),
    ("pubsub", Kind::Local(pubsub_command)),
];
