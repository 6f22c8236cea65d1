//! Connection commands, answered on the network thread: PING, ECHO, SELECT, QUIT,
//! HELLO, AUTH, CLIENT. They read and change the [`Session`], never storage.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::commands::table::{Coord, Kind};
use crate::commands::{arg_i64, is, lookup};
use crate::error::{text, CommandError};
use crate::protocol::Reply;
use crate::state::Session;
use crate::state::{Multi, Unblock};

type Result<T> = std::result::Result<T, CommandError>;

/// The Redis version shardis answers as (clients gate features on it).
pub const REDIS_VERSION: &str = "7.0.15";

/// PING \[message\]
pub fn ping(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    if s.in_pubsub() && !s.resp3 && args.len() <= 2 {
        // In RESP2's subscribed mode PING answers in the shape of a message.
        let message = args.get(1).cloned().unwrap_or_default();
        return Ok(Reply::Array(vec![
            Reply::bulk_static("pong"),
            Reply::Bulk(message),
        ]));
    }
    match args.len() {
        1 => Ok(Reply::Status("PONG".into())),
        2 => Ok(Reply::Bulk(args[1].clone())),
        _ => Err(CommandError::arity("ping")),
    }
}

/// ECHO message
pub fn echo(_s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Bulk(args[1].clone()))
}

/// SELECT index
pub fn select(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let db = arg_i64(&args[1])?;
    if db < 0 || db >= s.ctx.live.databases as i64 {
        return Err(CommandError::other(text::DB_OUT_OF_RANGE));
    }
    s.db = db as u8;
    s.info.db.store(s.db, Ordering::Relaxed);
    Ok(Reply::Ok)
}

/// QUIT: replies OK, then the connection closes.
pub fn quit(s: &mut Session, _args: &[Bytes]) -> Result<Reply> {
    s.closing = true;
    Ok(Reply::Ok)
}

fn check_password(s: &Session, user: Option<&[u8]>, pass: &[u8]) -> bool {
    if user.is_some_and(|u| u != b"default") {
        return false;
    }
    match s.ctx.live.requirepass() {
        None => true,
        Some(p) => p.as_bytes() == pass,
    }
}

/// AUTH \[username\] password
pub fn auth(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    if args.len() == 2 && s.ctx.live.requirepass().is_none() {
        return Err(CommandError::other(text::AUTH_NO_PASSWORD));
    }
    let (user, pass) = if args.len() == 3 {
        (Some(&args[1][..]), &args[2][..])
    } else {
        (None, &args[1][..])
    };
    if check_password(s, user, pass) {
        s.authed = true;
        Ok(Reply::Ok)
    } else {
        Err(CommandError::other(text::WRONGPASS))
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let mut version = if s.resp3 { 3 } else { 2 };
    if args.len() >= 2 {
        let Ok(v) = arg_i64(&args[1]) else {
            return Err(CommandError::other(text::PROTOCOL_VERSION));
        };
        if !(2..=3).contains(&v) {
            return Err(CommandError::other(text::NOPROTO));
        }
        version = v;
    }
    let mut name = None;
    let mut creds = None;
    let mut j = 2;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "auth") && more >= 2 {
            creds = Some((args[j + 1].clone(), args[j + 2].clone()));
            j += 3;
        } else if is(&args[j], "setname") && more >= 1 {
            name = Some(args[j + 1].clone());
            j += 2;
        } else {
            return Err(CommandError::hello_option(&String::from_utf8_lossy(
                &args[j],
            )));
        }
    }
    if let Some((user, pass)) = creds {
        if !check_password(s, Some(&user), &pass) {
            return Err(CommandError::other(text::WRONGPASS));
        }
        s.authed = true;
    }
    if !s.authed {
        return Err(CommandError::other(text::HELLO_NOAUTH));
    }
    if let Some(name) = name {
        set_name(s, name)?;
    }
    s.resp3 = version == 3;
    s.info.resp.store(version as u8, Ordering::Relaxed);
    let b = |t: &str| Reply::bulk(t.as_bytes());
    Ok(Reply::Map(vec![
        (b("server"), b("redis")),
        (b("version"), b(REDIS_VERSION)),
        (b("proto"), Reply::Int(version)),
        (b("id"), Reply::Int(s.info.id as i64)),
        (b("mode"), b("standalone")),
        (b("role"), b("master")),
        (b("modules"), Reply::Array(Vec::new())),
    ]))
}

fn set_name(s: &mut Session, name: Bytes) -> Result<()> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CommandError::other(text::CLIENT_NAME));
    }
    *s.info.name.lock().unwrap_or_else(|e| e.into_inner()) =
        if name.is_empty() { None } else { Some(name) };
    Ok(())
}

/// CLIENT ID | SETNAME | GETNAME | LIST | INFO | KILL | NO-EVICT | HELP
pub fn client(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let spec = lookup(b"client").map(|c| c.spec);
    let Some(sub) = spec.and_then(|c| c.subcommand(&args[1])) else {
        let name = String::from_utf8_lossy(&args[1]);
        return Err(CommandError::unknown_subcommand(&name, "CLIENT"));
    };
    if !sub.arity_ok(args.len()) {
        return Err(CommandError::arity(sub.name));
    }
    Ok(match sub.name {
        "client|id" => Reply::Int(s.info.id as i64),
        "client|getname" => {
            let name = s.info.name();
            if name.is_empty() {
                Reply::Nil
            } else {
                Reply::Bulk(name)
            }
        }
        "client|setname" => {
            set_name(s, args[2].clone())?;
            Reply::Ok
        }
        "client|info" => Reply::Verbatim(format!("{}\n", s.info.describe())),
        "client|list" => {
            let clients = s.ctx.clients.lock().unwrap_or_else(|e| e.into_inner());
            let mut all: Vec<_> = clients.values().cloned().collect();
            drop(clients);
            all.sort_by_key(|c| c.id);
            let ids: Vec<u64> = if args.len() > 3 && is(&args[2], "id") {
                args[3..]
                    .iter()
                    .filter_map(|a| std::str::from_utf8(a).ok()?.parse().ok())
                    .collect()
            } else {
                Vec::new()
            };
            let text: String = all
                .iter()
                .filter(|c| ids.is_empty() || ids.contains(&c.id))
                .map(|c| c.describe() + "\n")
                .collect();
            Reply::Verbatim(text)
        }
        "client|tracking" => super::tracking::tracking(s, args)?,
        "client|caching" => super::tracking::caching(s, args)?,
        "client|trackinginfo" => super::tracking::trackinginfo(s),
        "client|getredir" => super::tracking::getredir(s),
        "client|unblock" => unblock(s, args)?,
        "client|kill" => kill(s, args)?,
        "client|pause" => {
            let ms = match arg_i64(&args[2]) {
                Ok(ms) if ms < 0 => return Err(CommandError::other(text::TIMEOUT_NEGATIVE)),
                Ok(ms) => ms as u64,
                Err(_) => return Err(CommandError::other(text::PAUSE_TIMEOUT_NOT_INTEGER)),
            };
            let all = match args.get(3) {
                None => true,
                Some(m) if is(m, "all") => true,
                Some(m) if is(m, "write") => false,
                Some(_) => return Err(CommandError::other(text::PAUSE_MODE)),
            };
            if args.len() > 4 {
                return Err(CommandError::subcommand_arguments("PAUSE", "CLIENT"));
            }
            let until = tokio::time::Instant::now() + std::time::Duration::from_millis(ms);
            s.ctx.pause.set(until, all);
            Reply::Ok
        }
        "client|unpause" => {
            s.ctx.pause.clear();
            Reply::Ok
        }
        "client|reply" => {
            if is(&args[2], "on") {
                s.reply_off = false;
                s.reply_skip = 0;
            } else if is(&args[2], "off") {
                s.reply_off = true;
            } else if is(&args[2], "skip") {
                s.reply_skip = 2;
            } else {
                return Err(CommandError::Syntax);
            }
            Reply::Ok
        }
        "client|no-evict" => {
            if !is(&args[2], "on") && !is(&args[2], "off") {
                return Err(CommandError::Syntax);
            }
            Reply::Ok
        }
        "client|help" => Reply::Array(
            [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID",
                "    Return the ID of the current connection.",
                "GETNAME",
                "    Return the name of the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "LIST [ID <id> ...]",
                "    Return information about client connections.",
                "INFO",
                "    Return information about the current client connection.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::Status((*l).into()))
            .collect(),
        ),
        other => {
            return Err(CommandError::unsupported(
                &other.replace('|', " ").to_uppercase(),
            ))
        }
    })
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's blocking command.
fn unblock(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let id = arg_i64(&args[2])?;
    let how = match args.get(3) {
        None => Unblock::Timeout,
        Some(a) if is(a, "timeout") => Unblock::Timeout,
        Some(a) if is(a, "error") => Unblock::Error,
        Some(_) => return Err(CommandError::other(text::UNBLOCK_REASON)),
    };
    let target = s
        .ctx
        .clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&(id as u64))
        .cloned();
    Ok(Reply::Int(match target {
        Some(c) if c.is_blocked() => {
            c.doorbell.unblock(how);
            1
        }
        _ => 0,
    }))
}

/// Which clients a CLIENT KILL with filters selects (every given filter must match).
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<Bytes>,
    laddr: Option<Bytes>,
    pubsub: Option<bool>,
    max_age: Option<u64>,
    skip_me: bool,
}

/// CLIENT KILL addr | CLIENT KILL [ID id] [TYPE type] [USER user] [ADDR addr]
/// [LADDR addr] [SKIPME yes|no] [MAXAGE secs]: asks the matching connections to close.
fn kill(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let clients: Vec<_> = {
        let all = s.ctx.clients.lock().unwrap_or_else(|e| e.into_inner());
        all.values().cloned().collect()
    };
    let me = s.info.id;
    if args.len() == 3 {
        // The old form: one address, OK or an error.
        let target = clients
            .iter()
            .find(|c| c.addr.to_string().as_bytes() == args[2].as_ref());
        return match target {
            Some(c) => {
                close(s, c);
                Ok(Reply::Ok)
            }
            None => Err(CommandError::other(text::NO_SUCH_CLIENT)),
        };
    }
    if !args.len().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    let mut f = KillFilter {
        skip_me: true,
        ..Default::default()
    };
    for pair in args[2..].chunks_exact(2) {
        let (opt, v) = (&pair[0], &pair[1]);
        if is(opt, "id") {
            match arg_i64(v) {
                Ok(id) if id > 0 => f.id = Some(id as u64),
                _ => return Err(CommandError::other(text::CLIENT_ID_NOT_POSITIVE)),
            }
        } else if is(opt, "type") {
            f.pubsub = Some(
                if is(v, "normal") || is(v, "master") || is(v, "replica") || is(v, "slave") {
                    false
                } else if is(v, "pubsub") {
                    true
                } else {
                    return Err(CommandError::unknown_client_type(&String::from_utf8_lossy(
                        v,
                    )));
                },
            );
            if is(v, "master") || is(v, "replica") || is(v, "slave") {
                // No replication here: nothing is of those types.
                f.id = Some(0);
            }
        } else if is(opt, "user") {
            if !is(v, "default") {
                return Err(CommandError::no_such_user(&String::from_utf8_lossy(v)));
            }
        } else if is(opt, "addr") {
            f.addr = Some(v.clone());
        } else if is(opt, "laddr") {
            f.laddr = Some(v.clone());
        } else if is(opt, "skipme") {
            f.skip_me = if is(v, "yes") {
                true
            } else if is(v, "no") {
                false
            } else {
                return Err(CommandError::Syntax);
            };
        } else if is(opt, "maxage") {
            f.max_age = Some(arg_i64(v).map_err(|_| CommandError::Syntax)?.max(0) as u64);
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let mut n = 0;
    for c in &clients {
        let matches = f.id.is_none_or(|id| c.id == id)
            && f.addr
                .as_ref()
                .is_none_or(|a| c.addr.to_string().as_bytes() == a.as_ref())
            && f.laddr
                .as_ref()
                .is_none_or(|a| c.laddr.to_string().as_bytes() == a.as_ref())
            && f.pubsub.is_none_or(|p| c.in_pubsub() == p)
            && f.max_age
                .is_none_or(|secs| c.created.elapsed().as_secs() >= secs)
            && !(f.skip_me && c.id == me);
        if matches {
            close(s, c);
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

/// Closes a client's connection: this one after its reply, another one at once.
fn close(s: &mut Session, c: &crate::state::ClientInfo) {
    if c.id == s.info.id {
        s.closing = true;
    } else {
        c.doorbell.kill();
    }
}

/// The connection commands and where each runs, for the command table ([`crate::commands::table`]).
/// MULTI: starts queueing commands for EXEC.
pub fn multi(s: &mut Session, _args: &[Bytes]) -> Result<Reply> {
    if s.multi.is_some() {
        return Err(CommandError::other(text::MULTI_NESTED));
    }
    s.multi = Some(Multi::default());
    Ok(Reply::Ok)
}

/// DISCARD: drops the queued transaction and the watches.
pub fn discard(s: &mut Session, _args: &[Bytes]) -> Result<Reply> {
    if s.multi.take().is_none() {
        return Err(CommandError::other(text::DISCARD_WITHOUT_MULTI));
    }
    s.watch = None;
    Ok(Reply::Ok)
}

/// UNWATCH: forgets every watched key.
pub fn unwatch(s: &mut Session, _args: &[Bytes]) -> Result<Reply> {
    s.watch = None;
    Ok(Reply::Ok)
}

/// RESET: the connection as it was when it was made: no transaction, no watches,
/// database 0, RESP2, no name, authenticated only if no password is required.
pub fn reset(s: &mut Session, _args: &[Bytes]) -> Result<Reply> {
    s.multi = None;
    s.watch = None;
    s.db = 0;
    s.info.db.store(0, Ordering::Relaxed);
    s.resp3 = false;
    s.info.resp.store(2, Ordering::Relaxed);
    *s.info.name.lock().unwrap_or_else(|e| e.into_inner()) = None;
    s.authed = s.ctx.live.requirepass().is_none();
    s.reply_off = false;
    s.reply_skip = 0;
    super::pubsub::leave_all(s);
    if s.tracking.take().is_some() {
        s.ctx.tracking.disable(s.info.id);
    }
    s.caching = false;
    if s.monitoring {
        s.monitoring = false;
        s.ctx.monitors.remove(s.info.id);
    }
    Ok(Reply::Status("RESET".into()))
}

/// MONITOR: from now on every command of every client is copied to this one.
pub fn monitor(s: &mut Session, _args: &[Bytes]) -> Result<Reply> {
    if !s.monitoring {
        s.monitoring = true;
        s.ctx.monitors.add(&s.info);
    }
    Ok(Reply::Ok)
}

pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("select", Kind::Local(select)),
    ("monitor", Kind::Local(monitor)),
    ("ping", Kind::Local(ping)),
    ("echo", Kind::Local(echo)),
    ("quit", Kind::Local(quit)),
    ("hello", Kind::Barrier(hello)),
    ("auth", Kind::Local(auth)),
    ("client", Kind::Local(client)),
    ("multi", Kind::Local(multi)),
    ("discard", Kind::Local(discard)),
    ("unwatch", Kind::Local(unwatch)),
    ("reset", Kind::Local(reset)),
    ("exec", Kind::Coordinated(Coord::Exec, None)),
    ("watch", Kind::Coordinated(Coord::Watch, None)),
];
