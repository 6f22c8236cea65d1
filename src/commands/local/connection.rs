//! Connection commands, answered on the network thread: PING, ECHO, SELECT, QUIT,
//! HELLO, AUTH, CLIENT. They read and change the [`Session`], never storage.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::commands::table::{Coord, Kind};
use crate::commands::{arg_i64, is, lookup};
use crate::error::{text, CommandError};
use crate::protocol::Reply;
use crate::state::Multi;
use crate::state::Session;

type Result<T> = std::result::Result<T, CommandError>;

/// The Redis version shardis answers as (clients gate features on it).
pub const REDIS_VERSION: &str = "7.0.15";

/// PING \[message\]
pub fn ping(_s: &mut Session, args: &[Bytes]) -> Result<Reply> {
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
    Ok(Reply::Status("RESET".into()))
}

pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("select", Kind::Local(select)),
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
