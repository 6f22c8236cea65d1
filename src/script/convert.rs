//! Redis's conversions between replies and Lua values, both ways.
//!
//! Reply → Lua (what `redis.call` returns), RESP2 (the default):
//! integer → number, bulk → string, nil bulk or array → `false`, array → table,
//! status → `{ok=...}`, error → `{err=...}`; maps and pairs are flat arrays, a double
//! is its text. After `redis.setresp(3)`: null → `nil`, map → `{map={k=v}}`, set →
//! `{set={m=true}}`, double → `{double=x}`, boolean → boolean, big number →
//! `{big_number=s}`, verbatim → `{verbatim_string={format=..., string=...}}`.
//!
//! Lua → reply (what the script returns): number → integer (truncated), string →
//! bulk, `true` → `:1`, `false` and `nil` → nil; after `redis.setresp(3)` booleans
//! are booleans (`#t`/`#f`, `:1`/`:0` to a RESP2 client). A table with `err`, `ok`,
//! `double`, `big_number`,
//! `map`, `set` or `verbatim_string` → that reply, any other table → an array of
//! its elements up to the first nil.

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::error::CommandError;
use crate::protocol::reply::format_double;
use crate::protocol::Reply;

/// Deepest nesting a script's reply may have.
const MAX_DEPTH: usize = 1000;

/// A reply as `redis.call` hands it to Lua (`resp3` after `redis.setresp(3)`).
pub(super) fn to_lua(lua: &Lua, reply: Reply, resp3: bool) -> mlua::Result<Value> {
    let one = |k: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table_with_capacity(0, 1)?;
        t.raw_set(k, v)?;
        Ok(Value::Table(t))
    };
    let string = |b: &[u8]| -> mlua::Result<Value> { Ok(Value::String(lua.create_string(b)?)) };
    let array = |items: Vec<Reply>| -> mlua::Result<Value> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, r) in items.into_iter().enumerate() {
            t.raw_set(i + 1, to_lua(lua, r, resp3)?)?;
        }
        Ok(Value::Table(t))
    };
    match reply {
        Reply::Ok => one("ok", string(b"OK")?),
        Reply::Status(s) => one("ok", string(s.as_bytes())?),
        Reply::Error(e) => one("err", string(e.text().as_bytes())?),
        Reply::Int(n) => Ok(Value::Integer(n)),
        Reply::Bulk(b) => string(&b),
        Reply::Nil | Reply::NilArray if resp3 => Ok(Value::Nil),
        Reply::Nil | Reply::NilArray => Ok(Value::Boolean(false)),
        Reply::Array(items) | Reply::Push(items) | Reply::Many(items) => array(items),
        Reply::Set(items) if resp3 => {
            let t = lua.create_table_with_capacity(0, items.len())?;
            for r in items {
                t.raw_set(to_lua(lua, r, resp3)?, true)?;
            }
            one("set", Value::Table(t))
        }
        Reply::Set(items) => array(items),
        Reply::Map(pairs) if resp3 => {
            let t = lua.create_table_with_capacity(0, pairs.len())?;
            for (k, v) in pairs {
                t.raw_set(to_lua(lua, k, resp3)?, to_lua(lua, v, resp3)?)?;
            }
            one("map", Value::Table(t))
        }
        Reply::Pairs(pairs) if resp3 => array(
            pairs
                .into_iter()
                .map(|(a, b)| Reply::Array(vec![a, b]))
                .collect(),
        ),
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            array(pairs.into_iter().flat_map(|(a, b)| [a, b]).collect())
        }
        Reply::Double(d) if resp3 => one("double", Value::Number(d)),
        Reply::Double(d) => string(format_double(d).as_bytes()),
        Reply::Verbatim(text) if resp3 => {
            let t = lua.create_table_with_capacity(0, 2)?;
            t.raw_set("format", "txt")?;
            t.raw_set("string", text)?;
            one("verbatim_string", Value::Table(t))
        }
        Reply::Verbatim(text) => string(text.as_bytes()),
        Reply::Bool(b) if resp3 => Ok(Value::Boolean(b)),
        Reply::Bool(b) => Ok(Value::Integer(b as i64)),
        Reply::DoubleText(t) if resp3 => one("double", Value::Number(t.parse().unwrap_or(0.0))),
        Reply::DoubleText(t) => string(t.as_bytes()),
        Reply::BigNumber(n) if resp3 => one("big_number", string(n.as_bytes())?),
        Reply::BigNumber(n) => string(n.as_bytes()),
    }
}

/// What a script returned, as the reply for a client (`resp3`: the script chose
/// RESP3 with `redis.setresp(3)`, which decides what Lua booleans become).
pub(super) fn from_lua(value: &Value, resp3: bool) -> Reply {
    from_lua_at(value, resp3, 0)
}

fn from_lua_at(value: &Value, resp3: bool, depth: usize) -> Reply {
    if depth > MAX_DEPTH {
        return Reply::error(crate::error::text::SCRIPT_REPLY_TOO_DEEP);
    }
    match value {
        Value::Boolean(true) if resp3 => Reply::Bool(true),
        Value::Boolean(true) => Reply::Int(1),
        Value::Boolean(false) if resp3 => Reply::Bool(false),
        Value::Integer(n) => Reply::Int(*n),
        Value::Number(n) => Reply::Int(*n as i64),
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Table(t) => table_reply(t, resp3, depth),
        _ => Reply::Nil,
    }
}

fn table_reply(t: &Table, resp3: bool, depth: usize) -> Reply {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(e) = field("err") {
        return Reply::Error(CommandError::other(error_text(&e.to_string_lossy())));
    }
    if let Value::String(s) = field("ok") {
        return Reply::Status(status_text(&s.to_string_lossy()).into());
    }
    match field("double") {
        Value::Number(d) => return Reply::Double(d),
        Value::Integer(d) => return Reply::Double(d as f64),
        _ => {}
    }
    if let Value::String(s) = field("big_number") {
        return Reply::BigNumber(status_text(&s.to_string_lossy()));
    }
    if let Value::Table(m) = field("map") {
        let pairs = m
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok())
            .map(|(k, v)| {
                (
                    from_lua_at(&k, resp3, depth + 1),
                    from_lua_at(&v, resp3, depth + 1),
                )
            })
            .collect();
        return Reply::Map(pairs);
    }
    if let Value::Table(m) = field("set") {
        let items = m
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok())
            .map(|(k, _)| from_lua_at(&k, resp3, depth + 1))
            .collect();
        return Reply::Set(items);
    }
    if let Value::Table(v) = field("verbatim_string") {
        if let (Ok(Value::String(s)), Ok(Value::String(_))) =
            (v.raw_get::<Value>("string"), v.raw_get::<Value>("format"))
        {
            return Reply::Verbatim(s.to_string_lossy());
        }
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(from_lua_at(&v, resp3, depth + 1)),
        }
    }
    Reply::Array(items)
}

/// An error text as Redis sends it: one line.
pub(super) fn error_text(s: &str) -> String {
    s.trim_end_matches(['\r', '\n']).replace(['\r', '\n'], " ")
}

/// A status text as Redis sends it: newlines become spaces.
fn status_text(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}
