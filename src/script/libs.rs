//! The libraries Redis gives scripts, written here: `bit` (LuaBitOp), `cjson`,
//! `cmsgpack` and `struct`, with the outputs of the versions Redis 7.0 embeds
//! (cjson writes numbers with `%.14g`, escapes `/`, and writes an empty table as
//! `{}`; cmsgpack packs integers in the smallest form, floats as float32 when exact,
//! tables without holes as arrays).

use mlua::{LightUserData, Lua, MultiValue, Table, Value, Variadic};

use crate::protocol::reply::format_g;

type LuaResult<T> = mlua::Result<T>;

/// Installs `bit`, `cjson`, `cmsgpack` and `struct` as globals.
pub(super) fn install(lua: &Lua) -> LuaResult<()> {
    let globals = lua.globals();
    globals.raw_set("bit", bit(lua)?)?;
    globals.raw_set("cjson", cjson(lua)?)?;
    globals.raw_set("cmsgpack", cmsgpack(lua)?)?;
    globals.raw_set("struct", structs(lua)?)?;
    Ok(())
}

/// An error a library function raises (Redis's libraries raise them with
/// `luaL_error`, which prefixes the caller's place).
#[derive(Debug)]
struct LibraryError(String);

impl std::fmt::Display for LibraryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LibraryError {}

fn runtime<T>(msg: impl Into<String>) -> LuaResult<T> {
    Err(mlua::Error::external(LibraryError(msg.into())))
}

/// Whether `e` (or what it wraps) was raised by one of these libraries.
pub(super) fn is_library_error(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::CallbackError { cause, .. } => is_library_error(cause),
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<LibraryError>().is_some(),
        _ => false,
    }
}

/// Argument `n` (1-based) of `what` as a number, with `luaL_checknumber`'s error.
fn number(v: &Value, what: &str, n: usize) -> LuaResult<f64> {
    let found = match v {
        Value::Integer(i) => return Ok(*i as f64),
        Value::Number(x) => return Ok(*x),
        Value::String(s) => match s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()) {
            Some(x) => return Ok(x),
            None => "string",
        },
        other => other.type_name(),
    };
    runtime(format!(
        "bad argument #{n} to '{what}' (number expected, got {found})"
    ))
}

// ---------------------------------------------------------------------------------
// bit

/// LuaBitOp's normalisation: a number to a signed 32-bit integer (modulo 2^32,
/// fractions rounded to even).
fn tobit(x: f64) -> i32 {
    let v = x.round_ties_even();
    if !v.is_finite() {
        return 0;
    }
    (v.rem_euclid(4294967296.0) as u64 as u32) as i32
}

fn bit(lua: &Lua) -> LuaResult<Table> {
    let t = lua.create_table()?;
    let arg = |args: &[Value], i: usize, name: &str| -> LuaResult<i32> {
        match args.get(i) {
            Some(v) => number(v, name, i + 1).map(tobit),
            None => runtime(format!(
                "bad argument #{} to '{name}' (number expected, got no value)",
                i + 1
            )),
        }
    };
    macro_rules! unary {
        ($name:literal, $f:expr) => {
            t.raw_set(
                $name,
                lua.create_function(move |_, args: Variadic<Value>| {
                    let f: fn(i32) -> i32 = $f;
                    Ok(f(arg(&args, 0, $name)?) as f64)
                })?,
            )?;
        };
    }
    macro_rules! fold {
        ($name:literal, $f:expr) => {
            t.raw_set(
                $name,
                lua.create_function(move |_, args: Variadic<Value>| {
                    let f: fn(i32, i32) -> i32 = $f;
                    let mut acc = arg(&args, 0, $name)?;
                    for i in 1..args.len() {
                        acc = f(acc, arg(&args, i, $name)?);
                    }
                    Ok(acc as f64)
                })?,
            )?;
        };
    }
    macro_rules! shift {
        ($name:literal, $f:expr) => {
            t.raw_set(
                $name,
                lua.create_function(move |_, args: Variadic<Value>| {
                    let f: fn(i32, u32) -> i32 = $f;
                    let x = arg(&args, 0, $name)?;
                    let n = (arg(&args, 1, $name)? as u32) & 31;
                    Ok(f(x, n) as f64)
                })?,
            )?;
        };
    }
    unary!("tobit", |x| x);
    unary!("bnot", |x| !x);
    unary!("bswap", |x| x.swap_bytes());
    fold!("band", |a, b| a & b);
    fold!("bor", |a, b| a | b);
    fold!("bxor", |a, b| a ^ b);
    shift!("lshift", |x, n| ((x as u32) << n) as i32);
    shift!("rshift", |x, n| ((x as u32) >> n) as i32);
    shift!("arshift", |x, n| x >> n);
    shift!("rol", |x, n| (x as u32).rotate_left(n) as i32);
    shift!("ror", |x, n| (x as u32).rotate_right(n) as i32);
    t.raw_set(
        "tohex",
        lua.create_function(move |_, args: Variadic<Value>| {
            let x = arg(&args, 0, "tohex")? as u32;
            let n = match args.get(1) {
                Some(v) => tobit(number(v, "tohex", 2)?),
                None => 8,
            };
            let upper = n < 0;
            let digits = n.unsigned_abs().min(8) as usize;
            let full = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            Ok(full[8 - digits..].to_string())
        })?,
    )?;
    Ok(t)
}

// ---------------------------------------------------------------------------------
// cjson

/// `cjson.null`: a light userdata holding NULL, as lua-cjson's.
fn json_null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

const JSON_MAX_DEPTH: usize = 1000;

fn cjson(lua: &Lua) -> LuaResult<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "encode",
        lua.create_function(|_, v: Value| {
            let mut out = Vec::new();
            json_encode(&v, &mut out, 0)?;
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes();
            let mut p = JsonParser {
                s: &bytes,
                i: 0,
                lua,
            };
            p.skip_ws();
            let v = p.value(0)?;
            p.skip_ws();
            if p.i < p.s.len() {
                return p.fail("the end");
            }
            Ok(v)
        })?,
    )?;
    t.raw_set("null", json_null())?;
    Ok(t)
}

fn json_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b if b < 0x20 || b == 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            b => out.push(b),
        }
    }
    out.push(b'"');
}

fn json_number(n: f64, out: &mut Vec<u8>) -> LuaResult<()> {
    if !n.is_finite() {
        return runtime("Cannot serialise number: must not be NaN or Inf");
    }
    out.extend_from_slice(format_g(n, 14).as_bytes());
    Ok(())
}

/// How many keys a table has and the largest, if every key is a positive integer
/// (the array tests of cjson and cmsgpack).
fn integer_keys(t: &Table) -> LuaResult<Option<(usize, usize)>> {
    let (mut count, mut max) = (0usize, 0usize);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        let i = match k {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
            _ => return Ok(None),
        };
        max = max.max(i);
        count += 1;
    }
    Ok(Some((count, max)))
}

/// lua-cjson's array test: every key a positive integer; `Some(max)` if so, and
/// not excessively sparse.
fn json_array_len(t: &Table) -> LuaResult<Option<usize>> {
    let Some((count, max)) = integer_keys(t)? else {
        return Ok(None);
    };
    if max > 10 && max > count * 2 {
        return runtime("Cannot serialise table: excessively sparse array");
    }
    Ok(Some(max))
}

fn json_encode(v: &Value, out: &mut Vec<u8>, depth: usize) -> LuaResult<()> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => json_number(*n as f64, out)?,
        Value::Number(n) => json_number(*n, out)?,
        Value::String(s) => json_string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth + 1 > JSON_MAX_DEPTH {
                return runtime(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            match json_array_len(t)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        json_encode(&t.raw_get::<Value>(i)?, out, depth + 1)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.clone().pairs::<Value, Value>() {
                        let (k, v) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => json_string(&s.as_bytes(), out),
                            Value::Integer(n) => {
                                json_string(format_g(*n as f64, 14).as_bytes(), out)
                            }
                            Value::Number(n) => json_string(format_g(*n, 14).as_bytes(), out),
                            _ => {
                                return runtime(
                                    "Cannot serialise table: table key must be a number or string",
                                )
                            }
                        }
                        out.push(b':');
                        json_encode(&v, out, depth + 1)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => {
            return runtime(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
    lua: &'a Lua,
}

impl JsonParser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn fail<T>(&self, expected: &str) -> LuaResult<T> {
        let found = if self.i >= self.s.len() {
            "T_END"
        } else {
            "invalid token"
        };
        runtime(format!(
            "Expected {expected} but found {found} at character {}",
            self.i + 1
        ))
    }

    fn value(&mut self, depth: usize) -> LuaResult<Value> {
        if depth > JSON_MAX_DEPTH {
            return runtime(format!(
                "Found too many nested data structures ({}) at character {}",
                depth,
                self.i + 1
            ));
        }
        match self.s.get(self.i) {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.lua.create_string(self.string()?)?)),
            Some(b't') => self.word(b"true", Value::Boolean(true)),
            Some(b'f') => self.word(b"false", Value::Boolean(false)),
            Some(b'n') => self.word(b"null", json_null()),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.fail("value"),
        }
    }

    fn word(&mut self, w: &[u8], v: Value) -> LuaResult<Value> {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(v)
        } else {
            self.fail("value")
        }
    }

    fn number(&mut self) -> LuaResult<Value> {
        let start = self.i;
        while self.i < self.s.len()
            && matches!(
                self.s[self.i],
                b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
            )
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(n) => Ok(Value::Number(n)),
            Err(_) => {
                self.i = start;
                self.fail("value")
            }
        }
    }

    fn string(&mut self) -> LuaResult<Vec<u8>> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return self.fail("string end");
            };
            self.i += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return self.fail("escape");
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xd800..0xdc00).contains(&cp)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let low = self.hex4()?;
                                cp = 0x10000
                                    + ((cp - 0xd800) << 10)
                                    + (low.wrapping_sub(0xdc00) & 0x3ff);
                            }
                            let c = char::from_u32(cp).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return self.fail("escape"),
                    }
                }
                b => out.push(b),
            }
        }
    }

    fn hex4(&mut self) -> LuaResult<u32> {
        let digits = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|d| std::str::from_utf8(d).ok());
        match digits.and_then(|d| u32::from_str_radix(d, 16).ok()) {
            Some(v) => {
                self.i += 4;
                Ok(v)
            }
            None => self.fail("unicode escape"),
        }
    }

    fn array(&mut self, depth: usize) -> LuaResult<Value> {
        self.i += 1;
        let t = self.lua.create_table()?;
        self.skip_ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Value::Table(t));
        }
        let mut n = 1;
        loop {
            self.skip_ws();
            let v = self.value(depth + 1)?;
            t.raw_set(n, v)?;
            n += 1;
            self.skip_ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Table(t));
                }
                _ => return self.fail("comma or array end"),
            }
        }
    }

    fn object(&mut self, depth: usize) -> LuaResult<Value> {
        self.i += 1;
        let t = self.lua.create_table()?;
        self.skip_ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Value::Table(t));
        }
        loop {
            self.skip_ws();
            if self.s.get(self.i) != Some(&b'"') {
                return self.fail("object key string");
            }
            let k = self.string()?;
            self.skip_ws();
            if self.s.get(self.i) != Some(&b':') {
                return self.fail("colon");
            }
            self.i += 1;
            self.skip_ws();
            let v = self.value(depth + 1)?;
            t.raw_set(self.lua.create_string(&k)?, v)?;
            self.skip_ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Table(t));
                }
                _ => return self.fail("comma or object end"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// cmsgpack

/// Deepest table nesting `cmsgpack.pack` follows; deeper tables pack as nil.
const MSGPACK_MAX_NESTING: usize = 16;

fn cmsgpack(lua: &Lua) -> LuaResult<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|_, args: MultiValue| {
            if args.is_empty() {
                return runtime("MessagePack pack needs input.");
            }
            let mut out = Vec::new();
            for v in args.iter() {
                mp_encode(v, &mut out, 0)?;
            }
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes();
            let mut d = MpDecoder {
                s: &bytes,
                i: 0,
                lua,
                depth: 0,
            };
            let mut out = Vec::new();
            while d.i < d.s.len() {
                out.push(d.value()?);
            }
            Ok(MultiValue::from_iter(out))
        })?,
    )?;
    let limited = |lua: &Lua, s: mlua::String, limit: i64, offset: i64| -> LuaResult<MultiValue> {
        let bytes = s.as_bytes();
        if offset < 0 || limit < 0 {
            return runtime(
                "Invalid request to unpack with offset of {offset} and limit of {limit}.",
            );
        }
        let mut d = MpDecoder {
            s: &bytes,
            i: offset as usize,
            lua,
            depth: 0,
        };
        if d.i > d.s.len() {
            return runtime("Start offset {offset} greater than input length.");
        }
        let mut out = Vec::new();
        while d.i < d.s.len() && (limit == 0 || (out.len() as i64) < limit) {
            out.push(d.value()?);
        }
        let next = if d.i >= d.s.len() { -1 } else { d.i as i64 };
        let mut all = vec![Value::Integer(next)];
        all.extend(out);
        Ok(MultiValue::from_iter(all))
    };
    t.raw_set(
        "unpack_one",
        lua.create_function(move |lua, (s, offset): (mlua::String, Option<i64>)| {
            limited(lua, s, 1, offset.unwrap_or(0))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(
            move |lua, (s, limit, offset): (mlua::String, i64, Option<i64>)| {
                limited(lua, s, limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    Ok(t)
}

fn mp_encode(v: &Value, out: &mut Vec<u8>, depth: usize) -> LuaResult<()> {
    match v {
        Value::Nil => out.push(0xc0),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => mp_int(*n, out),
        Value::Number(n) => {
            if n.is_finite() && n.fract() == 0.0 && n.abs() < 9.2e18 {
                mp_int(*n as i64, out)
            } else if (*n as f32) as f64 == *n || n.is_nan() {
                out.push(0xca);
                out.extend_from_slice(&(*n as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        Value::String(s) => {
            let b = s.as_bytes();
            let len = b.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len <= 0xff {
                out.extend_from_slice(&[0xd9, len as u8]);
            } else if len <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(&b);
        }
        Value::Table(t) if depth < MSGPACK_MAX_NESTING => match mp_array_len(t)? {
            Some(len) => {
                mp_header(out, len, 0x90, 0xdc, 0xdd, 16);
                for i in 1..=len {
                    mp_encode(&t.raw_get::<Value>(i)?, out, depth + 1)?;
                }
            }
            None => {
                let pairs: Vec<(Value, Value)> = t
                    .clone()
                    .pairs::<Value, Value>()
                    .collect::<LuaResult<_>>()?;
                mp_header(out, pairs.len(), 0x80, 0xde, 0xdf, 16);
                for (k, v) in &pairs {
                    mp_encode(k, out, depth + 1)?;
                    mp_encode(v, out, depth + 1)?;
                }
            }
        },
        _ => out.push(0xc0),
    }
    Ok(())
}

/// cmsgpack's array test: keys 1..n with no holes.
fn mp_array_len(t: &Table) -> LuaResult<Option<usize>> {
    Ok(integer_keys(t)?.and_then(|(count, max)| (count == max).then_some(count)))
}

fn mp_header(out: &mut Vec<u8>, len: usize, fix: u8, b16: u8, b32: u8, fix_max: usize) {
    if len < fix_max {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn mp_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        let u = n as u64;
        if u < 128 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -(1 << 31) {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Deepest nesting `cmsgpack.unpack` follows (the decoder recurses).
const MSGPACK_MAX_DEPTH: usize = 1000;

struct MpDecoder<'a> {
    s: &'a [u8],
    i: usize,
    lua: &'a Lua,
    depth: usize,
}

impl MpDecoder<'_> {
    fn take(&mut self, n: usize) -> LuaResult<&[u8]> {
        if self.s.len() - self.i < n {
            return runtime("Missing bytes in input.");
        }
        let out = &self.s[self.i..self.i + n];
        self.i += n;
        Ok(out)
    }

    fn uint(&mut self, n: usize) -> LuaResult<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | b as u64))
    }

    fn int(&mut self, n: usize) -> LuaResult<i64> {
        let u = self.uint(n)?;
        let shift = 64 - 8 * n as u32;
        Ok(((u << shift) as i64) >> shift)
    }

    fn number(v: i64) -> Value {
        Value::Number(v as f64)
    }

    fn string(&mut self, n: usize) -> LuaResult<Value> {
        let b = self.take(n)?.to_vec();
        Ok(Value::String(self.lua.create_string(b)?))
    }

    fn array(&mut self, n: usize) -> LuaResult<Value> {
        let t = self.lua.create_table_with_capacity(n.min(4096), 0)?;
        for i in 1..=n {
            let v = self.value()?;
            t.raw_set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, n: usize) -> LuaResult<Value> {
        let t = self.lua.create_table_with_capacity(0, n.min(4096))?;
        for _ in 0..n {
            let k = self.value()?;
            let v = self.value()?;
            if !k.is_nil() {
                t.raw_set(k, v)?;
            }
        }
        Ok(Value::Table(t))
    }

    fn value(&mut self) -> LuaResult<Value> {
        self.depth += 1;
        let v = self.value_at();
        self.depth -= 1;
        v
    }

    fn value_at(&mut self) -> LuaResult<Value> {
        if self.depth > MSGPACK_MAX_DEPTH {
            return runtime("Bad data format in input.");
        }
        let b = self.take(1)?[0];
        match b {
            0x00..=0x7f => Ok(Self::number(b as i64)),
            0x80..=0x8f => self.map((b & 0x0f) as usize),
            0x90..=0x9f => self.array((b & 0x0f) as usize),
            0xa0..=0xbf => self.string((b & 0x1f) as usize),
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Boolean(false)),
            0xc3 => Ok(Value::Boolean(true)),
            0xc4 | 0xd9 => {
                let n = self.uint(1)? as usize;
                self.string(n)
            }
            0xc5 | 0xda => {
                let n = self.uint(2)? as usize;
                self.string(n)
            }
            0xc6 | 0xdb => {
                let n = self.uint(4)? as usize;
                self.string(n)
            }
            0xca => {
                let bits = self.uint(4)? as u32;
                Ok(Value::Number(f32::from_bits(bits) as f64))
            }
            0xcb => Ok(Value::Number(f64::from_bits(self.uint(8)?))),
            0xcc => Ok(Self::number(self.uint(1)? as i64)),
            0xcd => Ok(Self::number(self.uint(2)? as i64)),
            0xce => Ok(Self::number(self.uint(4)? as i64)),
            0xcf => Ok(Value::Number(self.uint(8)? as f64)),
            0xd0 => Ok(Self::number(self.int(1)?)),
            0xd1 => Ok(Self::number(self.int(2)?)),
            0xd2 => Ok(Self::number(self.int(4)?)),
            0xd3 => Ok(Self::number(self.int(8)?)),
            0xdc => {
                let n = self.uint(2)? as usize;
                self.array(n)
            }
            0xdd => {
                let n = self.uint(4)? as usize;
                self.array(n)
            }
            0xde => {
                let n = self.uint(2)? as usize;
                self.map(n)
            }
            0xdf => {
                let n = self.uint(4)? as usize;
                self.map(n)
            }
            0xe0..=0xff => Ok(Self::number(b as i8 as i64)),
            _ => runtime("Bad data format in input."),
        }
    }
}

// ---------------------------------------------------------------------------------
// struct

/// One parsed item of a `struct` format.
enum Item {
    /// An integer of `size` bytes; `signed`.
    Int {
        size: usize,
        signed: bool,
    },
    Float,
    Double,
    /// `c<n>`: `n` characters (0: all of the string / the previous number's count).
    Chars(usize),
    /// `s`: a zero-terminated string.
    Zstr,
    /// `x`: one byte of padding.
    Pad,
    /// An alignment or endianness directive (no data).
    Directive,
}

struct Format<'a> {
    f: &'a [u8],
    i: usize,
    little: bool,
    align: usize,
}

impl Format<'_> {
    fn new(f: &[u8]) -> Format<'_> {
        Format {
            f,
            i: 0,
            little: cfg!(target_endian = "little"),
            align: 1,
        }
    }

    fn count(&mut self, default: usize) -> usize {
        let start = self.i;
        while self.i < self.f.len() && self.f[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if self.i == start {
            return default;
        }
        std::str::from_utf8(&self.f[start..self.i])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    }

    /// The next item and its alignment size; `None` at the end.
    fn next(&mut self) -> LuaResult<Option<(Item, usize)>> {
        let Some(&c) = self.f.get(self.i) else {
            return Ok(None);
        };
        self.i += 1;
        let int = |size: usize, signed: bool| Item::Int { size, signed };
        Ok(Some(match c {
            b'b' => (int(1, true), 1),
            b'B' => (int(1, false), 1),
            b'h' => (int(2, true), 2),
            b'H' => (int(2, false), 2),
            b'l' | b'j' => (int(8, true), 8),
            b'L' | b'J' | b'T' => (int(8, false), 8),
            b'i' | b'I' => {
                let size = self.count(4);
                if !(1..=8).contains(&size) {
                    return runtime(format!("integral size {size} is larger than limit of 8"));
                }
                (int(size, c == b'i'), size)
            }
            b'f' => (Item::Float, 4),
            b'd' => (Item::Double, 8),
            b'c' => (Item::Chars(self.count(1)), 1),
            b's' => (Item::Zstr, 1),
            b'x' => (Item::Pad, 1),
            b' ' => (Item::Directive, 1),
            b'<' => {
                self.little = true;
                (Item::Directive, 1)
            }
            b'>' => {
                self.little = false;
                (Item::Directive, 1)
            }
            b'=' => {
                self.little = cfg!(target_endian = "little");
                (Item::Directive, 1)
            }
            b'!' => {
                self.align = self.count(8);
                (Item::Directive, 1)
            }
            other => return runtime(format!("invalid format option '{}'", other as char)),
        }))
    }

    /// Padding before an item of `size` bytes at `offset`.
    fn padding(&self, size: usize, offset: usize) -> usize {
        let a = size.min(self.align);
        if a <= 1 || !a.is_power_of_two() {
            return 0;
        }
        (a - (offset & (a - 1))) & (a - 1)
    }
}

fn structs(lua: &Lua) -> LuaResult<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, (fmt, args): (mlua::String, Variadic<Value>)| {
            let fmt = fmt.as_bytes();
            let mut f = Format::new(&fmt);
            let mut out = Vec::new();
            let mut arg = 0usize;
            // The next value and its argument number (the format is #1).
            let mut next_arg = |what: &str| -> LuaResult<(Value, usize)> {
                arg += 1;
                match args.get(arg - 1) {
                    Some(v) => Ok((v.clone(), arg + 1)),
                    None => runtime(format!(
                        "bad argument #{} to 'pack' ({what} expected, got nil)",
                        arg + 1
                    )),
                }
            };
            while let Some((item, size)) = f.next()? {
                if !matches!(item, Item::Directive) {
                    out.resize(out.len() + f.padding(size, out.len()), 0);
                }
                match item {
                    Item::Int { size, .. } => {
                        let (v, n) = next_arg("number")?;
                        let v = number(&v, "pack", n)?;
                        let n = v as i64 as u64;
                        let bytes = n.to_le_bytes();
                        if f.little {
                            out.extend_from_slice(&bytes[..size]);
                        } else {
                            out.extend(bytes[..size].iter().rev());
                        }
                    }
                    Item::Float => {
                        let (v, n) = next_arg("number")?;
                        let v = number(&v, "pack", n)? as f32;
                        let b = if f.little {
                            v.to_le_bytes()
                        } else {
                            v.to_be_bytes()
                        };
                        out.extend_from_slice(&b);
                    }
                    Item::Double => {
                        let (v, n) = next_arg("number")?;
                        let v = number(&v, "pack", n)?;
                        let b = if f.little {
                            v.to_le_bytes()
                        } else {
                            v.to_be_bytes()
                        };
                        out.extend_from_slice(&b);
                    }
                    Item::Chars(n) => {
                        let (v, _) = next_arg("string")?;
                        let s = lua
                            .coerce_string(v)?
                            .map(|s| s.as_bytes().to_vec())
                            .unwrap_or_default();
                        let n = if n == 0 { s.len() } else { n };
                        if s.len() < n {
                            return runtime("bad argument to 'pack' (string too short)");
                        }
                        out.extend_from_slice(&s[..n]);
                    }
                    Item::Zstr => {
                        let (v, _) = next_arg("string")?;
                        let s = lua
                            .coerce_string(v)?
                            .map(|s| s.as_bytes().to_vec())
                            .unwrap_or_default();
                        if s.contains(&0) {
                            return runtime("bad argument to 'pack' (string contains zeros)");
                        }
                        out.extend_from_slice(&s);
                        out.push(0);
                    }
                    Item::Pad => out.push(0),
                    Item::Directive => {}
                }
            }
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, (fmt, data, pos): (mlua::String, mlua::String, Option<i64>)| {
            let fmt = fmt.as_bytes();
            let data = data.as_bytes();
            let mut f = Format::new(&fmt);
            let mut i = pos.unwrap_or(1).max(1) as usize - 1;
            let mut out: Vec<Value> = Vec::new();
            let short = || runtime::<()>("bad argument #2 to 'unpack' (data string too short)");
            while let Some((item, size)) = f.next()? {
                if !matches!(item, Item::Directive) {
                    i += f.padding(size, i);
                }
                match item {
                    Item::Int { size, signed } => {
                        let Some(b) = data.get(i..i + size) else {
                            short()?;
                            break;
                        };
                        let mut u = 0u64;
                        if f.little {
                            for &x in b.iter().rev() {
                                u = u << 8 | x as u64;
                            }
                        } else {
                            for &x in b {
                                u = u << 8 | x as u64;
                            }
                        }
                        let v = if signed && size < 8 {
                            let shift = 64 - 8 * size as u32;
                            (((u << shift) as i64) >> shift) as f64
                        } else if signed {
                            u as i64 as f64
                        } else {
                            u as f64
                        };
                        out.push(Value::Number(v));
                        i += size;
                    }
                    Item::Float => {
                        let Some(b) = data.get(i..i + 4) else {
                            short()?;
                            break;
                        };
                        let b: [u8; 4] = b.try_into().unwrap_or_default();
                        let v = if f.little { f32::from_le_bytes(b) } else { f32::from_be_bytes(b) };
                        out.push(Value::Number(v as f64));
                        i += 4;
                    }
                    Item::Double => {
                        let Some(b) = data.get(i..i + 8) else {
                            short()?;
                            break;
                        };
                        let b: [u8; 8] = b.try_into().unwrap_or_default();
                        let v = if f.little { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) };
                        out.push(Value::Number(v));
                        i += 8;
                    }
                    Item::Chars(n) => {
                        let n = if n == 0 {
                            match out.pop() {
                                Some(Value::Number(k)) if k >= 0.0 => k as usize,
                                _ => return runtime("bad argument to 'unpack' (format 'c0' needs a previous size)"),
                            }
                        } else {
                            n
                        };
                        let Some(b) = data.get(i..i + n) else {
                            short()?;
                            break;
                        };
                        out.push(Value::String(lua.create_string(b)?));
                        i += n;
                    }
                    Item::Zstr => {
                        let Some(end) = data[i.min(data.len())..].iter().position(|&b| b == 0) else {
                            return runtime("bad argument to 'unpack' (unfinished string in data)");
                        };
                        out.push(Value::String(lua.create_string(&data[i..i + end])?));
                        i += end + 1;
                    }
                    Item::Pad => i += 1,
                    Item::Directive => {}
                }
            }
            out.push(Value::Number((i + 1) as f64));
            Ok(MultiValue::from_iter(out))
        })?,
    )?;
    t.raw_set(
        "size",
        lua.create_function(|_, fmt: mlua::String| {
            let fmt = fmt.as_bytes();
            let mut f = Format::new(&fmt);
            let mut total = 0usize;
            while let Some((item, size)) = f.next()? {
                if !matches!(item, Item::Directive) {
                    total += f.padding(size, total);
                }
                total += match item {
                    Item::Int { size, .. } => size,
                    Item::Float => 4,
                    Item::Double => 8,
                    Item::Chars(n) => n,
                    Item::Zstr => return runtime("options 'c0' - 's' have undefined sizes"),
                    Item::Pad => 1,
                    Item::Directive => 0,
                };
            }
            Ok(total as f64)
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tobit_wraps_like_luabitop() {
        assert_eq!(tobit(0xffffffffu32 as f64), -1);
        assert_eq!(tobit(4294967296.0 + 5.0), 5);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(2.5), 2);
        assert_eq!(tobit(3.5), 4);
    }

    #[test]
    fn msgpack_integers_take_the_smallest_form() {
        let enc = |n: i64| {
            let mut out = Vec::new();
            mp_int(n, &mut out);
            out
        };
        assert_eq!(enc(5), vec![5]);
        assert_eq!(enc(200), vec![0xcc, 200]);
        assert_eq!(enc(-1), vec![0xff]);
        assert_eq!(enc(-100), vec![0xd0, 0x9c]);
        assert_eq!(enc(70000), vec![0xce, 0, 1, 0x11, 0x70]);
    }

    #[test]
    fn json_strings_escape_like_cjson() {
        let mut out = Vec::new();
        json_string(b"a/\"b\n\x01", &mut out);
        assert_eq!(out, b"\"a\\/\\\"b\\n\\u0001\"".to_vec());
    }
}
