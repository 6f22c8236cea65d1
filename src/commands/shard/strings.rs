//! String commands. Storage side: each runs on the shard that owns its key.

use bytes::Bytes;

use crate::commands::table::{Coord, Kind, Merge};
use crate::commands::{arg_f64, arg_i64, is, CommandError, Tx};
use crate::config::notify;
use crate::error::text;
use crate::protocol::parser::parse_i64;
use crate::protocol::Reply;
use crate::storage::chunks::StrRef;
use crate::storage::encoding::{Value, ValueType};

type Result<T> = std::result::Result<T, CommandError>;

/// How a SET-family command treats the key's time to live.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ttl {
    /// Remove any TTL (plain SET).
    Clear,
    /// Keep the TTL the key had (KEEPTTL).
    Keep,
    /// Remove the TTL (GETEX PERSIST).
    Persist,
    /// Expire at this Unix ms time.
    At(i64),
    /// Leave it alone (GETEX with no option).
    Unchanged,
}

#[derive(Default)]
struct SetFlags {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    unit: Option<(&'static str, bool, bool)>, // (name, seconds, relative)
}

/// Parses SET/GETEX options from `args[from..]` (Redis's `parseExtendedStringArguments`).
fn parse_set_options(
    args: &[Bytes],
    from: usize,
    getex: bool,
    cmd: &'static str,
    now: u64,
) -> Result<(SetFlags, Ttl)> {
    let mut f = SetFlags::default();
    let mut when: Option<&Bytes> = None;
    let mut j = from;
    while j < args.len() {
        let opt = &args[j];
        let next = args.get(j + 1);
        let expiry_free = f.unit.is_none() && !f.keepttl && !f.persist;
        if !getex && is(opt, "nx") && !f.xx {
            f.nx = true;
        } else if !getex && is(opt, "xx") && !f.nx {
            f.xx = true;
        } else if !getex && is(opt, "get") {
            f.get = true;
        } else if !getex && is(opt, "keepttl") && expiry_free {
            f.keepttl = true;
        } else if getex && is(opt, "persist") && expiry_free {
            f.persist = true;
        } else if expiry_free && next.is_some() && unit_of(opt).is_some() {
            f.unit = unit_of(opt);
            when = next;
            j += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    let ttl = match (f.unit, when) {
        (Some((_, seconds, relative)), Some(w)) => {
            Ttl::At(expire_at(w, seconds, relative, cmd, now)?)
        }
        _ if f.keepttl => Ttl::Keep,
        _ if f.persist => Ttl::Persist,
        _ if getex => Ttl::Unchanged,
        _ => Ttl::Clear,
    };
    Ok((f, ttl))
}

fn unit_of(opt: &[u8]) -> Option<(&'static str, bool, bool)> {
    [
        ("ex", true, true),
        ("px", false, true),
        ("exat", true, false),
        ("pxat", false, false),
    ]
    .into_iter()
    .find(|(name, _, _)| is(opt, name))
}

/// Turns an expire argument into an absolute Unix ms time, with Redis's checks.
pub(super) fn expire_at(
    arg: &[u8],
    seconds: bool,
    relative: bool,
    cmd: &'static str,
    now: u64,
) -> Result<i64> {
    let mut ms = arg_i64(arg)?;
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        return Err(CommandError::InvalidExpire(cmd));
    }
    if seconds {
        ms *= 1000;
    }
    if relative {
        ms = ms
            .checked_add(now as i64)
            .ok_or(CommandError::InvalidExpire(cmd))?;
    }
    Ok(ms)
}

/// SET's events: `set`, then `expire` if it gave the key a time to live.
fn set_events(tx: &mut Tx<'_>, key: &[u8], ttl: Ttl) {
    tx.notify(notify::STRING, "set", key);
    if matches!(ttl, Ttl::At(_)) {
        tx.notify(notify::GENERIC, "expire", key);
    }
}

/// Writes a string honouring `ttl` relative to the previous value `old`.
fn store(tx: &mut Tx<'_>, key: &[u8], value: &[u8], ttl: Ttl, old: Option<&Value>) {
    let expire = match ttl {
        Ttl::Clear | Ttl::Persist => 0,
        Ttl::Keep | Ttl::Unchanged => old.map_or(0, |v| v.expire_at),
        Ttl::At(at) => at as u64,
    };
    if expire != 0 && expire <= tx.now_ms {
        // Already in the past: Redis deletes instead of storing.
        tx.remove(key);
    } else {
        tx.put(key, ValueType::String, expire, value);
    }
}

/// SET key value \[NX|XX\] \[GET\] \[EX s|PX ms|EXAT s|PXAT ms|KEEPTTL\]
pub fn set(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let (f, ttl) = parse_set_options(args, 3, false, "set", tx.now_ms)?;
    let key = &args[1];
    if !(f.nx || f.xx || f.get || f.keepttl) {
        // A plain SET replaces whatever was there: no need to read it.
        store(tx, key, &args[2], ttl, None);
        set_events(tx, key, ttl);
        return Ok(Reply::Ok);
    }
    let old = if f.get {
        tx.get_string(key)?
    } else {
        tx.get(key)?
    };
    let reply_old = || {
        old.as_ref()
            .map_or(Reply::Nil, |v| Reply::Bulk(v.payload.clone()))
    };
    if (f.nx && old.is_some()) || (f.xx && old.is_none()) {
        return Ok(if f.get { reply_old() } else { Reply::Nil });
    }
    store(tx, key, &args[2], ttl, old.as_ref());
    set_events(tx, key, ttl);
    Ok(if f.get { reply_old() } else { Reply::Ok })
}

/// SETNX key value
pub fn setnx(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    if tx.get(&args[1])?.is_some() {
        return Ok(Reply::Int(0));
    }
    tx.put(&args[1], ValueType::String, 0, &args[2]);
    tx.notify(notify::STRING, "set", &args[1]);
    Ok(Reply::Int(1))
}

/// SETEX key seconds value
pub fn setex(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let at = expire_at(&args[2], true, true, "setex", tx.now_ms)?;
    store(tx, &args[1], &args[3], Ttl::At(at), None);
    set_events(tx, &args[1], Ttl::At(at));
    Ok(Reply::Ok)
}

/// PSETEX key milliseconds value
pub fn psetex(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let at = expire_at(&args[2], false, true, "psetex", tx.now_ms)?;
    store(tx, &args[1], &args[3], Ttl::At(at), None);
    set_events(tx, &args[1], Ttl::At(at));
    Ok(Reply::Ok)
}

/// GET key
pub fn get(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    Ok(match tx.get_string(&args[1])? {
        Some(v) => Reply::Bulk(v.payload),
        None => Reply::Nil,
    })
}

/// GETSET key value
pub fn getset(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let old = tx.get_string(&args[1])?;
    tx.put(&args[1], ValueType::String, 0, &args[2]);
    tx.notify(notify::STRING, "set", &args[1]);
    Ok(old.map_or(Reply::Nil, |v| Reply::Bulk(v.payload)))
}

/// GETDEL key
pub fn getdel(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let old = tx.get_string(&args[1])?;
    if old.is_some() {
        tx.remove(&args[1]);
        tx.notify(notify::GENERIC, "del", &args[1]);
    }
    Ok(old.map_or(Reply::Nil, |v| Reply::Bulk(v.payload)))
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]
pub fn getex(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let (_, ttl) = parse_set_options(args, 2, true, "getex", tx.now_ms)?;
    let Some(old) = tx.get_string(&args[1])? else {
        return Ok(Reply::Nil);
    };
    if ttl != Ttl::Unchanged && !(ttl == Ttl::Persist && old.expire_at == 0) {
        store(tx, &args[1], &old.payload, ttl, Some(&old));
        let event = match ttl {
            Ttl::At(at) if at as u64 <= tx.now_ms => "del",
            Ttl::At(_) => "expire",
            _ => "persist",
        };
        tx.notify(notify::GENERIC, event, &args[1]);
    }
    Ok(Reply::Bulk(old.payload))
}

/// MGET key [key ...] (the keys of one shard)
pub fn mget(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let mut out = Vec::with_capacity(args.len() - 1);
    for key in &args[1..] {
        out.push(match tx.get_string(key) {
            Ok(Some(v)) => Reply::Bulk(v.payload),
            Err(CommandError::WrongType) | Ok(None) => Reply::Nil,
            Err(e) => return Err(e),
        });
    }
    Ok(Reply::Array(out))
}

/// MSET key value [key value ...] (the pairs of one shard)
pub fn mset(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    for pair in args[1..].chunks_exact(2) {
        tx.put(&pair[0], ValueType::String, 0, &pair[1]);
        tx.notify(notify::STRING, "set", &pair[0]);
    }
    Ok(Reply::Ok)
}

/// MSETNX key value [key value ...], when every key is on this shard.
pub fn msetnx(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    for pair in args[1..].chunks_exact(2) {
        if tx.get(&pair[0])?.is_some() {
            return Ok(Reply::Int(0));
        }
    }
    mset(tx, args)?;
    Ok(Reply::Int(1))
}

/// Adds `by` to the integer stored at `key`, keeping its TTL.
fn incr_by(tx: &mut Tx<'_>, key: &[u8], by: i64) -> Result<Reply> {
    let old = tx.get_string(key)?;
    let cur = match &old {
        Some(v) => parse_i64(&v.payload).ok_or(CommandError::NotInteger)?,
        None => 0,
    };
    let new = cur.checked_add(by).ok_or(CommandError::Overflow)?;
    let mut buf = itoa::Buffer::new();
    let expire = old.as_ref().map_or(0, |v| v.expire_at);
    tx.put(key, ValueType::String, expire, buf.format(new).as_bytes());
    tx.notify(notify::STRING, "incrby", key);
    Ok(Reply::Int(new))
}

/// INCR key
pub fn incr(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    incr_by(tx, &args[1], 1)
}

/// DECR key
pub fn decr(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    incr_by(tx, &args[1], -1)
}

/// INCRBY key increment
pub fn incrby(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let by = arg_i64(&args[2])?;
    incr_by(tx, &args[1], by)
}

/// DECRBY key decrement
pub fn decrby(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let by = arg_i64(&args[2])?;
    if by == i64::MIN {
        return Err(CommandError::other(text::DECR_OVERFLOW));
    }
    incr_by(tx, &args[1], -by)
}

/// INCRBYFLOAT key increment
pub fn incrbyfloat(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let by = arg_f64(&args[2])?;
    let old = tx.get_string(&args[1])?;
    let cur = match &old {
        Some(v) => arg_f64(&v.payload)?,
        None => 0.0,
    };
    let new = cur + by;
    if !new.is_finite() {
        return Err(CommandError::other(text::INCR_NAN));
    }
    let current: &[u8] = old.as_ref().map_or(b"0", |v| &v.payload);
    let text = float_sum_text(current, &args[2], new);
    let expire = old.as_ref().map_or(0, |v| v.expire_at);
    tx.put(&args[1], ValueType::String, expire, text.as_bytes());
    tx.notify(notify::STRING, "incrbyfloat", &args[1]);
    Ok(Reply::Bulk(Bytes::from(text)))
}

/// The text INCRBYFLOAT and HINCRBYFLOAT store for `current + increment`, whose
/// `f64` value is `sum`: exact decimal arithmetic for plain decimals (as Redis's long
/// double shows them), else the shortest form of `sum`.
pub fn float_sum_text(current: &[u8], increment: &[u8], sum: f64) -> String {
    decimal_add(current, increment).unwrap_or_else(|| format_human(sum))
}

/// A float the way INCRBYFLOAT stores it: plain decimal, no exponent, no trailing zeros.
fn format_human(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    format!("{v}")
}

/// Adds two plain decimals (`-12.5`) exactly, as Redis's long double arithmetic
/// appears to for human-sized inputs (`1 - 1.1` is `-0.1`, not `-0.10000000000000009`).
/// `None` for exponents or more digits than fit: the caller falls back to `f64`.
fn decimal_add(a: &[u8], b: &[u8]) -> Option<String> {
    fn parse(s: &[u8]) -> Option<(i128, u32)> {
        let s = std::str::from_utf8(s).ok()?;
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())
            || int.len() + frac.len() > 30
        {
            return None;
        }
        let digits: i128 = format!("{int}{frac}").parse().ok()?;
        Some((if neg { -digits } else { digits }, frac.len() as u32))
    }
    let ((x, sx), (y, sy)) = (parse(a)?, parse(b)?);
    let scale = sx.max(sy);
    let sum = x
        .checked_mul(10i128.pow(scale - sx))?
        .checked_add(y.checked_mul(10i128.pow(scale - sy))?)?;
    let div = 10i128.pow(scale);
    let (int, mut frac) = (
        sum.abs() / div,
        format!("{:0width$}", sum.abs() % div, width = scale as usize),
    );
    while frac.ends_with('0') {
        frac.pop();
    }
    let sign = if sum < 0 { "-" } else { "" };
    Some(if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    })
}

fn too_big() -> CommandError {
    CommandError::other(text::STRING_TOO_BIG)
}

/// APPEND key value
pub fn append(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let old = tx.string_ref(&args[1])?;
    let len = old.as_ref().map_or(0, StrRef::len);
    if len + args[2].len() as u64 > tx.live().proto_max_bulk_len() {
        return Err(too_big());
    }
    let len = tx.string_write(&args[1], old, len, &args[2])?;
    tx.notify(notify::STRING, "append", &args[1]);
    Ok(Reply::Int(len as i64))
}

/// STRLEN key
pub fn strlen(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let len = tx.string_ref(&args[1])?.map_or(0, |s| s.len());
    Ok(Reply::Int(len as i64))
}

/// GETRANGE key start end (and SUBSTR)
pub fn getrange(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let (mut start, mut end) = (arg_i64(&args[2])?, arg_i64(&args[3])?);
    let Some(value) = tx.string_ref(&args[1])? else {
        return Ok(Reply::Bulk(Bytes::new()));
    };
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::Bulk(Bytes::new()));
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Ok(Reply::Bulk(Bytes::new()));
    }
    let bytes = tx.string_range(&args[1], &value, start as u64, end as u64 + 1)?;
    Ok(Reply::Bulk(bytes))
}

/// SETRANGE key offset value
pub fn setrange(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let offset = arg_i64(&args[2])?;
    if offset < 0 {
        return Err(CommandError::other(text::OFFSET_OUT_OF_RANGE));
    }
    let patch = &args[3];
    let old = tx.string_ref(&args[1])?;
    let cur_len = old.as_ref().map_or(0, StrRef::len);
    if patch.is_empty() {
        return Ok(Reply::Int(cur_len as i64));
    }
    let offset = offset as u64;
    if offset + patch.len() as u64 > tx.live().proto_max_bulk_len() {
        return Err(too_big());
    }
    let len = tx.string_write(&args[1], old, offset, patch)?;
    tx.notify(notify::STRING, "setrange", &args[1]);
    Ok(Reply::Int(len as i64))
}

/// The string commands and where each runs, for the command table ([`crate::commands::table`]).
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("get", Kind::Single(get)),
    ("set", Kind::Single(set)),
    ("setnx", Kind::Single(setnx)),
    ("setex", Kind::Single(setex)),
    ("psetex", Kind::Single(psetex)),
    ("getset", Kind::Single(getset)),
    ("getdel", Kind::Single(getdel)),
    ("getex", Kind::Single(getex)),
    ("incr", Kind::Single(incr)),
    ("decr", Kind::Single(decr)),
    ("incrby", Kind::Single(incrby)),
    ("decrby", Kind::Single(decrby)),
    ("incrbyfloat", Kind::Single(incrbyfloat)),
    ("append", Kind::Single(append)),
    ("strlen", Kind::Single(strlen)),
    ("getrange", Kind::Single(getrange)),
    ("substr", Kind::Single(getrange)),
    ("setrange", Kind::Single(setrange)),
    ("mget", Kind::Multi(mget, Merge::Gather)),
    ("mset", Kind::Multi(mset, Merge::AllOk)),
    ("msetnx", Kind::Coordinated(Coord::MsetNx, Some(msetnx))),
];

#[cfg(test)]
mod tests {
    use super::format_human;

    #[test]
    fn incrbyfloat_format() {
        assert_eq!(format_human(10.5), "10.5");
        assert_eq!(format_human(3000.0), "3000");
        assert_eq!(format_human(10.1 + 0.2), "10.299999999999999");
        assert_eq!(format_human(-0.0), "0");
        assert_eq!(format_human(1e20), "100000000000000000000");
    }

    #[test]
    fn exact_decimal_sums() {
        use super::decimal_add;
        assert_eq!(decimal_add(b"10.1", b"0.2").as_deref(), Some("10.3"));
        assert_eq!(decimal_add(b"1", b"-1.1").as_deref(), Some("-0.1"));
        assert_eq!(decimal_add(b"1.5", b"-1.5").as_deref(), Some("0"));
        assert_eq!(
            decimal_add(b"17179869184", b"1.5").as_deref(),
            Some("17179869185.5")
        );
        assert_eq!(decimal_add(b"1e3", b"1"), None);
        assert_eq!(decimal_add(b"abc", b"1"), None);
    }
}
