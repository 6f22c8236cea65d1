//! Connection commands, answered on the network thread: PING, ECHO, SELECT, QUIT,
//! HELLO, AUTH, CLIENT. They read and change the [`Session`], never storage.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::commands::table::Kind;
use crate::commands::{arg_i64, arity_error, is, lookup};
use crate::protocol::Reply;
use crate::state::Session;

/// The Redis version shardis answers as (clients gate features on it).
pub const REDIS_VERSION: &str = "7.0.15";

/// PING \[message\]
pub fn ping(_s: &mut Session, args: &[Bytes]) -> Reply {
    match args.len() {
        1 => Reply::Status("PONG".into()),
        2 => Reply::Bulk(args[1].clone()),
        _ => arity_error("ping"),
    }
}

/// ECHO message
pub fn echo(_s: &mut Session, args: &[Bytes]) -> Reply {
    Reply::Bulk(args[1].clone())
}

/// SELECT index
pub fn select(s: &mut Session, args: &[Bytes]) -> Reply {
    let Ok(db) = arg_i64(&args[1]) else {
        return Reply::error("ERR value is not an integer or out of range");
    };
    if db < 0 || db >= s.ctx.live.databases as i64 {
        return Reply::error("ERR DB index is out of range");
    }
    s.db = db as u8;
    s.info.db.store(s.db, Ordering::Relaxed);
    Reply::Ok
}

/// QUIT: replies OK, then the connection closes.
pub fn quit(s: &mut Session, _args: &[Bytes]) -> Reply {
    s.closing = true;
    Reply::Ok
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

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// AUTH \[username\] password
pub fn auth(s: &mut Session, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::error("ERR syntax error");
    }
    if args.len() == 2 && s.ctx.live.requirepass().is_none() {
        return Reply::error(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        );
    }
    let (user, pass) = if args.len() == 3 {
        (Some(&args[1][..]), &args[2][..])
    } else {
        (None, &args[1][..])
    };
    if check_password(s, user, pass) {
        s.authed = true;
        Reply::Ok
    } else {
        Reply::error(WRONGPASS)
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(s: &mut Session, args: &[Bytes]) -> Reply {
    let mut version = if s.resp3 { 3 } else { 2 };
    if args.len() >= 2 {
        let Ok(v) = arg_i64(&args[1]) else {
            return Reply::error("ERR Protocol version is not an integer or out of range");
        };
        if !(2..=3).contains(&v) {
            return Reply::error("NOPROTO unsupported protocol version");
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
            return Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[j])
            ));
        }
    }
    if let Some((user, pass)) = creds {
        if !check_password(s, Some(&user), &pass) {
            return Reply::error(WRONGPASS);
        }
        s.authed = true;
    }
    if !s.authed {
        return Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time",
        );
    }
    if let Some(name) = name {
        if let Err(e) = set_name(s, name) {
            return e;
        }
    }
    s.resp3 = version == 3;
    s.info.resp.store(version as u8, Ordering::Relaxed);
    let b = |t: &str| Reply::bulk(t.as_bytes());
    Reply::Map(vec![
        (b("server"), b("redis")),
        (b("version"), b(REDIS_VERSION)),
        (b("proto"), Reply::Int(version)),
        (b("id"), Reply::Int(s.info.id as i64)),
        (b("mode"), b("standalone")),
        (b("role"), b("master")),
        (b("modules"), Reply::Array(Vec::new())),
    ])
}

fn set_name(s: &mut Session, name: Bytes) -> Result<(), Reply> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    *s.info.name.lock().unwrap_or_else(|e| e.into_inner()) =
        if name.is_empty() { None } else { Some(name) };
    Ok(())
}

/// CLIENT ID | SETNAME | GETNAME | LIST | INFO | KILL | NO-EVICT | HELP
pub fn client(s: &mut Session, args: &[Bytes]) -> Reply {
    let spec = lookup(b"client").map(|c| c.spec);
    let Some(sub) = spec.and_then(|c| c.subcommand(&args[1])) else {
        return Reply::error(format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&args[1])
        ));
    };
    if !sub.arity_ok(args.len()) {
        return arity_error(sub.name);
    }
    match sub.name {
        "client|id" => Reply::Int(s.info.id as i64),
        "client|getname" => {
            let name = s.info.name();
            if name.is_empty() {
                Reply::Nil
            } else {
                Reply::Bulk(name)
            }
        }
        "client|setname" => match set_name(s, args[2].clone()) {
            Ok(()) => Reply::Ok,
            Err(e) => e,
        },
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
            if is(&args[2], "on") || is(&args[2], "off") {
                Reply::Ok
            } else {
                Reply::error("ERR syntax error")
            }
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
        other => Reply::error(format!(
            "ERR {} is not supported by shardis",
            other.replace('|', " ").to_uppercase()
        )),
    }
}

/// The connection commands and where each runs, for the command table ([`crate::commands::table`]).
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("select", Kind::Local(select)),
    ("ping", Kind::Local(ping)),
    ("echo", Kind::Local(echo)),
    ("quit", Kind::Local(quit)),
    ("hello", Kind::Barrier(hello)),
    ("auth", Kind::Local(auth)),
    ("client", Kind::Local(client)),
];
